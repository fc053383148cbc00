package e2e

import (
	"encoding/json"
	"fmt"
	"net/url"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/nacos-group/nacos-sdk-go/v2/clients"
	"github.com/nacos-group/nacos-sdk-go/v2/clients/naming_client"
	"github.com/nacos-group/nacos-sdk-go/v2/common/constant"
	"github.com/nacos-group/nacos-sdk-go/v2/model"
	"github.com/nacos-group/nacos-sdk-go/v2/vo"

	"github.com/distrod/distrod/internal/testutil"
)

const consolePassword = "console-admin-pw"

// authSDKClient is sdkClient logged in as the admin.
func authSDKClient(t *testing.T, nd *node) naming_client.INamingClient {
	t.Helper()
	cc := constant.NewClientConfig(
		constant.WithTimeoutMs(5000),
		constant.WithNotLoadCacheAtStart(true),
		constant.WithUpdateCacheWhenEmpty(true),
		constant.WithCacheDir(t.TempDir()),
		constant.WithLogDir(t.TempDir()),
		constant.WithLogLevel("error"),
		constant.WithUsername("nacos"),
		constant.WithPassword(consolePassword),
	)
	sc := []constant.ServerConfig{*constant.NewServerConfig("127.0.0.1", uint64(nd.port))}
	c, err := clients.NewNamingClient(vo.NacosClientParam{ClientConfig: cc, ServerConfigs: sc})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.CloseClient)
	return c
}

// pushed keeps the instance list of a subscriber's latest push.
type pushed struct {
	mu      sync.Mutex
	hosts   []string
	weights map[string]float64
}

func (p *pushed) set(ins []model.Instance) {
	var hs []string
	ws := map[string]float64{}
	for _, in := range ins {
		if in.Enable {
			a := fmt.Sprintf("%s:%d", in.Ip, in.Port)
			hs = append(hs, a)
			ws[a] = in.Weight
		}
	}
	sort.Strings(hs)
	p.mu.Lock()
	p.hosts, p.weights = hs, ws
	p.mu.Unlock()
}

func (p *pushed) weight(addr string) float64 {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.weights[addr]
}

func (p *pushed) has(addr string) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, h := range p.hosts {
		if h == addr {
			return true
		}
	}
	return false
}

func (p *pushed) String() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return strings.Join(p.hosts, " ")
}

