package nacosgrpc

import (
	"fmt"
	"os"
	"os/exec"
	"slices"
	"sort"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/distrod/distrod/internal/naming"
	"github.com/nacos-group/nacos-sdk-go/v2/model"
	"github.com/nacos-group/nacos-sdk-go/v2/vo"
)

// callbackLog records what a subscriber callback saw.
type callbackLog struct {
	mu    sync.Mutex
	calls [][]string
	at    []time.Time
}

func (l *callbackLog) fn(services []model.Instance, err error) {
	var hs []string
	for _, s := range services {
		hs = append(hs, fmt.Sprintf("%s:%d/w%g", s.Ip, s.Port, s.Weight))
	}
	sort.Strings(hs)
	l.mu.Lock()
	l.calls = append(l.calls, hs)
	l.at = append(l.at, time.Now())
	l.mu.Unlock()
}

// saw reports whether some callback delivered exactly want.
func (l *callbackLog) saw(want ...string) bool {
	sort.Strings(want)
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, c := range l.calls {
		if slices.Equal(c, want) {
			return true
		}
	}
	return false
}

func (l *callbackLog) last() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	if len(l.calls) == 0 {
		return nil
	}
	return l.calls[len(l.calls)-1]
}

func reg(ip string, port uint64, svc string, weight float64) vo.RegisterInstanceParam {
	return vo.RegisterInstanceParam{Ip: ip, Port: port, ServiceName: svc, Weight: weight, Enable: true, Healthy: true,
		Ephemeral: true, Metadata: map[string]string{"k": "v"}}
}

func TestSDK_RegisterSubscribeAndPushAddChangeRemove(t *testing.T) {
	e := startEnv(t, nil)
	svc := naming.NewServiceKey("", "", "orders")
	pub1, pub2, sub := e.newSDK(""), e.newSDK(""), e.newSDK("")

	if ok, err := pub1.RegisterInstance(reg("10.0.0.1", 8080, "orders", 2.5)); err != nil || !ok {
		t.Fatalf("RegisterInstance = %v, %v", ok, err)
	}
	waitFor(t, 20*time.Second, "registration in store", func() bool { return len(e.hosts(svc)) == 1 })
	in, _, found := e.store.FindInstance(svc, "10.0.0.1", 8080, "")
	if !found || in.Weight != 2.5 || !in.Enabled || !in.Healthy || in.ClusterName != naming.DefaultCluster || in.Metadata["k"] != "v" {
		t.Fatalf("stored instance %+v", in)
	}

	var log callbackLog
	if err := sub.Subscribe(&vo.SubscribeParam{ServiceName: "orders", SubscribeCallback: log.fn}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 20*time.Second, "initial callback", func() bool { return log.saw("10.0.0.1:8080/w2.5") })

	// Add.
	if _, err := pub2.RegisterInstance(reg("10.0.0.2", 8080, "orders", 1)); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 20*time.Second, "push for an add", func() bool { return log.saw("10.0.0.1:8080/w2.5", "10.0.0.2:8080/w1") })
	// Change (an update is a re-register on the same connection).
	if _, err := pub2.UpdateInstance(vo.UpdateInstanceParam{Ip: "10.0.0.2", Port: 8080, ServiceName: "orders", Weight: 3,
		Enable: true, Healthy: true, Ephemeral: true}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 20*time.Second, "push for a change", func() bool { return log.saw("10.0.0.1:8080/w2.5", "10.0.0.2:8080/w3") })
	// Removal.
	if _, err := pub2.DeregisterInstance(vo.DeregisterInstanceParam{Ip: "10.0.0.2", Port: 8080, ServiceName: "orders", Ephemeral: true}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 20*time.Second, "push for a removal", func() bool { return slices.Equal(log.last(), []string{"10.0.0.1:8080/w2.5"}) })

	// Reads are served from the pushed cache and agree with the store.
	svcInfo, err := sub.GetService(vo.GetServiceParam{ServiceName: "orders"})
	if err != nil || len(svcInfo.Hosts) != 1 || svcInfo.Name != "orders" || svcInfo.GroupName != naming.DefaultGroup {
		t.Fatalf("GetService = %+v, %v", svcInfo, err)
	}
	healthy, err := sub.SelectInstances(vo.SelectInstancesParam{ServiceName: "orders", HealthyOnly: true})
	if err != nil || len(healthy) != 1 || healthy[0].InstanceId != "10.0.0.1#8080#DEFAULT#DEFAULT_GROUP@@orders" ||
		healthy[0].ServiceName != "DEFAULT_GROUP@@orders" {
		t.Fatalf("SelectInstances = %+v, %v", healthy, err)
	}
	one, err := sub.SelectOneHealthyInstance(vo.SelectOneHealthInstanceParam{ServiceName: "orders"})
	if err != nil || one.Ip != "10.0.0.1" {
		t.Fatalf("SelectOneHealthyInstance = %+v, %v", one, err)
	}

	// The last instance goes away with its client: the subscriber sees an
	// empty list (UpdateCacheWhenEmpty).
	pub1.CloseClient()
	waitFor(t, 20*time.Second, "store empty after CloseClient", func() bool { return len(e.hosts(svc)) == 0 })
	waitFor(t, 20*time.Second, "push of the empty list", func() bool { return len(log.last()) == 0 })
}

