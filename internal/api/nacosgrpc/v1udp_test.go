package nacosgrpc

import (
	"encoding/json"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/distrod/distrod/internal/naming"
	v1clients "github.com/nacos-group/nacos-sdk-go/clients"
	v1constant "github.com/nacos-group/nacos-sdk-go/common/constant"
	v1model "github.com/nacos-group/nacos-sdk-go/model"
	v1vo "github.com/nacos-group/nacos-sdk-go/vo"
)

// v1ListHandler is a test-only stand-in for the HTTP API's
// /nacos/v1/ns/instance/list: it registers the UDP subscription and answers
// the serviceInfo with the grouped name v1 clients key their cache by.
func v1ListHandler(e *testEnv) http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("/nacos/v1/ns/instance/list", func(w http.ResponseWriter, r *http.Request) {
		q := r.URL.Query()
		svc, err := naming.ParseServiceKey(q.Get("namespaceId"), q.Get("serviceName"), q.Get("groupName"))
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		clusters := q.Get("clusters")
		if port, _ := strconv.Atoi(q.Get("udpPort")); port > 0 {
			ip := q.Get("clientIP")
			if ip == "" {
				ip, _, _ = net.SplitHostPort(r.RemoteAddr)
			}
			if a, err := netip.ParseAddr(ip); err == nil {
				e.eng.SubscribeUDP(svc, clusters, netip.AddrPortFrom(a, uint16(port)), r.UserAgent())
			}
		}
		healthyOnly, _ := strconv.ParseBool(q.Get("healthyOnly"))
		json.NewEncoder(w).Encode(e.eng.Builder().Build(svc, clusters, healthyOnly).Grouped())
	})
	return mux
}

func TestV1Client_ReceivesUDPPush(t *testing.T) {
	e := startEnv(t, nil)
	hs := httptest.NewServer(v1ListHandler(e))
	t.Cleanup(hs.Close)
	port, _ := strconv.Atoi(hs.URL[len("http://127.0.0.1:"):])
	// The v1 client cannot be closed: its goroutines write cache and log
	// files after the test, so it gets directories that outlive it.
	dir := sdkLogDir(t)
	v1, err := v1clients.NewNamingClient(v1vo.NacosClientParam{
		ClientConfig: &v1constant.ClientConfig{TimeoutMs: 5000, NotLoadCacheAtStart: true, UpdateCacheWhenEmpty: true,
			CacheDir: dir, LogDir: dir, LogLevel: "error", BeatInterval: 5000},
		ServerConfigs: []v1constant.ServerConfig{{IpAddr: "127.0.0.1", Port: uint64(port), ContextPath: "/nacos"}},
	})
	if err != nil {
		t.Fatal(err)
	}
	svc := naming.NewServiceKey("", "", "legacy")
	now := func() int64 { return time.Now().UnixMilli() }
	if err := e.store.Publish(now(), naming.IPPortClientID("10.6.0.1", 80), svc,
		naming.Publication{Instances: []naming.Instance{{IP: "10.6.0.1", Port: 80, Weight: 1, Healthy: true, Enabled: true, Ephemeral: true}}}); err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	var calls [][]v1model.SubscribeService
	err = v1.Subscribe(&v1vo.SubscribeParam{ServiceName: "legacy", SubscribeCallback: func(s []v1model.SubscribeService, err error) {
		mu.Lock()
		calls = append(calls, s)
		mu.Unlock()
	}})
	if err != nil {
		t.Fatal(err)
	}
	waitFor(t, 20*time.Second, "UDP subscription", func() bool {
		subs := e.eng.Subscribers(svc)
		return len(subs) == 1 && subs[0].UDP.IsValid()
	})
	sawHosts := func(n int) func() bool {
		return func() bool {
			mu.Lock()
			defer mu.Unlock()
			return len(calls) > 0 && len(calls[len(calls)-1]) == n
		}
	}
	// A change made by another client (here straight in the store, as a
	// replicated record would be) reaches the v1 client by UDP long before
	// its 10 s poll.
	if err := e.store.Publish(now(), naming.IPPortClientID("10.6.0.2", 80), svc,
		naming.Publication{Instances: []naming.Instance{{IP: "10.6.0.2", Port: 80, Weight: 1, Healthy: true, Enabled: true, Ephemeral: true}}}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 20*time.Second, "v1 callback after UDP push", sawHosts(2))
	waitFor(t, 20*time.Second, "UDP ack counted", func() bool {
		return e.counter("distrod_push_sent_total", map[string]string{"transport": "udp"}) >= 1
	})
	// A change made by a v2 client over gRPC too.
	sdk := e.newSDK("")
	if _, err := sdk.RegisterInstance(reg("10.6.0.3", 80, "legacy", 1)); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 20*time.Second, "v1 callback after a gRPC registration", sawHosts(3))
	mu.Lock()
	n := len(calls)
	mu.Unlock()
	if n > 4 {
		t.Fatalf("%d callbacks for 3 changes", n)
	}
}