// TestConsole_BrowserDrivesAnAuthenticatedCluster drives the console in a
// real headless Chromium against three distrod processes with auth on:
// log in, find a service a v2 SDK registered, disable an HTTP-registered
// instance and see a v2 SDK subscriber's push drop it, enable it again,
// edit another's weight and metadata, deregister it, and watch a node go down and come back on the cluster page.
func TestConsole_BrowserDrivesAnAuthenticatedCluster(t *testing.T) {
	if testing.Short() {
		t.Skip("starts three processes and Chromium")
	}
	ctx := testutil.Browser(t) // skips without Chromium, before anything starts
	start := time.Now()
	nodes := startCluster(t, 3, "NACOS_AUTH_ENABLE=true", "NACOS_AUTH_TOKEN="+authSecret,
		"DISTROD_AUTH_ADMIN_PASSWORD="+consolePassword)
	n1, n2, n3 := nodes[0], nodes[1], nodes[2]
	shots := testutil.ScreenshotDir(t)
	const svc = "console.shop"

	// The console API needs an admin's token; the page's bootstrap does not.
	if code, body, err := get(n1.base() + "/distrod/console/services"); err != nil || code != 403 {
		t.Fatalf("console API without a token: %d %s %v, want 403", code, body, err)
	}
	if code, body, err := get(n1.base() + "/distrod/console/info"); err != nil || code != 200 || !strings.Contains(body, `"authEnabled":true`) {
		t.Fatalf("console info: %d %s %v", code, body, err)
	}

	// A gRPC instance from the v2 SDK, two HTTP instances, a subscriber.
	ok, err := authSDKClient(t, n1).RegisterInstance(vo.RegisterInstanceParam{Ip: "10.3.0.1", Port: 7000,
		Weight: 1, Enable: true, Healthy: true, Ephemeral: true, ServiceName: svc})
	if err != nil || !ok {
		t.Fatalf("SDK register: %v %v", ok, err)
	}
	token := login(t, n1)
	for _, ip := range []string{"10.3.0.2", "10.3.0.3"} {
		code, body, err := do("POST", n1.base()+"/nacos/v1/ns/instance?"+url.Values{"serviceName": {svc}, "ip": {ip},
			"port": {"7001"}, "accessToken": {token}}.Encode())
		if err != nil || code != 200 {
			t.Fatalf("HTTP register %s: %d %s %v", ip, code, body, err)
		}
	}
	var sub pushed
	if err := authSDKClient(t, n2).Subscribe(&vo.SubscribeParam{ServiceName: svc,
		SubscribeCallback: func(ins []model.Instance, err error) { sub.set(ins) }}); err != nil {
		t.Fatal(err)
	}
	testutil.Eventually(t, 20*time.Second, "subscriber sees all three instances", func() error {
		if !sub.has("10.3.0.1:7000") || !sub.has("10.3.0.2:7001") || !sub.has("10.3.0.3:7001") {
			return fmt.Errorf("pushed: %s", &sub)
		}
		return nil
	})

	js := func(expr string) {
		t.Helper()
		if _, err := chromedp.Run(ctx, chromedp.Evaluate[any](expr)); err != nil {
			t.Fatalf("%s: %v", expr, err)
		}
	}
	wait := func(what, expr string) { t.Helper(); testutil.WaitJS(t, ctx, 20*time.Second, what, expr) }

	// Log in: "/" leads to the console, which asks for a login. Typed
	// with the keyboard.
	if err := chromedp.Do(ctx, chromedp.Navigate(n1.base()+"/")); err != nil {
		t.Fatal(err)
	}
	wait("login form", `location.pathname === "/nacos/" && location.hash === "#/login" && !!document.querySelector("input[name=password]")`)
	testutil.Screenshot(t, ctx, shots, "1-login")
	if err := chromedp.Do(ctx,
		chromedp.SendKeys(chromedp.CSS(`input[name=username]`), "nacos"),
		chromedp.SendKeys(chromedp.CSS(`input[name=password]`), consolePassword+"\r")); err != nil {
		t.Fatal(err)
	}
	wait("namespaces after login", `[...document.querySelectorAll("main td a")].some(a => a.textContent === "public")`)
	wait("token kept in sessionStorage", `!!sessionStorage.getItem("distrod.accessToken")`)
	testutil.Screenshot(t, ctx, shots, "2-namespaces")

	// Find the service by name.
	js(`location.hash = "#/services?ns=public"`)
	wait("services page", `!!document.querySelector("input[name=name]")`)
	if err := chromedp.Do(ctx, chromedp.SendKeys(chromedp.CSS(`input[name=name]`), "shop\r")); err != nil {
		t.Fatal(err)
	}
	wait("search result", `[...document.querySelectorAll("main td a")].some(a => a.textContent === "console.shop")`)
	testutil.Screenshot(t, ctx, shots, "3-services")
	js(`[...document.querySelectorAll("main td a")].find(a => a.textContent === "console.shop").click()`)
	wait("service page", `document.querySelectorAll("tr[data-instance]").length === 3`)
	wait("gRPC instance read-only", `document.querySelector('button[aria-label="Disable 10.3.0.1:7000"]').disabled`)
	wait("the subscriber on node 2 listed", fmt.Sprintf(
		`[...document.querySelectorAll('tr[data-subscriber-node="%s"]')].some(r => r.textContent.includes("grpc"))`, n2.addr()))
	testutil.Screenshot(t, ctx, shots, "4-service")

	// Disable an HTTP instance: the subscriber's push drops it.
	js(`document.querySelector('button[aria-label="Disable 10.3.0.2:7001"]').click()`)
	testutil.Eventually(t, 20*time.Second, "push without the disabled instance", func() error {
		if sub.has("10.3.0.2:7001") || !sub.has("10.3.0.3:7001") {
			return fmt.Errorf("pushed: %s", &sub)
		}
		return nil
	})
	wait("page shows it disabled", `!!document.querySelector('button[aria-label="Enable 10.3.0.2:7001"]')`)
	testutil.Screenshot(t, ctx, shots, "5-disabled")
	js(`document.querySelector('button[aria-label="Enable 10.3.0.2:7001"]').click()`)
	testutil.Eventually(t, 20*time.Second, "push with the re-enabled instance", func() error {
		if !sub.has("10.3.0.2:7001") {
			return fmt.Errorf("pushed: %s", &sub)
		}
		return nil
	})
	wait("page shows it enabled", `!!document.querySelector('button[aria-label="Disable 10.3.0.2:7001"]')`)

	// Edit weight and metadata in the dialog; the subscriber gets them.
	js(`document.querySelector('button[aria-label="Edit 10.3.0.3:7001"]').click()`)
	wait("edit dialog open", `!!document.querySelector("dialog[open] input[name=weight]")`)
	js(`(d => { d.querySelector("input[name=weight]").value = "5";
		d.querySelector("textarea[name=metadata]").value = '{"zone":"z1"}';
		d.querySelector("button[type=submit]").click(); })(document.querySelector("dialog[open]"))`)
	wait("page shows the new weight and metadata", `(r => r.textContent.includes("zone=z1") && r.querySelectorAll("td")[2].textContent === "5")(document.querySelector('tr[data-instance="10.3.0.3:7001"]'))`)
	testutil.Eventually(t, 20*time.Second, "push with the new weight", func() error {
		if w := sub.weight("10.3.0.3:7001"); w != 5 {
			return fmt.Errorf("weight %v", w)
		}
		return nil
	})

	// Deregister after the confirmation: the push drops it.
	js(`window.confirm = () => true; document.querySelector('button[aria-label="Deregister 10.3.0.3:7001"]').click()`)
	testutil.Eventually(t, 20*time.Second, "push without the deregistered instance", func() error {
		if sub.has("10.3.0.3:7001") {
			return fmt.Errorf("pushed: %s", &sub)
		}
		return nil
	})
	wait("page without it", `document.querySelectorAll("tr[data-instance]").length === 2`)

	// The cluster page follows a node going down and coming back.
	row := func(nd *node) string { return fmt.Sprintf(`document.querySelector('tr[data-node="%s"]')`, nd.addr()) }
	healthy := func(nd *node) string {
		return fmt.Sprintf(`(r => !!r && !r.classList.contains("bad") && r.textContent.includes("ready"))(%s)`, row(nd))
	}
	js(`location.hash = "#/cluster"`)
	wait("three ready members", healthy(n1)+" && "+healthy(n2)+" && "+healthy(n3))
	testutil.Screenshot(t, ctx, shots, "6-cluster")
	n3.proc.Kill()
	wait("node 3 shown down", fmt.Sprintf(`(r => !!r && r.classList.contains("bad") && r.textContent.includes("unreachable"))(%s)`, row(n3)))
	testutil.Screenshot(t, ctx, shots, "7-cluster-node-down")
	n3.proc.Start()
	testutil.WaitJS(t, ctx, 60*time.Second, "node 3 back and ready", healthy(n3))
	testutil.Screenshot(t, ctx, shots, "8-cluster-node-back")

	// A user without ROLE_ADMIN logs in and is told, in words, why the
	// console shows nothing.
	code, body, err := do("POST", n1.base()+"/nacos/v1/auth/users?"+url.Values{"username": {"viewer"},
		"password": {"viewer-pw"}, "accessToken": {token}}.Encode())
	if err != nil || code != 200 {
		t.Fatalf("create user: %d %s %v", code, body, err)
	}
	js(`document.getElementById("logout").click()`)
	wait("login form after logout", `location.hash === "#/login" && !sessionStorage.getItem("distrod.accessToken")`)
	if err := chromedp.Do(ctx,
		chromedp.SendKeys(chromedp.CSS(`input[name=username]`), "viewer"),
		chromedp.SendKeys(chromedp.CSS(`input[name=password]`), "viewer-pw\r")); err != nil {
		t.Fatal(err)
	}
	wait("refusal shown", `(a => !a.hidden && a.textContent.includes("403") && a.textContent.includes("administrator") && !a.textContent.includes("(Forbidden)"))(document.getElementById("alert"))`)
	testutil.Screenshot(t, ctx, shots, "9-not-admin")
	t.Logf("console browser test done in %v", time.Since(start).Round(time.Millisecond))
}

// login returns the admin's access token from nd.
func login(t *testing.T, nd *node) string {
	t.Helper()
	code, body, err := do("POST", nd.base()+"/nacos/v1/auth/users/login?"+url.Values{"username": {"nacos"}, "password": {consolePassword}}.Encode())
	if err != nil || code != 200 {
		t.Fatalf("login: %d %s %v", code, body, err)
	}
	var r struct {
		AccessToken string `json:"accessToken"`
	}
	if err := json.Unmarshal([]byte(body), &r); err != nil || r.AccessToken == "" {
		t.Fatalf("login answer %s: %v", body, err)
	}
	return r.AccessToken
}
