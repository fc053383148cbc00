package bench

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"sync"
	"time"
)

// Config is everything a scenario needs. Zero fields take the scenario's
// documented default (see WithDefaults and each scenario's doc).
type Config struct {
	// Targets are the nodes' HTTP addresses (host:port); gRPC is port+1000.
	// The first is "node A"; replication/push observe on the others.
	Targets []string
	// Clients is the number of simulated clients (connections), each with
	// its own goroutine. Default 16.
	Clients int
	// Duration is how long the measured phase runs. Default 10s.
	Duration time.Duration
	// Rate is the total target rate in operations/s over all clients;
	// 0 means as fast as possible (replication/push/storm: a default rate).
	Rate float64
	// Instances is instances per service (scale, query: fixed 10) or the
	// number of pre-registered instances (beat, storm). Default per scenario.
	Instances int
	// Services is the number of services a scenario spreads over. Default
	// per scenario.
	Services int
	// Namespace is the namespace id; "" means public.
	Namespace string
	// PIDs are the node processes' PIDs, one per target in order, for RSS
	// readings from /proc (scale, storm). Without them RSS is scraped from
	// http://target/metrics (process_resident_memory_bytes) if available.
	PIDs []int
	// SetupWait is the post-ConnectionSetupRequest wait (default 100ms,
	// negative = none; tests use negative).
	SetupWait time.Duration
	// Timeout bounds each request. Default 10s.
	Timeout time.Duration
	// Settle bounds how long lag scenarios wait for stragglers after the
	// write phase, and scale waits for data to be visible. Default 10s.
	Settle time.Duration
}

// WithDefaults returns c with generic defaults filled in.
func (c Config) WithDefaults() Config {
	if c.Clients <= 0 {
		c.Clients = 16
	}
	if c.Duration <= 0 {
		c.Duration = 10 * time.Second
	}
	if c.Timeout <= 0 {
		c.Timeout = 10 * time.Second
	}
	if c.Settle <= 0 {
		c.Settle = 10 * time.Second
	}
	return c
}

// Validate rejects configurations no scenario can run.
func (c Config) Validate() error {
	if len(c.Targets) == 0 {
		return errors.New("bench: no targets (want -targets host:httpPort[,...])")
	}
	for _, t := range c.Targets {
		if _, err := GRPCAddr(t); err != nil {
			return err
		}
	}
	if c.Rate < 0 {
		return errors.New("bench: negative -rate")
	}
	if len(c.PIDs) > 0 && len(c.PIDs) != len(c.Targets) {
		return fmt.Errorf("bench: %d pids for %d targets (want one per target, in order)", len(c.PIDs), len(c.Targets))
	}
	return nil
}

func (c Config) grpcOptions(onPush func(Push)) GRPCOptions {
	return GRPCOptions{SetupWait: c.SetupWait, Timeout: c.Timeout, OnPush: onPush}
}

// ScenarioFunc runs one scenario. It returns an error only when the
// scenario could not run at all (e.g. no connection could be made);
// failed operations are counted in the Result instead.
type ScenarioFunc func(ctx context.Context, cfg Config) (*Result, error)

// Scenario is an entry of the scenario registry.
type Scenario struct {
	Name string
	// Summary is one line for -help.
	Summary string
	// Defaults, if set, fills the scenario's own defaults into a config
	// before the generic ones (Config.WithDefaults) apply.
	Defaults func(*Config)
	Run      ScenarioFunc
}

var scenarios = map[string]Scenario{}

// RegisterScenario adds s to the registry; it panics on a duplicate name.
func RegisterScenario(s Scenario) {
	if _, dup := scenarios[s.Name]; dup {
		panic("bench: duplicate scenario " + s.Name)
	}
	scenarios[s.Name] = s
}

// Scenarios lists the registered scenarios sorted by name.
func Scenarios() []Scenario {
	out := make([]Scenario, 0, len(scenarios))
	for _, k := range slices.Sorted(maps.Keys(scenarios)) {
		out = append(out, scenarios[k])
	}
	return out
}

// Lookup finds a scenario by name.
func Lookup(name string) (Scenario, bool) {
	s, ok := scenarios[name]
	return s, ok
}

