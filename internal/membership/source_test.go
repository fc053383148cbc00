package membership

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/distrod/distrod/internal/memberaddr"
	"github.com/distrod/distrod/internal/testutil"
)

func TestStaticSource_Normalises(t *testing.T) {
	got, err := StaticSource{Addrs: []string{"10.0.0.3", "10.0.0.2:9000", "10.0.0.3:8848"}, DefaultPort: 8848}.Members(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{"10.0.0.2:9000", "10.0.0.3:8848"}; !reflect.DeepEqual(got, want) {
		t.Fatalf("Members = %v, want %v", got, want)
	}
	if _, err := (StaticSource{DefaultPort: 8848}).Members(context.Background()); !errors.Is(err, ErrNoMembers) {
		t.Fatalf("empty: err = %v", err)
	}
	if _, err := (StaticSource{Addrs: []string{"x:y"}}).Members(context.Background()); !errors.Is(err, memberaddr.ErrInvalidAddr) {
		t.Fatalf("bad: err = %v", err)
	}
}

// fileClock is a settable clock for FileSource.
type fileClock struct{ now time.Time }

func (c *fileClock) Now() time.Time { return c.now }

func write(t *testing.T, path, content string, mtime time.Time) {
	t.Helper()
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Chtimes(path, mtime, mtime); err != nil {
		t.Fatal(err)
	}
}

func TestFileSource_ReloadsOnChange(t *testing.T) {
	path := filepath.Join(t.TempDir(), "cluster.conf")
	mtime := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
	clock := &fileClock{now: mtime.Add(time.Hour)}
	src := NewFileSource(path, 8848, clock.Now)
	ctx := context.Background()
	if src.Path() != path {
		t.Fatalf("Path = %q", src.Path())
	}

	if _, err := src.Members(ctx); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("missing file: err = %v", err)
	}

	write(t, path, "10.0.0.1\n10.0.0.2 # b\n", mtime)
	got, err := src.Members(ctx)
	if want := []string{"10.0.0.1:8848", "10.0.0.2:8848"}; err != nil || !reflect.DeepEqual(got, want) {
		t.Fatalf("Members = %v, %v; want %v", got, err, want)
	}

	// New mtime: re-read.
	write(t, path, "10.0.0.1\n10.0.0.3\n", mtime.Add(time.Minute))
	got, _ = src.Members(ctx)
	if want := []string{"10.0.0.1:8848", "10.0.0.3:8848"}; !reflect.DeepEqual(got, want) {
		t.Fatalf("after change: %v, want %v", got, want)
	}

	// Same size, same old mtime: trusted, not re-read (proving the mtime
	// check is used: the content did change behind its back).
	write(t, path, "10.0.0.1\n10.0.0.4\n", mtime.Add(time.Minute))
	got, _ = src.Members(ctx)
	if want := []string{"10.0.0.1:8848", "10.0.0.3:8848"}; !reflect.DeepEqual(got, want) {
		t.Fatalf("unchanged stat: %v, want cached %v", got, want)
	}

	// Same size and mtime, but the mtime is recent (within the racy
	// window of the last read): re-read to be safe.
	recent := clock.now.Add(-time.Second)
	write(t, path, "10.0.0.1\n10.0.0.5\n", recent)
	if got, _ = src.Members(ctx); !reflect.DeepEqual(got, []string{"10.0.0.1:8848", "10.0.0.5:8848"}) {
		t.Fatalf("recent mtime: %v", got)
	}
	write(t, path, "10.0.0.1\n10.0.0.6\n", recent)
	if got, _ = src.Members(ctx); !reflect.DeepEqual(got, []string{"10.0.0.1:8848", "10.0.0.6:8848"}) {
		t.Fatalf("recent mtime, second write: %v", got)
	}

	// Callers cannot corrupt the cache.
	got[0] = "mutated"
	if again, _ := src.Members(ctx); again[0] != "10.0.0.1:8848" {
		t.Fatalf("cache aliased: %v", again)
	}
}

