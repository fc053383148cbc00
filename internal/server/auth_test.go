package server

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	v1clients "github.com/nacos-group/nacos-sdk-go/clients"
	v1constant "github.com/nacos-group/nacos-sdk-go/common/constant"
	v1model "github.com/nacos-group/nacos-sdk-go/model"
	"github.com/nacos-group/nacos-sdk-go/v2/clients"
	"github.com/nacos-group/nacos-sdk-go/v2/common/constant"
	"github.com/nacos-group/nacos-sdk-go/v2/model"
	"github.com/nacos-group/nacos-sdk-go/v2/vo"
	v1vo "github.com/nacos-group/nacos-sdk-go/vo"

	"github.com/distrod/distrod/internal/config"
	"github.com/distrod/distrod/internal/testutil"
)

// authSecret is the base64 of 32 bytes.
const authSecret = "MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY="

// startAuth runs a standalone node with auth on, the admin seeded with
// password "adminpw", and its user file under a temporary home.
func startAuth(t *testing.T) (port int, home string) {
	t.Helper()
	cfg := config.DefaultLocalConfig()
	cfg.Port = testutil.PortBlock(t)
	cfg.Home = t.TempDir()
	cfg.AuthEnabled = true
	cfg.AuthTokenSecret = authSecret
	cfg.AuthAdminPassword = "adminpw"
	runNode(t, cfg)
	return cfg.Port, cfg.Home
}