// Run validates cfg, applies defaults and runs the named scenario.
func Run(ctx context.Context, name string, cfg Config) (*Result, error) {
	s, ok := Lookup(name)
	if !ok {
		names := make([]string, 0, len(scenarios))
		for _, s := range Scenarios() {
			names = append(names, s.Name)
		}
		return nil, fmt.Errorf("bench: unknown scenario %q (have %s)", name, strings.Join(names, ", "))
	}
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if s.Defaults != nil {
		s.Defaults(&cfg)
	}
	return s.Run(ctx, cfg.WithDefaults())
}

func init() {
	RegisterScenario(Scenario{Name: "register", Summary: "gRPC InstanceRequest registrations/s, spread over the targets",
		Defaults: func(c *Config) { setDefault(&c.Services, 1000) }, Run: Register})
	RegisterScenario(Scenario{Name: "query", Summary: "instance-list queries/s on node A for a 10-instance service: gRPC ServiceQueryRequest, then HTTP GET",
		Defaults: func(c *Config) { setDefault(&c.Instances, 10) }, Run: Query})
	RegisterScenario(Scenario{Name: "beat", Summary: "HTTP v1 heartbeats/s on node A for pre-registered instances",
		Defaults: func(c *Config) { setDefault(&c.Instances, 1000); setDefault(&c.Services, 100) }, Run: Beat})
	RegisterScenario(Scenario{Name: "replication", Summary: "lag from a gRPC write on node A until it is visible on the other nodes (push, else polling)",
		Defaults: func(c *Config) { setDefaultRate(c, 5000); setDefault(&c.Services, 100) }, Run: Replication})
	RegisterScenario(Scenario{Name: "push", Summary: "lag from a gRPC write on node A until a NotifySubscriberRequest reaches a subscriber on the last node",
		Defaults: func(c *Config) { setDefaultRate(c, 1000); setDefault(&c.Services, 100) }, Run: PushLag})
	RegisterScenario(Scenario{Name: "scale", Summary: "bulk-load services x instances by BatchInstanceRequest; RSS and bytes/instance per node",
		Defaults: func(c *Config) { setDefault(&c.Instances, 10); setDefault(&c.Services, 1000) }, Run: Scale})
	RegisterScenario(Scenario{Name: "storm", Summary: "never-beating HTTP instances expire together while HTTP registrations continue; p99 in the expiry window, peak RSS",
		Defaults: func(c *Config) {
			setDefaultRate(c, 200)
			setDefault(&c.Instances, 10000)
			setDefault(&c.Services, 100)
			if c.Duration <= 0 {
				c.Duration = 50 * time.Second
			}
		}, Run: Storm})
	RegisterScenario(Scenario{Name: "join", Summary: "time for the last target, SIGKILLed and restarted (needs -pids), to become ready holding services x instances",
		Defaults: func(c *Config) {
			setDefault(&c.Instances, 10)
			setDefault(&c.Services, 1000)
			setDefaultDuration(&c.Settle, time.Minute)
		}, Run: Join})
	RegisterScenario(Scenario{Name: "verify", Summary: "verify (anti-entropy) bytes/s and bytes/round per node at steady state with -services records",
		Defaults: func(c *Config) {
			setDefault(&c.Instances, 1)
			setDefault(&c.Services, 10000)
			setDefaultDuration(&c.Settle, time.Minute)
		}, Run: VerifyTraffic})
	RegisterScenario(Scenario{Name: "heal", Summary: "time to identical digests after the last target is partitioned off (nodes need DISTROD_FAULT_INJECTION=true), written on both sides, and healed",
		Defaults: func(c *Config) { setDefault(&c.Services, 100) }, Run: Heal})
	RegisterScenario(Scenario{Name: "cpwrite", Summary: "control plane (Raft) namespace writes: one and -clients writers, through the leader and through a follower",
		Defaults: func(c *Config) { setDefaultDuration(&c.Duration, 5*time.Second) }, Run: CPWrite})
	RegisterScenario(Scenario{Name: "cprestart", Summary: "register services x instances persistent instances, SIGKILL every target (needs -pids), restart all; time until each is ready and serves them all",
		Defaults: func(c *Config) {
			setDefault(&c.Instances, 1000)
			setDefault(&c.Services, 100)
			setDefault(&c.Clients, 64)
			setDefaultDuration(&c.Settle, 3*time.Minute)
		}, Run: CPRestart})
}

