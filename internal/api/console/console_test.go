package console

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/distrod/distrod/internal/api/nacoshttp"
	"github.com/distrod/distrod/internal/hlc"
	"github.com/distrod/distrod/internal/naming"
	"github.com/distrod/distrod/internal/testutil"
)

// newServer serves the console and the open API on one mux, as the server
// package does, over a real loopback listener.
func newServer(t testing.TB, store *naming.Store) *httptest.Server {
	t.Helper()
	api, err := nacoshttp.New(nacoshttp.Options{Store: store})
	if err != nil {
		t.Fatal(err)
	}
	c, err := New(Options{Store: store, ContextPath: "/nacos", Self: store.Self()})
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	c.Mount(mux)
	mux.Handle("/", api)
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	return srv
}

func newStore() *naming.Store {
	return naming.NewStore("127.0.0.1:8848", hlc.NewClock("127.0.0.1:8848"))
}

// fill publishes services "svc-00000".. in namespace ns, each with
// perService instances, from one connection client per service.
func fill(t testing.TB, s *naming.Store, ns string, services, perService int) {
	t.Helper()
	now := time.Now().UnixMilli()
	for i := 0; i < services; i++ {
		k := naming.NewServiceKey(ns, fmt.Sprintf("group-%d", i%7), fmt.Sprintf("svc-%05d", i))
		pub := naming.Publication{Batch: true}
		for j := 0; j < perService; j++ {
			pub.Instances = append(pub.Instances, naming.Instance{IP: fmt.Sprintf("10.%d.%d.%d", i/250, i%250, j+1),
				Port: 8080, Weight: 1, Healthy: j%5 != 0, Enabled: true, Ephemeral: true})
		}
		if err := s.Publish(now, fmt.Sprintf("conn-%d", i), k, pub); err != nil {
			t.Fatal(err)
		}
	}
}

func getJSON(t testing.TB, url string, v any) int {
	t.Helper()
	res, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	if err != nil {
		t.Fatal(err)
	}
	if v != nil && json.Unmarshal(b, v) != nil {
		t.Fatalf("GET %s: %d %q is not JSON", url, res.StatusCode, b)
	}
	return res.StatusCode
}

func TestConsole_RoutesLeaveTheOpenAPIAlone(t *testing.T) {
	store := newStore()
	srv := newServer(t, store)
	noRedirect := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	for _, tc := range []struct {
		method, path string
		status       int
		want         string // in the body, or the Location for redirects
	}{
		{"GET", "/", http.StatusFound, "/nacos/"},
		{"GET", "/nacos", http.StatusFound, "/nacos/"},
		{"GET", "/nacos/", http.StatusOK, `src="/nacos/console-ui/app.js"`},
		{"GET", "/nacos/console-ui/app.js", http.StatusOK, "hashchange"},
		{"GET", "/nacos/console-ui/style.css", http.StatusOK, "--accent"},
		{"POST", "/nacos/v1/ns/instance?serviceName=demo&ip=10.0.0.1&port=80", http.StatusOK, "ok"},
		{"GET", "/nacos/v1/ns/instance/list?serviceName=demo", http.StatusOK, `"ip":"10.0.0.1"`},
		{"GET", "/nacos/v2/ns/instance/list?serviceName=demo", http.StatusOK, `"code":0`},
		{"GET", "/nacos/v1/console/health/liveness", http.StatusOK, "OK"},
		{"GET", "/nacos/v1/ns/nothing", http.StatusNotFound, "no such api"},
		{"GET", "/distrod/console/info", http.StatusOK, `"authEnabled":false`},
		{"GET", "/distrod/console/service?serviceName=demo", http.StatusOK, `"via":"http"`},
		{"GET", "/distrod/console/service?serviceName=none", http.StatusNotFound, "not found"},
		{"GET", "/distrod/console/services?pageSize=0", http.StatusBadRequest, "out of range"},
	} {
		req, err := http.NewRequest(tc.method, srv.URL+tc.path, nil)
		if err != nil {
			t.Fatal(err)
		}
		res, err := noRedirect.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(res.Body)
		res.Body.Close()
		got := string(b)
		if res.StatusCode == http.StatusFound {
			got = res.Header.Get("Location")
		}
		if res.StatusCode != tc.status || !strings.Contains(got, tc.want) {
			t.Errorf("%s %s = %d %q, want %d containing %q", tc.method, tc.path, res.StatusCode, got, tc.status, tc.want)
		}
	}
}

