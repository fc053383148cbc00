package naming

import (
	"strconv"
	"testing"
)

// benchBeatStore holds n IP-port clients over n/100 services, registered
// at time 0 and owned by the store.
func benchBeatStore(b *testing.B, n int) (*Store, []string, []string, []ServiceKey) {
	s := newTestStore("n1:1")
	ids, ips := make([]string, n), make([]string, n)
	svcs := make([]ServiceKey, n)
	for i := range n {
		ips[i] = "10." + strconv.Itoa(i>>16&255) + "." + strconv.Itoa(i>>8&255) + "." + strconv.Itoa(i&255)
		ids[i] = IPPortClientID(ips[i], 80)
		svcs[i] = NewServiceKey("", "", "svc-"+strconv.Itoa(i%(n/100)))
		if err := s.Publish(0, ids[i], svcs[i], Publication{Instances: []Instance{inst(ips[i], 80)}}); err != nil {
			b.Fatal(err)
		}
	}
	return s, ids, ips, svcs
}

// BenchmarkExpiry_100kBeating measures one expiry check per second of
// 100,000 HTTP clients that each beat every 5 s (the beats themselves are
// not timed): ExpireCheck judges all of them, ExpireDue those due.
func BenchmarkExpiry_100kBeating(b *testing.B) {
	for _, mode := range []string{"ExpireCheck", "ExpireDue"} {
		b.Run(mode, func(b *testing.B) {
			const n = 100000
			s, ids, ips, svcs := benchBeatStore(b, n)
			check := s.ExpireCheck
			if mode == "ExpireDue" {
				check = s.ExpireDue
			}
			now := int64(0)
			step := func() {
				now += 1000
				sec := now / 1000
				for i := int(sec % 5); i < n; i += 5 {
					s.Beat(now, ids[i], svcs[i], ips[i], 80)
				}
			}
			// Reach the steady state (refreshes every 10 s) first.
			for range 20 {
				step()
				check(now, ownsAll)
			}
			b.ResetTimer()
			for range b.N {
				b.StopTimer()
				step()
				b.StartTimer()
				check(now, ownsAll)
			}
		})
	}
}

// BenchmarkExpiry_100kTenthSilent measures the checks of the 30 s in
// which a tenth of 100,000 beating HTTP clients (silent since the start)
// turn unhealthy and are removed, per second of it.
func BenchmarkExpiry_100kTenthSilent(b *testing.B) {
	for _, mode := range []string{"ExpireCheck", "ExpireDue"} {
		b.Run(mode, func(b *testing.B) {
			const n = 100000
			for range b.N {
				b.StopTimer()
				s, ids, ips, svcs := benchBeatStore(b, n)
				check := s.ExpireCheck
				if mode == "ExpireDue" {
					check = s.ExpireDue
				}
				for now := int64(1000); now <= 31000; now += 1000 {
					for i := int(now / 1000 % 5); i < n; i += 5 {
						if i%10 != 0 {
							s.Beat(now, ids[i], svcs[i], ips[i], 80)
						}
					}
					b.StartTimer()
					check(now, ownsAll)
					b.StopTimer()
				}
				if v := s.Stats(); v.Instances != n-n/10 {
					b.Fatalf("%d instances left, want %d", v.Instances, n-n/10)
				}
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/31/1e6, "ms/check")
		})
	}
}