func setDefault(v *int, d int) {
	if *v <= 0 {
		*v = d
	}
}

func setDefaultDuration(v *time.Duration, d time.Duration) {
	if *v <= 0 {
		*v = d
	}
}

func setDefaultRate(c *Config, d float64) {
	if c.Rate <= 0 {
		c.Rate = d
	}
}

// pacer spaces one client's operations at a fixed interval, scheduling by
// the ideal timetable so a slow operation is caught up on (no drift).
type pacer struct {
	interval time.Duration
	next     time.Time
	timer    *time.Timer
}

// newPacer gives one client its share of a total rate (ops/s) over n
// clients; rate 0 means no pacing.
func newPacer(rate float64, n int) *pacer {
	p := &pacer{}
	if rate > 0 {
		p.interval = time.Duration(float64(time.Second) * float64(n) / rate)
		p.next = time.Now()
	}
	return p
}

// wait blocks until the next slot; false when ctx ends first.
func (p *pacer) wait(ctx context.Context) bool {
	if p.interval == 0 {
		return ctx.Err() == nil
	}
	d := time.Until(p.next)
	p.next = p.next.Add(p.interval)
	if d <= 0 {
		return ctx.Err() == nil
	}
	if p.timer == nil {
		p.timer = time.NewTimer(d)
	} else {
		p.timer.Reset(d)
	}
	select {
	case <-p.timer.C:
		return true
	case <-ctx.Done():
		return false
	}
}

// forEachClient runs fn(i) for i in [0, n) on n goroutines and waits. It
// returns the first error.
func forEachClient(n int, fn func(i int) error) error {
	var wg sync.WaitGroup
	errs := make([]error, n)
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[i] = fn(i)
		}()
	}
	wg.Wait()
	return errors.Join(errs...)
}

// dialAll opens n gRPC connections, connection i to targets[pick(i)].
func dialAll(ctx context.Context, cfg Config, n int, pick func(i int) string, onPush func(i int) func(Push)) ([]*GRPCConn, error) {
	conns := make([]*GRPCConn, n)
	err := forEachClient(n, func(i int) error {
		var cb func(Push)
		if onPush != nil {
			cb = onPush(i)
		}
		c, err := DialGRPC(ctx, pick(i), cfg.grpcOptions(cb))
		conns[i] = c
		return err
	})
	if err != nil {
		closeAll(conns)
		return nil, err
	}
	return conns, nil
}

func closeAll(conns []*GRPCConn) {
	for _, c := range conns {
		if c != nil {
			c.Close()
		}
	}
}

// timed runs a measured loop on cfg.Clients goroutines for cfg.Duration:
// each goroutine calls op(client, seq, rec) paced at its share of rate
// until the time is up. It returns the merged recorder and the elapsed
// wall time of the phase.
func timed(ctx context.Context, cfg Config, rate float64, op func(ctx context.Context, client int, seq uint64, rec *Recorder)) (*Recorder, time.Duration) {
	ctx, cancel := context.WithTimeout(ctx, cfg.Duration)
	defer cancel()
	recs := make([]*Recorder, cfg.Clients)
	start := time.Now()
	_ = forEachClient(cfg.Clients, func(i int) error {
		rec := NewRecorder()
		recs[i] = rec
		p := newPacer(rate, cfg.Clients)
		for seq := uint64(0); p.wait(ctx); seq++ {
			op(ctx, i, seq, rec)
		}
		return nil
	})
	elapsed := time.Since(start)
	all := NewRecorder()
	for _, r := range recs {
		all.Merge(r)
	}
	return all, elapsed
}

// observe times f and records it under name; an error caused by the end
// of the measured phase (ctx done) is neither an error nor a sample.
func observe(ctx context.Context, rec *Recorder, name string, f func() error) {
	start := time.Now()
	err := f()
	if err != nil && phaseOver(ctx) {
		return
	}
	rec.Observe(name, time.Since(start), err)
}

// phaseOver reports whether ctx has ended or reached its deadline. The
// deadline test matters: a request context derived with a timeout gets
// its own timer for the same deadline, which may fire before ctx's.
func phaseOver(ctx context.Context) bool {
	if ctx.Err() != nil {
		return true
	}
	d, ok := ctx.Deadline()
	return ok && !time.Now().Before(d)
}