func TestConsole_FollowsTheContextPath(t *testing.T) {
	c, err := New(Options{Store: newStore(), ContextPath: "/registry"})
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	c.Mount(mux)
	for path, want := range map[string]string{
		"/":                           "302 /registry/",
		"/registry":                   "302 /registry/",
		"/registry/":                  `200 <body data-context-path="/registry">`,
		"/registry/console-ui/app.js": "200 hashchange",
		"/distrod/console/info":       `200 "contextPath":"/registry"`,
		"/nacos/":                     "404 ",
	} {
		rec := httptest.NewRecorder()
		mux.ServeHTTP(rec, httptest.NewRequest("GET", path, nil))
		got := fmt.Sprint(rec.Code, " ", rec.Header().Get("Location"), rec.Body.String())
		code, text, _ := strings.Cut(want, " ")
		if !strings.HasPrefix(got, code) || !strings.Contains(got, text) {
			t.Errorf("GET %s = %.120q, want %s containing %q", path, got, code, text)
		}
	}
}

func TestConsole_ServicesArePagedAndSearchedOnTheServer(t *testing.T) {
	store := newStore()
	fill(t, store, "", 45, 2)
	if err := store.CreateService(time.Now().UnixMilli(), naming.NewServiceKey("", "", "lonely"), naming.ServiceMeta{}); err != nil {
		t.Fatal(err)
	}
	srv := newServer(t, store)
	type page struct {
		Count    int          `json:"count"`
		Services []ServiceRow `json:"services"`
	}
	var p page
	getJSON(t, srv.URL+"/distrod/console/services?pageNo=3&pageSize=20", &p)
	if p.Count != 46 || len(p.Services) != 6 {
		t.Fatalf("page 3 of 20: count %d, %d rows; want 46 and 6", p.Count, len(p.Services))
	}
	getJSON(t, srv.URL+"/distrod/console/services?name=SVC-00010&group=ROUP-3", &p)
	if p.Count != 1 || p.Services[0].Name != "svc-00010" || p.Services[0].Instances != 2 {
		t.Fatalf("search: %+v, want only svc-00010 with 2 instances", p)
	}
	getJSON(t, srv.URL+"/distrod/console/services?empty=true", &p)
	if p.Count != 1 || p.Services[0].Name != "lonely" || !p.Services[0].Explicit {
		t.Fatalf("empty services: %+v, want only lonely", p)
	}
	var ns struct {
		Namespaces []NamespaceRow `json:"namespaces"`
	}
	getJSON(t, srv.URL+"/distrod/console/namespaces", &ns)
	if len(ns.Namespaces) != 1 || ns.Namespaces[0].Services != 46 || ns.Namespaces[0].Instances != 90 {
		t.Fatalf("namespaces: %+v, want public with 46 services and 90 instances", ns)
	}
}

func TestMarkDigests_FlagsTheMinority(t *testing.T) {
	st := func(d string) json.RawMessage { return json.RawMessage(`{"digest":"` + d + `"}`) }
	nodes := []NodeReport{{Status: st("b")}, {Status: st("a")}, {Error: "down"}, {Status: st("a")}}
	MarkDigests(nodes)
	for i, want := range []bool{true, false, false, false} {
		if nodes[i].DigestDiffers != want {
			t.Errorf("node %d: DigestDiffers = %v, want %v", i, nodes[i].DigestDiffers, want)
		}
	}
}

// TestConsole_PageLoadWith10kServices measures (and logs, without
// asserting a time) the console with 10,000 services and 100,000
// instances: the API answers, then the pages in a real Chromium.
func TestConsole_PageLoadWith10kServices(t *testing.T) {
	if testing.Short() {
		t.Skip("fills a store with 100,000 instances")
	}
	store := newStore()
	start := time.Now()
	fill(t, store, "", 10000, 10)
	t.Logf("filled 10,000 services, 100,000 instances in %v", time.Since(start).Round(time.Millisecond))
	srv := newServer(t, store)
	for _, path := range []string{
		"/distrod/console/services?pageNo=1&pageSize=20",
		"/distrod/console/services?pageNo=400&pageSize=20",
		"/distrod/console/services?name=svc-0999",
		"/distrod/console/namespaces",
		"/distrod/console/service?groupName=group-1&serviceName=svc-00001",
	} {
		start := time.Now()
		if code := getJSON(t, srv.URL+path, nil); code != http.StatusOK {
			t.Fatalf("GET %s: %d", path, code)
		}
		t.Logf("API %-60s %v", path, time.Since(start).Round(100*time.Microsecond))
	}

	ctx := testutil.Browser(t)
	shots := testutil.ScreenshotDir(t)
	for _, pg := range []struct{ name, hash, ready string }{
		{"services", "#/services?ns=public", `document.querySelectorAll("main tbody tr").length === 20`},
		{"search", "#/services?ns=public&name=svc-0999", `document.querySelectorAll("main tbody tr").length === 10`},
		{"service", "#/service?ns=public&group=group-1&name=svc-00001", `document.querySelectorAll("tr[data-instance]").length === 10`},
		{"namespaces", "#/namespaces", `document.querySelector("main tbody td a")?.textContent === "public"`},
	} {
		start := time.Now()
		// A fresh document each time: the measurement includes the page,
		// its script, the info call and the page's own API call.
		if err := chromedp.Do(ctx, chromedp.Navigate("about:blank"), chromedp.Navigate(srv.URL+"/nacos/"+pg.hash)); err != nil {
			t.Fatal(err)
		}
		testutil.WaitJS(t, ctx, 20*time.Second, pg.name+" page rendered", pg.ready)
		t.Logf("browser: %-10s page loaded and rendered in %v", pg.name, time.Since(start).Round(time.Millisecond))
		testutil.Screenshot(t, ctx, shots, "10k-"+pg.name)
	}
}

