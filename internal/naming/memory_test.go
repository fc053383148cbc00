package naming

import (
	"fmt"
	"runtime"
	"strconv"
	"testing"

	"github.com/distrod/distrod/internal/hlc"
)

// storeShapes are ways clients hold a registry's instances: HTTP (v1)
// clients, one client per endpoint and one instance each; SDK
// connections registering one instance each; and batch registrations of
// ten instances per service over a few connections (distrod-bench scale).
var storeShapes = []struct {
	name string
	load func(s *Store, n int) error
}{
	{"http-1-per-client", func(s *Store, n int) error {
		for i := range n {
			ip := seqIP(i)
			svc := NewServiceKey("", "", "svc-"+strconv.Itoa(i/100))
			in := Instance{IP: ip, Port: 8080, Weight: 1, Healthy: true, Enabled: true, Ephemeral: true, Metadata: map[string]string{"version": "1"}}
			if err := s.Publish(1000, IPPortClientID(ip, 8080), svc, Publication{Instances: []Instance{in}}); err != nil {
				return err
			}
		}
		return nil
	}},
	{"grpc-1-per-connection", func(s *Store, n int) error {
		for i := range n {
			svc := NewServiceKey("", "", "svc-"+strconv.Itoa(i/100))
			in := Instance{IP: seqIP(i), Port: 8080, Weight: 1, Healthy: true, Enabled: true, Ephemeral: true, Metadata: map[string]string{"version": "1"}}
			if err := s.Publish(1000, "conn-"+strconv.Itoa(i), svc, Publication{Instances: []Instance{in}}); err != nil {
				return err
			}
		}
		return nil
	}},
	{"grpc-batch-10-over-32-connections", func(s *Store, n int) error {
		for i := 0; i < n; i += 10 {
			ins := make([]Instance, 10)
			for j := range ins {
				ins[j] = Instance{IP: seqIP(i + j), Port: 10000 + j, Weight: 1, Healthy: true, Enabled: true, Ephemeral: true, Metadata: map[string]string{"bench": "1"}}
			}
			svc := NewServiceKey("", "", "bench-scale-"+strconv.Itoa(i/10))
			if err := s.Publish(1000, "conn-"+strconv.Itoa(i/10%32), svc, Publication{Batch: true, Instances: ins}); err != nil {
				return err
			}
		}
		return nil
	}},
}

func seqIP(i int) string {
	return fmt.Sprintf("10.%d.%d.%d", i>>16&255, i>>8&255, i&255)
}

func liveHeap() uint64 {
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return m.HeapAlloc
}

// BenchmarkStore_MemoryPerInstance reports the live heap one Store holds per
// instance (B/instance) for 100k instances in each shape: the store's part
// of a node's memory (the Distro index, connections and caches come on
// top).
func BenchmarkStore_MemoryPerInstance(b *testing.B) {
	const n = 100000
	for _, sh := range storeShapes {
		b.Run(sh.name, func(b *testing.B) {
			var per float64
			for range b.N {
				base := liveHeap()
				s := NewStore("n1:8848", hlc.NewClock("n1:8848"))
				if err := sh.load(s, n); err != nil {
					b.Fatal(err)
				}
				per = float64(liveHeap()-base) / n
				runtime.KeepAlive(s)
			}
			b.ReportMetric(per, "B/instance")
		})
	}
}

func TestStore_ShapesLoad(t *testing.T) {
	for _, sh := range storeShapes {
		s := NewStore("n1:8848", hlc.NewClock("n1:8848"))
		if err := sh.load(s, 1000); err != nil {
			t.Fatalf("%s: %v", sh.name, err)
		}
		if st := s.Stats(); st.Instances != 1000 {
			t.Fatalf("%s: %d instances, want 1000", sh.name, st.Instances)
		}
	}
}

// BenchmarkStore_ApplySnapshot applies peer records as a joining node does
// (decode, validate, index): 1,000 publications of 10 instances each per
// iteration into a fresh store; ns/op is per record.
func BenchmarkStore_ApplySnapshot(b *testing.B) {
	src := NewStore("n1:8848", hlc.NewClock("n1:8848"))
	if err := storeShapes[2].load(src, 10000); err != nil {
		b.Fatal(err)
	}
	metas := src.Metas()
	recs := make([]Record, 0, len(metas))
	for _, m := range metas {
		r, ok := src.Get(m.Key)
		if !ok {
			b.Fatalf("no record %s", m.Key)
		}
		recs = append(recs, r)
	}
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; {
		dst := NewStore("n2:8848", hlc.NewClock("n2:8848"))
		for _, r := range recs {
			if i == b.N {
				break
			}
			if _, err := dst.Apply(2000, r); err != nil {
				b.Fatal(err)
			}
			i++
		}
	}
}
