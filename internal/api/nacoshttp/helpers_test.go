package nacoshttp

import (
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/distrod/distrod/internal/hlc"
	"github.com/distrod/distrod/internal/naming"
)

var update = flag.Bool("update", false, "rewrite testdata/*.golden")

// t0 is the fake clock's start: 2024-01-01T00:00:00Z.
var t0 = time.UnixMilli(1704067200000)

type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

type env struct {
	t     *testing.T
	store *naming.Store
	clock *fakeClock
	reg   *prometheus.Registry
	srv   *httptest.Server
}

// newEnv starts a handler on a real loopback listener. mod may adjust the
// options before New.
func newEnv(t *testing.T, mod func(*Options)) *env {
	t.Helper()
	e := &env{t: t, clock: &fakeClock{t: t0}, reg: prometheus.NewRegistry()}
	e.store = naming.NewStore("127.0.0.1:8848", hlc.NewClock("127.0.0.1:8848"))
	o := Options{Store: e.store, Now: e.clock.Now, Registry: e.reg, ContextPath: "/nacos", BeatIntervalMs: 5000}
	if mod != nil {
		mod(&o)
	}
	h, err := New(o)
	if err != nil {
		t.Fatal(err)
	}
	e.srv = httptest.NewServer(h)
	t.Cleanup(e.srv.Close)
	return e
}

// do sends a request; body is sent verbatim as a form body.
func (e *env) do(method, path, body string, hdr ...string) (int, string) {
	e.t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequest(method, e.srv.URL+path, rd)
	if err != nil {
		e.t.Fatal(err)
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded;charset=utf-8")
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		e.t.Fatal(err)
	}
	return resp.StatusCode, string(b)
}

// step is one request of a golden script. Advance moves the fake clock
// before the request; Run runs arbitrary code (e.g. ExpireCheck) instead of
// a request when set.
type step struct {
	Name    string
	Method  string
	Path    string
	Body    string
	Advance time.Duration
	Run     func(e *env) string
}

// runScript runs steps in order and compares the transcript with
// testdata/<name>.golden (rewritten with -update).
func runScript(t *testing.T, e *env, name string, steps []step) {
	t.Helper()
	var b strings.Builder
	for _, s := range steps {
		if s.Advance > 0 {
			e.clock.Advance(s.Advance)
		}
		fmt.Fprintf(&b, "### %s\n", s.Name)
		if s.Run != nil {
			fmt.Fprintf(&b, "%s\n\n", s.Run(e))
			continue
		}
		fmt.Fprintf(&b, "> %s %s\n", s.Method, s.Path)
		if s.Body != "" {
			fmt.Fprintf(&b, "> %s\n", s.Body)
		}
		code, body := e.do(s.Method, s.Path, s.Body)
		fmt.Fprintf(&b, "< %d\n%s\n\n", code, body)
	}
	compareGolden(t, name, b.String())
}

func compareGolden(t *testing.T, name, got string) {
	t.Helper()
	path := filepath.Join("testdata", name+".golden")
	if *update {
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run with -update to create)", err)
	}
	if string(want) != got {
		t.Errorf("%s differs from golden (run with -update and review the diff)\n%s", path, firstDiff(string(want), got))
	}
}

func firstDiff(want, got string) string {
	wl, gl := strings.Split(want, "\n"), strings.Split(got, "\n")
	for i := 0; i < len(wl) || i < len(gl); i++ {
		var w, g string
		if i < len(wl) {
			w = wl[i]
		}
		if i < len(gl) {
			g = gl[i]
		}
		if w != g {
			return fmt.Sprintf("line %d:\nwant: %s\ngot:  %s", i+1, w, g)
		}
	}
	return ""
}

// eventually polls cond until it holds or the deadline passes.
func eventually(t *testing.T, d time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", d, what)
		}
		<-tick.C
	}
}