// TestConsole_ShowsServerErrorsInWords: a failed request shows the
// server's own message in the page's alert, not a blank page.
func TestConsole_ShowsServerErrorsInWords(t *testing.T) {
	srv := newServer(t, newStore())
	ctx := testutil.Browser(t)
	if err := chromedp.Do(ctx, chromedp.Navigate(srv.URL+"/nacos/#/service?ns=public&group=g&name=missing")); err != nil {
		t.Fatal(err)
	}
	testutil.WaitJS(t, ctx, 10*time.Second, "alert with the server's message",
		`(a => !a.hidden && a.textContent.includes("404") && a.textContent.includes("g@@missing not found"))(document.getElementById("alert"))`)
	testutil.Screenshot(t, ctx, testutil.ScreenshotDir(t), "error")
}

// TestConsole_ClusterPageReadsTheStatusFormat renders the cluster page from
// a status in /distrod/status's format (server.NodeStatus: camelCase keys,
// durations in milliseconds).
func TestConsole_ClusterPageReadsTheStatusFormat(t *testing.T) {
	store := newStore()
	status := `{"self":"127.0.0.1:8848","mode":"cluster","ready":true,"digest":"00000000000000ab",
		"services":2,"instances":3,"clients":1,"version":"test",
		"members":[{"address":"127.0.0.1:8848","state":"UP"},{"address":"127.0.0.1:8858","state":"UP"}],
		"distro":{"owned":4,"verifyRoundsSent":5,"repairsPulled":2,
			"peers":[{"address":"127.0.0.1:8858","state":"UP","pending":3,"oldestPendingMs":42}],
			"snapshot":{"started":true,"done":1,"records":7}}}`
	c, err := New(Options{Store: store, ContextPath: "/nacos", Self: store.Self(),
		Peers: func(context.Context) []string { return nil },
		PeerGet: func(context.Context, string, string, http.Header) ([]byte, error) {
			return nil, errors.New("no peers")
		},
		Cluster: func(context.Context) []NodeReport {
			return []NodeReport{{Address: store.Self(), Self: true, Status: json.RawMessage(status)}}
		}})
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	c.Mount(mux)
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)

	ctx := testutil.Browser(t)
	if err := chromedp.Do(ctx, chromedp.Navigate(srv.URL+"/nacos/#/cluster")); err != nil {
		t.Fatal(err)
	}
	row := `document.querySelector('tr[data-node="127.0.0.1:8848"]')`
	testutil.WaitJS(t, ctx, 10*time.Second, "cluster row rendered from the status", `(r => !!r && `+
		`r.textContent.includes("3 keys, oldest 42 ms") && r.textContent.includes("5 rounds, 2 repairs") && `+
		`r.textContent.includes("loaded (1 peers, 7 records)") && r.querySelectorAll("td")[1].textContent === "4")(`+row+`)`)
}

// TestConsole_ShowsRealHealthWhenTheThresholdIsReached: the console is an
// operator's read: an unhealthy instance shows unhealthy even when the
// protection threshold makes clients see it healthy, and the flag says so.
func TestConsole_ShowsRealHealthWhenTheThresholdIsReached(t *testing.T) {
	store := newStore()
	srv := newServer(t, store)
	for _, p := range []string{"/nacos/v1/ns/service?serviceName=guard&protectThreshold=0.9",
		"/nacos/v1/ns/instance?serviceName=guard&ip=10.0.0.1&port=80",
		"/nacos/v1/ns/instance?serviceName=guard&ip=10.0.0.2&port=80&healthy=false"} {
		res, err := http.Post(srv.URL+p, "", nil)
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		if res.StatusCode != http.StatusOK {
			t.Fatalf("POST %s: %d", p, res.StatusCode)
		}
	}
	var out struct {
		Reach     bool `json:"reachProtectionThreshold"`
		Instances []struct {
			IP      string `json:"ip"`
			Healthy bool   `json:"healthy"`
		} `json:"instances"`
	}
	if code := getJSON(t, srv.URL+"/distrod/console/service?serviceName=guard", &out); code != http.StatusOK {
		t.Fatalf("console service: %d", code)
	}
	if !out.Reach || len(out.Instances) != 2 || out.Instances[1].IP != "10.0.0.2" || out.Instances[1].Healthy {
		t.Fatalf("console service = %+v, want the threshold reached and 10.0.0.2 unhealthy", out)
	}
}