func TestSDK_QueryWithoutSubscriptionAndDisabledHidden(t *testing.T) {
	e := startEnv(t, nil)
	pub, reader := e.newSDK(""), e.newSDK("")
	// Go zero values arrive as sent: enabled:false is stored and hidden.
	if _, err := pub.RegisterInstance(vo.RegisterInstanceParam{Ip: "10.0.0.9", Port: 1, ServiceName: "hidden", Ephemeral: true}); err != nil {
		t.Fatal(err)
	}
	svc := naming.NewServiceKey("", "", "hidden")
	waitFor(t, 20*time.Second, "registration", func() bool {
		_, _, ok := e.store.FindInstance(svc, "10.0.0.9", 1, "")
		return ok
	})
	in, _, _ := e.store.FindInstance(svc, "10.0.0.9", 1, "")
	if in.Enabled || in.Healthy || in.Weight != 0 {
		t.Fatalf("zero values not stored as sent: %+v", in)
	}
	all, err := reader.SelectAllInstances(vo.SelectAllInstancesParam{ServiceName: "hidden"})
	if err != nil || len(all) != 0 {
		t.Fatalf("disabled instance visible: %+v, %v", all, err)
	}
}

// TestSDK_BatchRegisterReplacesTheConnectionsSet: a batch replaces the
// connection's registration for the service, and so does a single
// register; a deregister removes it whatever ip:port it names.
//
// nacos-sdk-go v2.3.2 may replay a stale copy of its redo cache right after
// it connects (its connected event races with the first calls), which
// undoes a later call: each step re-issues its call until the server holds
// its result, as a user repeating the call would.
func TestSDK_BatchRegisterReplacesTheConnectionsSet(t *testing.T) {
	e := startEnv(t, nil)
	c := e.newSDK("")
	svc := naming.NewServiceKey("", "g1", "batch")
	step := func(what string, call func() error, done func() bool) {
		t.Helper()
		deadline := time.Now().Add(20 * time.Second)
		for attempt := 0; ; attempt++ {
			if err := call(); err != nil {
				t.Fatalf("%s: %v", what, err)
			}
			retry := time.Now().Add(time.Second)
			for !done() {
				if time.Now().After(deadline) {
					t.Fatalf("timed out waiting for %s (%d attempts): hosts %v", what, attempt+1, e.hosts(svc))
				}
				if time.Now().After(retry) {
					break
				}
				time.Sleep(5 * time.Millisecond)
			}
			if done() {
				return
			}
		}
	}
	batch := func(ports ...uint64) func() error {
		return func() error {
			var ins []vo.RegisterInstanceParam
			for _, p := range ports {
				ins = append(ins, reg("10.1.0.1", p, "batch", 1))
			}
			if ok, err := c.BatchRegisterInstance(vo.BatchRegisterInstanceParam{ServiceName: "batch", GroupName: "g1", Instances: ins}); err != nil || !ok {
				return fmt.Errorf("BatchRegisterInstance = %v, %w", ok, err)
			}
			return nil
		}
	}
	step("batch of 3", batch(1, 2, 3), func() bool { return len(e.hosts(svc)) == 3 })
	step("batch replaced", batch(4), func() bool { return slices.Equal(e.hosts(svc), []string{"10.1.0.1:4"}) })
	// A single register replaces the batch too (one registration per
	// connection and service).
	step("register replaced batch", func() error {
		_, err := c.RegisterInstance(vo.RegisterInstanceParam{Ip: "10.1.0.2", Port: 9, ServiceName: "batch", GroupName: "g1",
			Weight: 1, Enable: true, Healthy: true, Ephemeral: true})
		return err
	}, func() bool { return slices.Equal(e.hosts(svc), []string{"10.1.0.2:9"}) })
	// Deregister removes the registration whatever ip:port it names.
	step("deregistered", func() error {
		_, err := c.DeregisterInstance(vo.DeregisterInstanceParam{Ip: "1.2.3.4", Port: 5, ServiceName: "batch", GroupName: "g1", Ephemeral: true})
		return err
	}, func() bool { return len(e.hosts(svc)) == 0 })
}

