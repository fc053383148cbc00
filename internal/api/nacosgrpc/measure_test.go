package nacosgrpc

import (
	"context"
	"os"
	"runtime"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/distrod/distrod/internal/bench"
	"github.com/nacos-group/nacos-sdk-go/v2/model"
	"github.com/nacos-group/nacos-sdk-go/v2/vo"
)

// TestMeasure_PushLatencyWithSDK logs (does not assert) the time from a
// registration's answer to the subscriber's callback, with real SDKs.
func TestMeasure_PushLatencyWithSDK(t *testing.T) {
	e := startEnv(t, nil)
	pub, sub := e.newSDK(""), e.newSDK("")
	got := make(chan time.Time, 100)
	err := sub.Subscribe(&vo.SubscribeParam{ServiceName: "lat", SubscribeCallback: func([]model.Instance, error) {
		got <- time.Now()
	}})
	if err != nil {
		t.Fatal(err)
	}
	var lat []time.Duration
	for i := range 30 {
		for len(got) > 0 {
			<-got
		}
		start := time.Now()
		if _, err := pub.RegisterInstance(reg("10.7.0.1", uint64(1000+i), "lat", 1)); err != nil {
			t.Fatal(err)
		}
		select {
		case at := <-got:
			lat = append(lat, at.Sub(start))
		case <-time.After(5 * time.Second):
			t.Fatalf("no callback for change %d", i)
		}
	}
	sort.Slice(lat, func(i, j int) bool { return lat[i] < lat[j] })
	t.Logf("push latency register-call->callback over %d changes (push delay 5ms, race=%v): p50=%v p90=%v max=%v",
		len(lat), raceEnabled, lat[len(lat)/2], lat[len(lat)*9/10], lat[len(lat)-1])
}

// TestMeasure_ConnectionCapacity logs how many SDK-like raw connections
// (handshake, bi-stream, one subscription each) one server holds, and the
// process RSS. DISTROD_MEASURE_CONNS sets the count (default 200).
func TestMeasure_ConnectionCapacity(t *testing.T) {
	n := 200
	if v, err := strconv.Atoi(os.Getenv("DISTROD_MEASURE_CONNS")); err == nil && v > 0 {
		n = v
	}
	e := startEnv(t, nil)
	runtime.GC()
	rss0 := rssKiB()
	target := "127.0.0.1:" + strconv.Itoa(e.port-bench.GRPCOffset)
	conns := make([]*bench.GRPCConn, 0, n)
	defer func() {
		for _, c := range conns {
			c.Close()
		}
	}()
	start := time.Now()
	for i := range n {
		c, err := bench.DialGRPC(context.Background(), target, bench.GRPCOptions{SetupWait: -1, HealthInterval: -1})
		if err != nil {
			t.Fatalf("connection %d: %v", i, err)
		}
		conns = append(conns, c)
		// No 100 ms setup wait as the SDK has: retry until registered.
		waitFor(t, 20*time.Second, "subscribe", func() bool {
			_, err := c.Subscribe(context.Background(), "public", "cap")
			return err == nil
		})
	}
	waitFor(t, 10*time.Second, "all registered", func() bool { return e.srv.Connections() == n })
	runtime.GC()
	rss1 := rssKiB()
	t.Logf("%d SDK-like connections (1 subscription each) registered in %v; Connections()=%d; RSS %d -> %d KiB (+%.1f KiB/conn, client and server in one process, race=%v)",
		n, time.Since(start).Round(time.Millisecond), e.srv.Connections(), rss0, rss1, float64(rss1-rss0)/float64(n), raceEnabled)
}

func rssKiB() int64 {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0
	}
	for _, l := range strings.Split(string(b), "\n") {
		if strings.HasPrefix(l, "VmRSS:") {
			f := strings.Fields(l)
			v, _ := strconv.ParseInt(f[1], 10, 64)
			return v
		}
	}
	return 0
}
