package server

import (
	"encoding/json"
	"fmt"
	"log/slog"
	"net"
	"regexp"
	"strconv"
	"testing"
	"time"

	v1clients "github.com/nacos-group/nacos-sdk-go/clients"
	v1constant "github.com/nacos-group/nacos-sdk-go/common/constant"
	"github.com/nacos-group/nacos-sdk-go/v2/clients"
	"github.com/nacos-group/nacos-sdk-go/v2/common/constant"
	"github.com/nacos-group/nacos-sdk-go/v2/vo"
	v1vo "github.com/nacos-group/nacos-sdk-go/vo"

	"github.com/distrod/distrod/internal/config"
	"github.com/distrod/distrod/internal/testutil"
)

// listHosts returns the hosts of service svc on base, by "ip:port".
func listHosts(t *testing.T, base, svc string) map[string]struct {
	Healthy   bool `json:"healthy"`
	Ephemeral bool `json:"ephemeral"`
} {
	t.Helper()
	code, b := body(t, "GET", base+"/nacos/v1/ns/instance/list?serviceName="+svc)
	if code != 200 {
		t.Fatalf("list: %d %s", code, b)
	}
	var si struct {
		Hosts []struct {
			IP        string `json:"ip"`
			Port      int    `json:"port"`
			Healthy   bool   `json:"healthy"`
			Ephemeral bool   `json:"ephemeral"`
		} `json:"hosts"`
	}
	if err := json.Unmarshal([]byte(b), &si); err != nil {
		t.Fatal(err)
	}
	out := map[string]struct {
		Healthy   bool `json:"healthy"`
		Ephemeral bool `json:"ephemeral"`
	}{}
	for _, h := range si.Hosts {
		out[h.IP+":"+strconv.Itoa(h.Port)] = struct {
			Healthy   bool `json:"healthy"`
			Ephemeral bool `json:"ephemeral"`
		}{h.Healthy, h.Ephemeral}
	}
	return out
}

// TestProbe_PersistentInstanceFollowsItsPort: a persistent instance
// registered over HTTP is served as not ephemeral, turns unhealthy when
// its port closes and healthy again when it reopens; it is not expired
// although nothing beats for it.
func TestProbe_PersistentInstanceFollowsItsPort(t *testing.T) {
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := lis.Addr().(*net.TCPAddr).Port
	addr := "127.0.0.1:" + strconv.Itoa(port)
	cfg := config.DefaultLocalConfig()
	cfg.Port = testutil.PortBlock(t)
	cfg.PersistentCheckInterval = 100 * time.Millisecond
	cfg.InstanceUnhealthyAfter, cfg.InstanceDeleteAfter = 200*time.Millisecond, 400*time.Millisecond
	cfg.BeatInterval = 100 * time.Millisecond
	_, base, _ := startServer(t, cfg, slog.New(slog.DiscardHandler))

	// A second instance that stays up keeps the service above its
	// protect threshold (0), which would otherwise show every instance
	// healthy.
	up, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer up.Close()
	for _, p := range []int{port, up.Addr().(*net.TCPAddr).Port} {
		reg := fmt.Sprintf("%s/nacos/v1/ns/instance?serviceName=p&ip=127.0.0.1&port=%d&ephemeral=false", base, p)
		if code, b := body(t, "POST", reg); code != 200 || b != "ok" {
			t.Fatalf("register persistent: %d %s", code, b)
		}
	}
	reg := fmt.Sprintf("%s/nacos/v1/ns/instance?serviceName=p&ip=127.0.0.1&port=%d&ephemeral=false", base, port)
	wantHealth := func(what string, healthy bool) {
		t.Helper()
		testutil.Eventually(t, 10*time.Second, what, func() error {
			h, ok := listHosts(t, base, "p")[addr]
			if !ok {
				return fmt.Errorf("%s not listed", addr)
			}
			if h.Ephemeral {
				t.Fatalf("persistent instance listed as ephemeral")
			}
			if h.Healthy != healthy {
				return fmt.Errorf("healthy=%v", h.Healthy)
			}
			return nil
		})
	}
	wantHealth("healthy while the port is open", true)
	_ = lis.Close()
	wantHealth("unhealthy once the port closed", false)
	// The probes so far are counted as Nacos's tcpHealthCheck.
	if code, b := body(t, "GET", base+"/metrics"); code != 200 || !regexp.MustCompile(`nacos_monitor\{module="naming",name="tcpHealthCheck"\} [1-9]`).MatchString(b) {
		t.Fatalf("tcpHealthCheck not counted: %d", code)
	}
	lis2, err := net.Listen("tcp", addr)
	if err != nil {
		t.Skipf("port %d taken again by someone else: %v", port, err)
	}
	defer lis2.Close()
	wantHealth("healthy again once the port reopened", true)
	if code, b := body(t, "DELETE", reg); code != 200 {
		t.Fatalf("deregister: %d %s", code, b)
	}
	if _, ok := listHosts(t, base, "p")[addr]; ok {
		t.Fatal("persistent instance listed after deregister")
	}
}