func TestFileSource_Errors(t *testing.T) {
	dir := t.TempDir()
	ctx := context.Background()
	empty := filepath.Join(dir, "empty.conf")
	write(t, empty, "# nobody\n", time.Now())
	if _, err := NewFileSource(empty, 8848, nil).Members(ctx); !errors.Is(err, ErrNoMembers) {
		t.Fatalf("empty file: err = %v", err)
	}
	bad := filepath.Join(dir, "bad.conf")
	write(t, bad, "10.0.0.1:port\n", time.Now())
	if _, err := NewFileSource(bad, 8848, nil).Members(ctx); !errors.Is(err, memberaddr.ErrInvalidAddr) {
		t.Fatalf("bad file: err = %v", err)
	}
	cancelled, cancel := context.WithCancel(ctx)
	cancel()
	if _, err := NewFileSource(bad, 8848, nil).Members(cancelled); !errors.Is(err, context.Canceled) {
		t.Fatalf("cancelled: err = %v", err)
	}
}

func TestDNSSource_ResolvesToMembers(t *testing.T) {
	var gotHost string
	src := DNSSource{Host: "distrod.default.svc", Port: 8848, Resolve: func(ctx context.Context, host string) ([]string, error) {
		gotHost = host
		return []string{"10.0.0.3", "10.0.0.2", "fd00::1", "10.0.0.2"}, nil
	}}
	got, err := src.Members(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{"10.0.0.2:8848", "10.0.0.3:8848", "[fd00::1]:8848"}; !reflect.DeepEqual(got, want) {
		t.Fatalf("Members = %v, want %v", got, want)
	}
	if gotHost != "distrod.default.svc" {
		t.Fatalf("resolved %q", gotHost)
	}
}

func TestDNSSource_Errors(t *testing.T) {
	boom := errors.New("no such host")
	tests := []struct {
		name    string
		resolve Resolver
		want    error
	}{
		{"resolver error", func(context.Context, string) ([]string, error) { return nil, boom }, boom},
		{"no addresses", func(context.Context, string) ([]string, error) { return nil, nil }, ErrNoMembers},
		{"garbage", func(context.Context, string) ([]string, error) { return []string{"not an ip!"}, nil }, memberaddr.ErrInvalidAddr},
	}
	for _, tt := range tests {
		_, err := DNSSource{Host: "x", Port: 8848, Resolve: tt.resolve}.Members(context.Background())
		if !errors.Is(err, tt.want) {
			t.Errorf("%s: err = %v, want %v", tt.name, err, tt.want)
		}
	}
}

func TestDNSSource_DefaultResolverHandlesLiteral(t *testing.T) {
	got, err := DNSSource{Host: "127.0.0.1", Port: 8848}.Members(context.Background())
	if err != nil || !reflect.DeepEqual(got, []string{"127.0.0.1:8848"}) {
		t.Fatalf("Members = %v, %v", got, err)
	}
}

// listSource returns scripted answers, one per call.
type listSource struct {
	mu      sync.Mutex
	answers []answer
}

type answer struct {
	members []string
	err     error
}

func (s *listSource) Members(context.Context) ([]string, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	a := s.answers[0]
	if len(s.answers) > 1 {
		s.answers = s.answers[1:]
	}
	return a.members, a.err
}

func TestWatcher_PollReportsOnlyChanges(t *testing.T) {
	boom := errors.New("boom")
	src := &listSource{answers: []answer{
		{members: []string{"b", "a"}},
		{members: []string{"a", "b", "a"}},
		{err: boom},
		{members: []string{"a", "b"}},
		{members: []string{"a", "c"}},
	}}
	var changes [][]string
	var errs []error
	w := &Watcher{Source: src, OnChange: func(m []string) { changes = append(changes, m) }, OnError: func(err error) { errs = append(errs, err) }}
	want := []struct {
		changed bool
		err     error
	}{{true, nil}, {false, nil}, {false, boom}, {false, nil}, {true, nil}}
	for i, w2 := range want {
		changed, err := w.Poll(context.Background())
		if changed != w2.changed || !errors.Is(err, w2.err) {
			t.Fatalf("poll %d = %v, %v; want %v, %v", i, changed, err, w2.changed, w2.err)
		}
	}
	if wantChanges := [][]string{{"a", "b"}, {"a", "c"}}; !reflect.DeepEqual(changes, wantChanges) {
		t.Fatalf("changes = %v, want %v", changes, wantChanges)
	}
	if len(errs) != 1 {
		t.Fatalf("errors = %v", errs)
	}
}

func TestWatcher_RunPollsOnEveryTick(t *testing.T) {
	src := &listSource{answers: []answer{{members: []string{"a"}}, {members: []string{"a", "b"}}}}
	changes := make(chan []string, 4)
	tick := make(chan time.Time)
	w := &Watcher{Source: src, OnChange: func(m []string) { changes <- m }, Tick: tick}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- w.Run(ctx, time.Hour) }()

	expect := func(want []string) {
		t.Helper()
		select {
		case got := <-changes:
			if !reflect.DeepEqual(got, want) {
				t.Fatalf("change = %v, want %v", got, want)
			}
		case <-time.After(5 * time.Second):
			t.Fatalf("no change %v within deadline", want)
		}
	}
	expect([]string{"a"}) // the first poll is immediate
	tick <- time.Time{}
	expect([]string{"a", "b"})
	cancel()
	select {
	case err := <-done:
		if !errors.Is(err, context.Canceled) {
			t.Fatalf("Run = %v", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Run did not return after cancel")
	}
}

func TestWatch_CallsBackAndStops(t *testing.T) {
	changes := make(chan []string, 1)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- Watch(ctx, StaticSource{Addrs: []string{"10.0.0.1"}, DefaultPort: 8848}, time.Millisecond,
			func(m []string) { changes <- m }, nil)
	}()
	select {
	case got := <-changes:
		if !reflect.DeepEqual(got, []string{"10.0.0.1:8848"}) {
			t.Fatalf("change = %v", got)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("no change within deadline")
	}
	cancel()
	select {
	case err := <-done:
		if !errors.Is(err, context.Canceled) {
			t.Fatalf("Watch = %v", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Watch did not return after cancel")
	}
}

func TestDNSSource_RealServerAAndSRV(t *testing.T) {
	srv := testutil.StartDNS(t)
	srv.SetA("distrod-headless.test", "10.0.0.2", "10.0.0.1")
	for i, ip := range []string{"127.0.0.1", "127.0.0.1", "10.0.0.3"} {
		srv.SetA(fmt.Sprintf("n%d.distrod-headless.test", i), ip)
	}
	srv.SetSRV("_http._tcp.distrod-headless.test",
		testutil.SRV{Target: "n0.distrod-headless.test", Port: 8848},
		testutil.SRV{Target: "n1.distrod-headless.test", Port: 8858},
		testutil.SRV{Target: "n2.distrod-headless.test", Port: 8848},
		testutil.SRV{Target: "missing.distrod-headless.test", Port: 8848})
	r := NewDNSResolver(srv.Addr)
	ctx := context.Background()

	got, err := DNSSource{Host: "distrod-headless.test", Port: 7000, Resolver: r}.Members(ctx)
	if want := []string{"10.0.0.1:7000", "10.0.0.2:7000"}; err != nil || !slices.Equal(got, want) {
		t.Fatalf("A: %v, %v; want %v", got, err, want)
	}
	got, err = DNSSource{Host: "_http._tcp.distrod-headless.test", Port: 7000, Resolver: r}.Members(ctx)
	if want := []string{"10.0.0.3:8848", "127.0.0.1:8848", "127.0.0.1:8858"}; err != nil || !slices.Equal(got, want) {
		t.Fatalf("SRV: %v, %v; want %v (the unresolvable target left out)", got, err, want)
	}

	srv.SetSRV("_http._tcp.distrod-headless.test", testutil.SRV{Target: "missing.distrod-headless.test", Port: 8848})
	if got, err := (DNSSource{Host: "_http._tcp.distrod-headless.test", Port: 7000, Resolver: r}).Members(ctx); err == nil {
		t.Fatalf("SRV with no resolvable target = %v, want an error (keep the old list)", got)
	}
	if got, err := (DNSSource{Host: "nothing.test", Port: 7000, Resolver: r}).Members(ctx); err == nil {
		t.Fatalf("NXDOMAIN = %v, want an error", got)
	}
}
