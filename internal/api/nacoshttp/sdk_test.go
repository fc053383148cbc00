package nacoshttp

import (
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nacos-group/nacos-sdk-go/clients"
	"github.com/nacos-group/nacos-sdk-go/clients/naming_client"
	"github.com/nacos-group/nacos-sdk-go/common/constant"
	"github.com/nacos-group/nacos-sdk-go/model"
	"github.com/nacos-group/nacos-sdk-go/vo"

	"github.com/distrod/distrod/internal/hlc"
	"github.com/distrod/distrod/internal/naming"
)

// newSDKClient builds a nacos-sdk-go v1.0.8 naming client against srvURL,
// with its cache and log directories in t.TempDir().
func newSDKClient(t *testing.T, host string, port uint64) naming_client.INamingClient {
	t.Helper()
	cc := constant.ClientConfig{
		TimeoutMs:           3000,
		CacheDir:            t.TempDir(),
		LogDir:              t.TempDir(),
		LogLevel:            "error",
		NotLoadCacheAtStart: true,
		UpdateThreadNum:     2,
	}
	c, err := clients.NewNamingClient(vo.NacosClientParam{
		ClientConfig:  &cc,
		ServerConfigs: []constant.ServerConfig{{Scheme: "http", IpAddr: host, Port: port, ContextPath: "/nacos"}},
	})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// TestSDKv1_RegisterBeatListSubscribeDeregister runs the published Go v1
// client (HTTP) in-process against the handler on a real listener.
func TestSDKv1_RegisterBeatListSubscribeDeregister(t *testing.T) {
	store := naming.NewStore("127.0.0.1:8848", hlc.NewClock("127.0.0.1:8848"))
	h, err := New(Options{Store: store, CacheMillis: 300})
	if err != nil {
		t.Fatal(err)
	}
	var beats atomic.Int64
	var beatErrs sync.Map
	counting := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/nacos/v1/ns/instance/beat" {
			beats.Add(1)
			rec := &statusRecorder{ResponseWriter: w, status: 200}
			h.ServeHTTP(rec, r)
			if rec.status != 200 {
				beatErrs.Store(rec.status, true)
			}
			return
		}
		h.ServeHTTP(w, r)
	})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	// The v1 client has no Close: its pollers run until the process exits.
	// The server therefore stays up for the rest of the test binary, so
	// they keep getting answers instead of logging connection errors.
	srv := &http.Server{Handler: counting}
	go func() { _ = srv.Serve(ln) }()
	port := uint64(ln.Addr().(*net.TCPAddr).Port)

	cli := newSDKClient(t, "127.0.0.1", port)
	other := newSDKClient(t, "127.0.0.1", port)
	svc := naming.NewServiceKey("", "", "sdk.demo")

	// The metadata carries characters a form decoder would mangle, and a
	// short beat interval (the client reads it as nanoseconds for its first
	// period, then takes the server's clientBeatInterval in ms).
	md := map[string]string{
		"version":                "1.0 beta+1",
		"query":                  "a=1&b=50%",
		naming.MetaBeatInterval:  "300",
		naming.MetaBeatTimeout:   "3000",
		naming.MetaDeleteTimeout: "6000",
	}
	ok, err := cli.RegisterInstance(vo.RegisterInstanceParam{
		Ip: "10.20.0.1", Port: 7001, Weight: 2.5, Enable: true, Healthy: true,
		Metadata: md, ServiceName: "sdk.demo", Ephemeral: true,
	})
	if err != nil || !ok {
		t.Fatalf("register: %v %v", ok, err)
	}
	in, clientID, found := store.FindInstance(svc, "10.20.0.1", 7001, "")
	if !found || clientID != naming.IPPortClientID("10.20.0.1", 7001) {
		t.Fatalf("instance not stored under its ip:port client: %v %q", found, clientID)
	}
	if in.Weight != 2.5 || in.Metadata["version"] != "1.0 beta+1" || in.Metadata["query"] != "a=1&b=50%" || in.ClusterName != "DEFAULT" {
		t.Fatalf("stored instance %+v", in)
	}

	// Beats arrive every ~300 ms and keep the instance healthy while the
	// server's expiry timer runs with a 3 s beat timeout.
	owns := func(string) bool { return true }
	eventually(t, 10*time.Second, "4 beats", func() bool {
		store.ExpireCheck(time.Now().UnixMilli(), owns)
		return beats.Load() >= 4
	})
	beatErrs.Range(func(k, _ any) bool { t.Errorf("beat answered HTTP %v", k); return true })
	if in, _, _ := store.FindInstance(svc, "10.20.0.1", 7001, ""); !in.Healthy {
		t.Fatal("instance unhealthy although beats arrive")
	}
	// The beats carried the raw metadata: it must still be intact.
	if in, _, _ := store.FindInstance(svc, "10.20.0.1", 7001, ""); in.Metadata["query"] != "a=1&b=50%" {
		t.Fatalf("metadata changed by beats: %+v", in.Metadata)
	}

	// Query: SelectAllInstances and GetService go through /instance/list
	// and need the grouped name.
	hosts, err := cli.SelectAllInstances(vo.SelectAllInstancesParam{ServiceName: "sdk.demo"})
	if err != nil || len(hosts) != 1 || hosts[0].Ip != "10.20.0.1" || hosts[0].Port != 7001 || hosts[0].Weight != 2.5 || !hosts[0].Enable {
		t.Fatalf("SelectAllInstances: %+v %v", hosts, err)
	}
	got, err := cli.GetService(vo.GetServiceParam{ServiceName: "sdk.demo"})
	if err != nil || got.Name != "DEFAULT_GROUP@@sdk.demo" || len(got.Hosts) != 1 {
		t.Fatalf("GetService: %+v %v", got, err)
	}
	list, err := cli.GetAllServicesInfo(vo.GetAllServiceInfoParam{PageNo: 1, PageSize: 10})
	if err != nil || list.Count != 1 || len(list.Doms) != 1 || list.Doms[0] != "sdk.demo" {
		t.Fatalf("GetAllServicesInfo: %+v %v", list, err)
	}

	// Subscribe: the callback fires (by polling) after another client
	// registers a second instance.
	var mu sync.Mutex
	var seen [][]model.SubscribeService
	err = cli.Subscribe(&vo.SubscribeParam{ServiceName: "sdk.demo", SubscribeCallback: func(s []model.SubscribeService, err error) {
		mu.Lock()
		defer mu.Unlock()
		if err == nil {
			seen = append(seen, s)
		}
	}})
	if err != nil {
		t.Fatalf("subscribe: %v", err)
	}
	if ok, err := other.RegisterInstance(vo.RegisterInstanceParam{
		Ip: "10.20.0.2", Port: 7002, Weight: 1, Enable: true, Healthy: true, ServiceName: "sdk.demo", Ephemeral: true,
	}); err != nil || !ok {
		t.Fatalf("second register: %v %v", ok, err)
	}
	eventually(t, 15*time.Second, "subscribe callback with 2 hosts", func() bool {
		mu.Lock()
		defer mu.Unlock()
		return len(seen) > 0 && len(seen[len(seen)-1]) == 2
	})

	// Deregister: gone from the store, and its beats stop re-creating it.
	if ok, err := cli.DeregisterInstance(vo.DeregisterInstanceParam{Ip: "10.20.0.1", Port: 7001, ServiceName: "sdk.demo", Ephemeral: true}); err != nil || !ok {
		t.Fatalf("deregister: %v %v", ok, err)
	}
	if _, _, found := store.FindInstance(svc, "10.20.0.1", 7001, ""); found {
		t.Fatal("instance still present after deregister")
	}
	if ok, err := other.DeregisterInstance(vo.DeregisterInstanceParam{Ip: "10.20.0.2", Port: 7002, ServiceName: "sdk.demo", Ephemeral: true}); err != nil || !ok {
		t.Fatalf("second deregister: %v %v", ok, err)
	}
	if st := store.Stats(); st.Instances != 0 {
		t.Fatalf("instances left: %+v", st)
	}
}