// TestProbe_SDKsRegisterPersistentInstances: the published Go v1 and v2
// SDKs register persistent instances (both over HTTP, as they do).
func TestProbe_SDKsRegisterPersistentInstances(t *testing.T) {
	base, _ := startStandalone(t)
	host, p, _ := net.SplitHostPort(base[len("http://"):])
	port, _ := strconv.ParseUint(p, 10, 64)

	c1, err := v1clients.NewNamingClient(v1vo.NacosClientParam{
		ClientConfig:  &v1constant.ClientConfig{TimeoutMs: 3000, CacheDir: sdkDir(t), LogDir: sdkDir(t), LogLevel: "error", NotLoadCacheAtStart: true},
		ServerConfigs: []v1constant.ServerConfig{{Scheme: "http", IpAddr: host, Port: port, ContextPath: "/nacos"}},
	})
	if err != nil {
		t.Fatal(err)
	}
	if ok, err := c1.RegisterInstance(v1vo.RegisterInstanceParam{Ip: "10.8.0.1", Port: 80, Weight: 1, Enable: true, Healthy: true,
		Ephemeral: false, ServiceName: "sdkp"}); err != nil || !ok {
		t.Fatalf("v1 SDK persistent register: %v %v", ok, err)
	}
	cc := constant.NewClientConfig(constant.WithTimeoutMs(5000), constant.WithNotLoadCacheAtStart(true),
		constant.WithCacheDir(sdkDir(t)), constant.WithLogDir(sdkDir(t)), constant.WithLogLevel("error"))
	c2, err := clients.NewNamingClient(vo.NacosClientParam{ClientConfig: cc, ServerConfigs: []constant.ServerConfig{*constant.NewServerConfig(host, port)}})
	if err != nil {
		t.Fatal(err)
	}
	defer c2.CloseClient()
	if ok, err := c2.RegisterInstance(vo.RegisterInstanceParam{Ip: "10.8.0.2", Port: 80, Weight: 1, Enable: true, Healthy: true,
		Ephemeral: false, ServiceName: "sdkp"}); err != nil || !ok {
		t.Fatalf("v2 SDK persistent register: %v %v", ok, err)
	}
	hosts := listHosts(t, base, "sdkp")
	for _, a := range []string{"10.8.0.1:80", "10.8.0.2:80"} {
		if h, ok := hosts[a]; !ok || h.Ephemeral {
			t.Fatalf("%s: %+v %v in %v", a, h, ok, hosts)
		}
	}
	if ok, err := c2.DeregisterInstance(vo.DeregisterInstanceParam{Ip: "10.8.0.2", Port: 80, ServiceName: "sdkp", Ephemeral: false}); err != nil || !ok {
		t.Fatalf("v2 SDK persistent deregister: %v %v", ok, err)
	}
	if _, ok := listHosts(t, base, "sdkp")["10.8.0.2:80"]; ok {
		t.Fatal("deregistered persistent instance still listed")
	}
}
