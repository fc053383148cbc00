package server

import (
	"context"
	"encoding/json"
	"fmt"
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

// probeCounts counts the health checks this node ran, by checker, since
// it started (Nacos's tcpHealthCheck and httpHealthCheck gauges).
type probeCounts struct{ tcp, http atomic.Int64 }

// probeHysteresis is how many probes in a row must disagree with an
// instance's health before it changes.
const probeHysteresis = 2

type prober struct {
	s  *Server
	mu sync.Mutex
	// streak counts, per instance, the consecutive probes that disagreed
	// with its stored health.
	streak map[string]int
}

// probeLoop probes the persistent instances this node is responsible for
// every PersistentCheckInterval until ctx ends.
func (s *Server) probeLoop(ctx context.Context) {
	p := &prober{s: s, streak: map[string]int{}}
	t := time.NewTicker(s.cfg.PersistentCheckInterval)
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

// round probes every instance this node is responsible for, concurrently,
// and waits for the probes to end.
func (p *prober) round(ctx context.Context) {
	var wg sync.WaitGroup
	live := map[string]bool{}
	for _, e := range p.s.ctl.fsm.AllPersistent() {
		id := e.Key.String()
		live[id] = true
		if !p.mine(e.Instance) {
			continue
		}
		wg.Add(1)
		go func(e cp.PersistentEntry) {
			defer wg.Done()
			p.check(ctx, e)
		}(e)
	}
	wg.Wait()
	p.mu.Lock()
	for id := range p.streak {
		if !live[id] {
			delete(p.streak, id)
		}
	}
	p.mu.Unlock()
}

func (p *prober) mine(in naming.Instance) bool {
	if p.s.cluster == nil {
		return true
	}
	_, local := p.s.cluster.Route(net.JoinHostPort(in.IP, strconv.Itoa(in.Port)))
	return local
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
	if n < probeHysteresis {
		return
	}
	key := e.Key
	wctx, cancel := context.WithTimeout(ctx, p.s.cfg.CPWriteTimeout)
	defer cancel()
	if werr := p.s.ctl.Apply(wctx, cp.Command{Op: cp.OpPersistentHealth, Instance: &key, Healthy: healthy}); werr != nil {
		p.s.log.Warn("persistent instance health not recorded", "instance", id, "healthy", healthy, "err", werr)
		return
	}
	p.mu.Lock()
	delete(p.streak, id)
	p.mu.Unlock()
	p.s.log.Info("persistent instance health changed", "instance", id, "healthy", healthy, "probe_err", err)
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
func (p *prober) probe(ctx context.Context, e cp.PersistentEntry) (bool, error) {
	in := e.Instance
	port := in.Port
	ck := checker{Type: "TCP"}
	if cs, ok := p.s.ctl.fsm.Clusters(e.Key.Service)[in.ClusterName]; ok {
		if !cs.UseInstancePort && cs.CheckPort > 0 {
			port = cs.CheckPort
		}
		if len(cs.HealthChecker) > 0 {
			_ = json.Unmarshal(cs.HealthChecker, &ck)
		}
	}
	addr := net.JoinHostPort(in.IP, strconv.Itoa(port))
	timeout := min(p.s.cfg.PersistentCheckInterval, 3*time.Second)
	cctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	switch strings.ToUpper(ck.Type) {
	case "NONE":
		return in.Healthy, nil
	case "HTTP":
		p.s.probes.http.Add(1)
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
		p.s.probes.tcp.Add(1)
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
