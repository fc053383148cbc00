package server

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/distrod/distrod/internal/cp"
	"github.com/distrod/distrod/internal/naming"
)

// Health checks of persistent instances. Exactly one node probes each
// instance: in cluster mode the Distro owner of its "ip:port" (the node
// that would own an HTTP client at that address), standalone this node.
// A probe result changes the instance's health only after it repeats
// (hysteresis), and the change is a control plane write, so every node
// serves the same health.
//
// A round starts every PersistentCheckInterval. Its probes run on at most
// probeWorkers goroutines and start spread over half the interval, not
// all at once. The changes they find are written in batches: one
// OpPersistentHealthBatch entry per probeBatchMax changes, per
// probeBatchWindow, or at the end of the round, whichever comes first,
// written one at a time. 100k instances turning unhealthy together are
// so ~100 Raft entries, not 100k concurrent ones.

// probeCounts counts the health checks this node ran, by checker, since
// it started (Nacos's tcpHealthCheck and httpHealthCheck gauges).
type probeCounts struct{ tcp, http atomic.Int64 }

// probeHysteresis is how many probes in a row must disagree with an
// instance's health before it changes.
const probeHysteresis = 2

const (
	// probeWorkers bounds the probes running at once on a node.
	probeWorkers = 64
	// probeBatchMax bounds the health changes in one Raft entry (~200
	// bytes each: far below the forwarded command's 4 MiB bound).
	probeBatchMax = 1000
	// probeBatchWindow is how long a change waits for others to join
	// its batch.
	probeBatchWindow = 150 * time.Millisecond
)

// healthChange is a change the prober found, or (flush) the end of a
// round: write what is pending now.
type healthChange struct {
	key     cp.InstanceKey
	healthy bool
	err     error
	flush   bool
}

type prober struct {
	interval     time.Duration
	writeTimeout time.Duration
	workers      int
	batchMax     int
	window       time.Duration
	log          *slog.Logger
	// entries lists the persistent instances, mine tells the ones this
	// node probes, probe checks one and apply writes a command.
	entries func() []cp.PersistentEntry
	mine    func(naming.Instance) bool
	probe   func(context.Context, cp.PersistentEntry) (bool, error)
	apply   func(context.Context, cp.Command) error

	changes chan healthChange
	mu      sync.Mutex
	// streak counts, per instance, the consecutive probes that disagreed
	// with its stored health; it is cleared once the change is written.
	streak map[string]int
}

func (s *Server) newProber() *prober {
	p := &prober{
		interval:     s.cfg.PersistentCheckInterval,
		writeTimeout: s.cfg.CPWriteTimeout,
		workers:      probeWorkers,
		batchMax:     probeBatchMax,
		window:       probeBatchWindow,
		log:          s.log,
		entries:      s.ctl.fsm.AllPersistent,
		apply:        s.ctl.Apply,
	}
	p.mine = func(in naming.Instance) bool {
		if s.cluster == nil {
			return true
		}
		_, local := s.cluster.Route(net.JoinHostPort(in.IP, strconv.Itoa(in.Port)))
		return local
	}
	p.probe = func(ctx context.Context, e cp.PersistentEntry) (bool, error) { return s.probeInstance(ctx, e) }
	return p
}

// probeLoop probes the persistent instances this node is responsible for
// every PersistentCheckInterval until ctx ends.
func (s *Server) probeLoop(ctx context.Context) {
	s.newProber().run(ctx)
}

func (p *prober) run(ctx context.Context) {
	p.init()
	var wg sync.WaitGroup
	wg.Add(1)
	go func() { defer wg.Done(); p.writeLoop(ctx) }()
	defer wg.Wait()
	t := time.NewTicker(p.interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			p.round(ctx)
		}
	}
}

func (p *prober) init() {
	p.streak = map[string]int{}
	p.changes = make(chan healthChange, 2*p.batchMax)
}

// round probes every instance this node is responsible for on at most
// p.workers goroutines, starting them spread over half the interval, and
// waits for the probes to end; then it has the pending changes written.
func (p *prober) round(ctx context.Context) {
	var mine []cp.PersistentEntry
	live := map[string]bool{}
	for _, e := range p.entries() {
		live[e.Key.String()] = true
		if p.mine(e.Instance) {
			mine = append(mine, e)
		}
	}
	jobs := make(chan cp.PersistentEntry)
	var wg sync.WaitGroup
	for range min(p.workers, len(mine)) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for e := range jobs {
				p.check(ctx, e)
			}
		}()
	}
	spread := p.interval / 2
	start := time.Now()
dispatch:
	for i, e := range mine {
		// Wait for this probe's turn, in steps of at least 10 ms.
		if d := time.Until(start.Add(spread * time.Duration(i) / time.Duration(len(mine)))); d >= 10*time.Millisecond {
			select {
			case <-ctx.Done():
				break dispatch
			case <-time.After(d):
			}
		}
		select {
		case <-ctx.Done():
			break dispatch
		case jobs <- e:
		}
	}
	close(jobs)
	wg.Wait()
	p.send(ctx, healthChange{flush: true})
	p.mu.Lock()
	for id := range p.streak {
		if !live[id] {
			delete(p.streak, id)
		}
	}
	p.mu.Unlock()
}