// form posts or sends form values and returns status and body.
func form(t *testing.T, method, u string, v url.Values) (int, string) {
	t.Helper()
	req, _ := http.NewRequest(method, u, strings.NewReader(v.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// setupUsers logs in as the seeded admin and creates user "app" with
// read-write access to every service of the public namespace.
func setupUsers(t *testing.T, base string) {
	t.Helper()
	code, b := form(t, "POST", base+"/nacos/v1/auth/users/login", url.Values{"username": {"nacos"}, "password": {"adminpw"}})
	var login struct {
		AccessToken string `json:"accessToken"`
		GlobalAdmin bool   `json:"globalAdmin"`
	}
	if code != 200 || json.Unmarshal([]byte(b), &login) != nil || !login.GlobalAdmin {
		t.Fatalf("admin login: %d %s", code, b)
	}
	tok := "?accessToken=" + url.QueryEscape(login.AccessToken)
	for _, step := range []struct {
		path string
		v    url.Values
	}{
		{"/nacos/v1/auth/users", url.Values{"username": {"app"}, "password": {"app-pw"}}},
		{"/nacos/v1/auth/roles", url.Values{"role": {"apps"}, "username": {"app"}}},
		{"/nacos/v1/auth/permissions", url.Values{"role": {"apps"}, "resource": {":*:*"}, "action": {"rw"}}},
	} {
		if code, b := form(t, "POST", base+step.path+tok, step.v); code != 200 || !strings.Contains(b, `"code":200`) {
			t.Fatalf("POST %s: %d %s", step.path, code, b)
		}
	}
}

// TestAuth_SDKv2LogsInRegistersAndSubscribes drives the published v2 SDK
// (login over HTTP, then gRPC with the token) against a node with auth on.
func TestAuth_SDKv2LogsInRegistersAndSubscribes(t *testing.T) {
	port, home := startAuth(t)
	base := "http://127.0.0.1:" + strconv.Itoa(port)
	setupUsers(t, base)
	if _, err := os.Stat(filepath.Join(home, "data", "auth", "users.json")); err != nil {
		t.Fatalf("user file: %v", err)
	}

	newClient := func(user, password string) interface {
		RegisterInstance(vo.RegisterInstanceParam) (bool, error)
		Subscribe(*vo.SubscribeParam) error
		SelectAllInstances(vo.SelectAllInstancesParam) ([]model.Instance, error)
		CloseClient()
	} {
		cc := constant.NewClientConfig(
			constant.WithTimeoutMs(3000),
			constant.WithNotLoadCacheAtStart(true),
			constant.WithCacheDir(t.TempDir()),
			constant.WithLogDir(t.TempDir()),
			constant.WithLogLevel("error"),
			constant.WithUsername(user),
			constant.WithPassword(password),
		)
		sc := []constant.ServerConfig{*constant.NewServerConfig("127.0.0.1", uint64(port))}
		c, err := clients.NewNamingClient(vo.NacosClientParam{ClientConfig: cc, ServerConfigs: sc})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(c.CloseClient)
		return c
	}

	c := newClient("app", "app-pw")
	var mu sync.Mutex
	var pushed []string
	err := c.Subscribe(&vo.SubscribeParam{ServiceName: "auth.v2", SubscribeCallback: func(s []model.Instance, err error) {
		mu.Lock()
		defer mu.Unlock()
		pushed = pushed[:0]
		for _, in := range s {
			pushed = append(pushed, fmt.Sprintf("%s:%d", in.Ip, in.Port))
		}
	}})
	if err != nil {
		t.Fatal(err)
	}
	if ok, err := c.RegisterInstance(vo.RegisterInstanceParam{Ip: "10.5.0.1", Port: 80, Weight: 1, Enable: true, Healthy: true,
		Ephemeral: true, ServiceName: "auth.v2"}); err != nil || !ok {
		t.Fatalf("register with valid credentials: %v %v", ok, err)
	}
	testutil.Eventually(t, 10*time.Second, "the push to the subscriber", func() error {
		mu.Lock()
		defer mu.Unlock()
		if !slices.Contains(pushed, "10.5.0.1:80") {
			return fmt.Errorf("pushed %v", pushed)
		}
		return nil
	})
	hosts, err := c.SelectAllInstances(vo.SelectAllInstancesParam{ServiceName: "auth.v2"})
	if err != nil || len(hosts) != 1 {
		t.Fatalf("SelectAllInstances: %v %v", hosts, err)
	}

	// Wrong password: the login fails, and so does every request (Nacos
	// answers InstanceResponse with errorCode 403; the SDK reports false).
	bad := newClient("app", "wrong")
	if ok, err := bad.RegisterInstance(vo.RegisterInstanceParam{Ip: "10.5.0.2", Port: 80, Weight: 1, Enable: true, Healthy: true,
		Ephemeral: true, ServiceName: "auth.v2"}); ok && err == nil {
		t.Fatal("register with a wrong password succeeded")
	}
	code, b := form(t, "GET", base+"/nacos/v1/ns/instance/list?serviceName=auth.v2&username=app&password=app-pw", nil)
	if code != 200 || strings.Contains(b, "10.5.0.2") || !strings.Contains(b, "10.5.0.1") {
		t.Fatalf("list after the refused register: %d %s", code, b)
	}
}

// TestAuth_SDKv1LogsInRegistersAndSubscribes drives the published v1 SDK
// (HTTP, accessToken as a query parameter) against a node with auth on.
func TestAuth_SDKv1LogsInRegistersAndSubscribes(t *testing.T) {
	port, _ := startAuth(t)
	base := "http://127.0.0.1:" + strconv.Itoa(port)
	setupUsers(t, base)
	newClient := func(user, password string) interface {
		RegisterInstance(v1vo.RegisterInstanceParam) (bool, error)
		Subscribe(*v1vo.SubscribeParam) error
		SelectAllInstances(v1vo.SelectAllInstancesParam) ([]v1model.Instance, error)
	} {
		cc := v1constant.ClientConfig{TimeoutMs: 3000, CacheDir: t.TempDir(), LogDir: t.TempDir(), LogLevel: "error",
			NotLoadCacheAtStart: true, UpdateThreadNum: 2, Username: user, Password: password}
		c, err := v1clients.NewNamingClient(v1vo.NacosClientParam{ClientConfig: &cc,
			ServerConfigs: []v1constant.ServerConfig{{Scheme: "http", IpAddr: "127.0.0.1", Port: uint64(port), ContextPath: "/nacos"}}})
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	c := newClient("app", "app-pw")
	if ok, err := c.RegisterInstance(v1vo.RegisterInstanceParam{Ip: "10.6.0.1", Port: 80, Weight: 1, Enable: true, Healthy: true,
		Ephemeral: true, ServiceName: "auth.v1"}); err != nil || !ok {
		t.Fatalf("register with valid credentials: %v %v", ok, err)
	}
	var mu sync.Mutex
	var seen []string
	err := c.Subscribe(&v1vo.SubscribeParam{ServiceName: "auth.v1", SubscribeCallback: func(s []v1model.SubscribeService, err error) {
		mu.Lock()
		defer mu.Unlock()
		seen = seen[:0]
		for _, in := range s {
			seen = append(seen, fmt.Sprintf("%s:%d", in.Ip, in.Port))
		}
	}})
	if err != nil {
		t.Fatal(err)
	}
	testutil.Eventually(t, 15*time.Second, "the subscription to see the instance", func() error {
		mu.Lock()
		defer mu.Unlock()
		if !slices.Contains(seen, "10.6.0.1:80") {
			return fmt.Errorf("seen %v", seen)
		}
		return nil
	})
	hosts, err := c.SelectAllInstances(v1vo.SelectAllInstancesParam{ServiceName: "auth.v1"})
	if err != nil || len(hosts) != 1 || hosts[0].Ip != "10.6.0.1" {
		t.Fatalf("SelectAllInstances: %v %v", hosts, err)
	}

	// Wrong password: the v1 client logs the failed login and its requests
	// are refused with Nacos's 403 (the client reports only that it gave
	// up after its retries).
	bad := newClient("app", "wrong")
	if ok, err := bad.RegisterInstance(v1vo.RegisterInstanceParam{Ip: "10.6.0.2", Port: 80, Weight: 1, Enable: true, Healthy: true,
		Ephemeral: true, ServiceName: "auth.v1"}); err == nil || ok {
		t.Fatalf("register with a wrong password: %v %v, want a failure", ok, err)
	}
	if code, b := form(t, "GET", base+"/nacos/v1/ns/instance/list?serviceName=auth.v1&username=app&password=app-pw", nil); code != 200 || strings.Contains(b, "10.6.0.2") {
		t.Fatalf("list after the refused register: %d %s", code, b)
	}
	// No credentials at all: deregistering someone else's instance is refused.
	if code, b := form(t, "DELETE", base+"/nacos/v1/ns/instance?serviceName=auth.v1&ip=10.6.0.1&port=80", nil); code != 403 {
		t.Fatalf("anonymous deregister: %d %s", code, b)
	}
	if code, b := form(t, "PUT", base+"/nacos/v1/ns/operator/switches?entry=clientBeatInterval&value=1&username=app&password=app-pw", nil); code != 403 {
		t.Fatalf("switch change by a non-admin: %d %s", code, b)
	}
}