func TestSDK_ListServicesPagesAndIsolatesNamespaces(t *testing.T) {
	e := startEnv(t, nil)
	pub, dev := e.newSDK(""), e.newSDK("dev")
	for i := range 5 {
		if _, err := pub.RegisterInstance(reg("10.2.0.1", uint64(100+i), "svc"+strconv.Itoa(i), 1)); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := dev.RegisterInstance(reg("10.2.0.2", 1, "devonly", 1)); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 20*time.Second, "registrations", func() bool {
		return len(e.store.Services("public", nil)) == 5 && len(e.store.Services("dev", nil)) == 1
	})
	page, err := pub.GetAllServicesInfo(vo.GetAllServiceInfoParam{PageNo: 2, PageSize: 2})
	if err != nil || page.Count != 5 || !slices.Equal(page.Doms, []string{"svc2", "svc3"}) {
		t.Fatalf("page 2 = %+v, %v", page, err)
	}
	devList, err := dev.GetAllServicesInfo(vo.GetAllServiceInfoParam{NameSpace: "dev", PageNo: 1, PageSize: 10})
	if err != nil || devList.Count != 1 || !slices.Equal(devList.Doms, []string{"devonly"}) {
		t.Fatalf("dev list = %+v, %v", devList, err)
	}
	// The dev client does not see public's services and vice versa.
	got, err := dev.SelectAllInstances(vo.SelectAllInstancesParam{ServiceName: "svc0"})
	if err != nil || len(got) != 0 {
		t.Fatalf("namespace leak: %+v, %v", got, err)
	}
	got, err = pub.SelectAllInstances(vo.SelectAllInstancesParam{ServiceName: "devonly"})
	if err != nil || len(got) != 0 {
		t.Fatalf("namespace leak: %+v, %v", got, err)
	}
}

func TestSDK_CloseClientRemovesOnlyItsInstances(t *testing.T) {
	e := startEnv(t, nil)
	a, b := e.newSDK(""), e.newSDK("")
	svc := naming.NewServiceKey("", "", "shared")
	// Both clients register the same ip:port: closing one must not remove
	// the other's registration.
	for _, c := range []interface {
		RegisterInstance(vo.RegisterInstanceParam) (bool, error)
	}{a, b} {
		if _, err := c.RegisterInstance(reg("10.3.0.1", 80, "shared", 1)); err != nil {
			t.Fatal(err)
		}
	}
	waitFor(t, 20*time.Second, "two connection clients", func() bool { return e.store.Stats().ConnectionClients == 2 })
	a.CloseClient()
	waitFor(t, 20*time.Second, "one connection client", func() bool { return e.store.Stats().ConnectionClients == 1 })
	if !slices.Equal(e.hosts(svc), []string{"10.3.0.1:80"}) {
		t.Fatalf("hosts after close = %v", e.hosts(svc))
	}
	waitFor(t, 20*time.Second, "connection count", func() bool { return e.srv.Connections() == 1 })
}

func TestSDK_ReconnectAfterRestartRedoesRegistrationsAndSubscriptions(t *testing.T) {
	// nacos-sdk-go v2.3.2 races with itself on every reconnect
	// (RpcClient.reconnect writes currentConnection, rpc_client.go:448,
	// while the event goroutine reads it, :486). Under -race this test
	// therefore runs in a child test binary built without it.
	if raceEnabled {
		runWithoutRace(t)
		return
	}
	e := startEnv(t, nil)
	pub, sub := e.newSDK(""), e.newSDK("")
	svc := naming.NewServiceKey("", "", "redo")
	if _, err := pub.RegisterInstance(reg("10.4.0.1", 80, "redo", 1)); err != nil {
		t.Fatal(err)
	}
	var log callbackLog
	if err := sub.Subscribe(&vo.SubscribeParam{ServiceName: "redo", SubscribeCallback: log.fn}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 20*time.Second, "subscribed", func() bool { return log.saw("10.4.0.1:80/w1") })

	e.restart()
	// The old connections' data went with them; redo brings it back on new
	// connections.
	waitFor(t, 15*time.Second, "redo re-registered", func() bool {
		return e.srv.Connections() == 2 && slices.Equal(e.hosts(svc), []string{"10.4.0.1:80"})
	})
	waitFor(t, 10*time.Second, "redo re-subscribed", func() bool { return len(e.eng.Subscribers(svc)) == 1 })
	// Pushes flow on the new connection.
	other := e.newSDK("")
	if _, err := other.RegisterInstance(reg("10.4.0.2", 80, "redo", 1)); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 20*time.Second, "push after reconnect", func() bool { return log.saw("10.4.0.1:80/w1", "10.4.0.2:80/w1") })
}

// runWithoutRace runs the calling test in a child "go test" without -race.
func runWithoutRace(t *testing.T) {
	t.Helper()
	if os.Getenv("DISTROD_NORACE_CHILD") != "" {
		t.Fatal("child process was built with -race")
	}
	goBin, err := exec.LookPath("go")
	if err != nil {
		t.Skipf("SDK reconnect races with itself and no go tool to run it without -race: %v", err)
	}
	cmd := exec.Command(goBin, "test", "-count=1", "-run", "^"+t.Name()+"$", ".")
	cmd.Env = append(os.Environ(), "DISTROD_NORACE_CHILD=1")
	out, err := cmd.CombinedOutput()
	t.Logf("child go test without -race:\n%s", out)
	if err != nil {
		t.Fatalf("child test failed: %v", err)
	}
}