func (p *prober) send(ctx context.Context, c healthChange) {
	select {
	case p.changes <- c:
	case <-ctx.Done():
	}
}

func (p *prober) check(ctx context.Context, e cp.PersistentEntry) {
	healthy, err := p.probe(ctx, e)
	id := e.Key.String()
	p.mu.Lock()
	if healthy == e.Instance.Healthy {
		delete(p.streak, id)
		p.mu.Unlock()
		return
	}
	p.streak[id]++
	n := p.streak[id]
	p.mu.Unlock()
	if n >= probeHysteresis {
		p.send(ctx, healthChange{key: e.Key, healthy: healthy, err: err})
	}
}

// writeLoop gathers the changes the probes find and writes them, a batch
// at a time, until ctx ends.
func (p *prober) writeLoop(ctx context.Context) {
	pending := map[string]healthChange{}
	var order []string
	var timer <-chan time.Time
	flush := func() {
		timer = nil
		if len(order) == 0 {
			return
		}
		batch := make([]healthChange, 0, len(order))
		for _, id := range order {
			batch = append(batch, pending[id])
		}
		clear(pending)
		order = order[:0]
		p.write(ctx, batch)
	}
	for {
		select {
		case <-ctx.Done():
			return
		case <-timer:
			flush()
		case c := <-p.changes:
			if c.flush {
				flush()
				continue
			}
			id := c.key.String()
			if _, ok := pending[id]; !ok {
				order = append(order, id)
			}
			pending[id] = c
			if len(order) >= p.batchMax {
				flush()
			} else if timer == nil {
				timer = time.After(p.window)
			}
		}
	}
}

// write records batch as one control plane command. A batch that fails
// keeps its instances' streaks, so their next probe tries again.
func (p *prober) write(ctx context.Context, batch []healthChange) {
	ups := make([]cp.HealthUpdate, len(batch))
	for i, c := range batch {
		ups[i] = cp.HealthUpdate{Instance: c.key, Healthy: c.healthy}
	}
	wctx, cancel := context.WithTimeout(ctx, p.writeTimeout)
	err := p.apply(wctx, cp.Command{Op: cp.OpPersistentHealthBatch, Health: ups})
	cancel()
	if err != nil {
		p.log.Warn("persistent instance health not recorded", "instances", len(batch), "err", err)
		return
	}
	p.mu.Lock()
	for _, c := range batch {
		delete(p.streak, c.key.String())
	}
	p.mu.Unlock()
	if len(batch) > 10 {
		p.log.Info("persistent instance health changed", "instances", len(batch))
	}
	for _, c := range batch {
		lvl := slog.LevelInfo
		if len(batch) > 10 {
			lvl = slog.LevelDebug
		}
		p.log.Log(ctx, lvl, "persistent instance health changed", "instance", c.key.String(), "healthy", c.healthy, "probe_err", c.err)
	}
}

// checker is a cluster's health checker settings, as Nacos writes them.
type checker struct {
	Type                 string `json:"type"`
	Path                 string `json:"path"`
	ExpectedResponseCode int    `json:"expectedResponseCode"`
}

// probe checks one instance with its cluster's checker: TCP (the default)
// connects, HTTP expects the configured status from GET path, NONE keeps
// the health as it is.
func (s *Server) probeInstance(ctx context.Context, e cp.PersistentEntry) (bool, error) {
	in := e.Instance
	port := in.Port
	ck := checker{Type: "TCP"}
	if cs, ok := s.ctl.fsm.Clusters(e.Key.Service)[in.ClusterName]; ok {
		if !cs.UseInstancePort && cs.CheckPort > 0 {
			port = cs.CheckPort
		}
		if len(cs.HealthChecker) > 0 {
			_ = json.Unmarshal(cs.HealthChecker, &ck)
		}
	}
	addr := net.JoinHostPort(in.IP, strconv.Itoa(port))
	timeout := min(s.cfg.PersistentCheckInterval, 3*time.Second)
	cctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	switch strings.ToUpper(ck.Type) {
	case "NONE":
		return in.Healthy, nil
	case "HTTP":
		s.probes.http.Add(1)
		want := ck.ExpectedResponseCode
		if want == 0 {
			want = http.StatusOK
		}
		path := ck.Path
		if !strings.HasPrefix(path, "/") {
			path = "/" + path
		}
		req, err := http.NewRequestWithContext(cctx, http.MethodGet, "http://"+addr+path, nil)
		if err != nil {
			return false, fmt.Errorf("server: probe %s: %w", addr, err)
		}
		resp, err := probeClient.Do(req)
		if err != nil {
			return false, fmt.Errorf("server: probe %s: %w", addr, err)
		}
		_ = resp.Body.Close()
		if resp.StatusCode != want {
			return false, fmt.Errorf("server: probe %s: status %d, want %d", addr, resp.StatusCode, want)
		}
		return true, nil
	default:
		s.probes.tcp.Add(1)
		var d net.Dialer
		c, err := d.DialContext(cctx, "tcp", addr)
		if err != nil {
			return false, fmt.Errorf("server: probe %s: %w", addr, err)
		}
		_ = c.Close()
		return true, nil
	}
}

// probeClient never follows redirects: the status of the checked path is
// the answer.
var probeClient = &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
