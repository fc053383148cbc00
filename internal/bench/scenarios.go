package bench

import (
	"context"
	"fmt"
	"strconv"
	"time"
)

// Operation names used in results.
const (
	OpRegister     = "register"
	OpQueryGRPC    = "query-grpc"
	OpQueryHTTP    = "query-http"
	OpBeat         = "beat"
	OpPreload      = "preload"
	OpWrite        = "write"
	OpLag          = "lag"
	OpBatch        = "batch"
	OpStormReg     = "register"
	OpStormWindow  = "register-in-expiry"
	querySvc       = "bench-query"
	serviceRegFmt  = "bench-reg-%d"
	serviceBeatFmt = "bench-beat-%d"
)

// globalSeq makes (client, seq) pairs distinct across clients.
func globalSeq(client, clients int, seq uint64) uint64 {
	return seq*uint64(clients) + uint64(client)
}

// Register measures gRPC registrations/s. Client c owns one connection to
// Targets[c mod len(Targets)]. Its request number i registers a fresh
// instance (a distinct 127.x.y.z:port per (client, i)) into service
// bench-reg-(i mod Services). Because a connection holds one registration
// per service, the first Services requests of a connection create
// registrations and later ones replace them: server state stays bounded at
// Clients×Services instances however long the run. Rate 0 = flat out.
func Register(ctx context.Context, cfg Config) (*Result, error) {
	conns, err := dialAll(ctx, cfg, cfg.Clients, func(i int) string { return cfg.Targets[i%len(cfg.Targets)] }, nil)
	if err != nil {
		return nil, err
	}
	defer closeAll(conns)
	names := serviceNames(serviceRegFmt, cfg.Services)
	rec, elapsed := timed(ctx, cfg, cfg.Rate, func(ctx context.Context, c int, seq uint64, rec *Recorder) {
		inst := BenchInstance(globalSeq(c, cfg.Clients, seq))
		observe(ctx, rec, OpRegister, func() error {
			return conns[c].RegisterInstance(ctx, cfg.Namespace, names[seq%uint64(len(names))], inst)
		})
	})
	res := newResult("register", cfg)
	rec.Declare(OpRegister)
	res.AddOps(rec, elapsed)
	return res, nil
}

func serviceNames(format string, n int) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = fmt.Sprintf(format, i)
	}
	return out
}

func newResult(name string, cfg Config) *Result {
	return &Result{Scenario: name, Targets: cfg.Targets, Clients: cfg.Clients}
}

// checkHosts turns a list with fewer hosts than expected into an error.
func checkHosts(si ServiceInfo, want int) error {
	if len(si.Hosts) < want {
		return fmt.Errorf("%w: %d hosts, want %d", ErrShortAnswer, len(si.Hosts), want)
	}
	return nil
}

// Query measures instance-list queries/s on node A (Targets[0]) for the
// service bench-query holding Instances (default 10) instances, which a
// setup connection registers by BatchInstanceRequest and keeps alive. Two
// phases of Duration each: Clients gRPC connections sending
// ServiceQueryRequest, then Clients HTTP clients sending GET
// /nacos/v1/ns/instance/list. An answer with fewer hosts is an error.
func Query(ctx context.Context, cfg Config) (*Result, error) {
	target := cfg.Targets[0]
	setup, err := DialGRPC(ctx, target, cfg.grpcOptions(nil))
	if err != nil {
		return nil, err
	}
	defer setup.Close()
	insts := make([]Instance, cfg.Instances)
	for i := range insts {
		insts[i] = BenchInstance(uint64(i))
	}
	if err := setup.BatchRegister(ctx, cfg.Namespace, querySvc, insts); err != nil {
		return nil, fmt.Errorf("bench: query: pre-register: %w", err)
	}
	if err := waitFor(ctx, cfg.Settle, func() bool {
		si, err := setup.QueryService(ctx, cfg.Namespace, querySvc)
		return err == nil && len(si.Hosts) >= cfg.Instances
	}); err != nil {
		return nil, fmt.Errorf("bench: query: pre-registered instances not visible: %w", err)
	}
	res := newResult("query", cfg)

	conns, err := dialAll(ctx, cfg, cfg.Clients, func(int) string { return target }, nil)
	if err != nil {
		return nil, err
	}
	rec, elapsed := timed(ctx, cfg, cfg.Rate, func(ctx context.Context, c int, _ uint64, rec *Recorder) {
		observe(ctx, rec, OpQueryGRPC, func() error {
			si, err := conns[c].QueryService(ctx, cfg.Namespace, querySvc)
			if err != nil {
				return err
			}
			return checkHosts(si, cfg.Instances)
		})
	})
	closeAll(conns)
	rec.Declare(OpQueryGRPC)
	res.AddOp(OpQueryGRPC, rec, elapsed)

	hcs := make([]*HTTPClient, cfg.Clients)
	for i := range hcs {
		hcs[i] = NewHTTPClient(target, cfg.Timeout)
		defer hcs[i].Close()
	}
	rec, elapsed = timed(ctx, cfg, cfg.Rate, func(ctx context.Context, c int, _ uint64, rec *Recorder) {
		observe(ctx, rec, OpQueryHTTP, func() error {
			si, err := hcs[c].List(ctx, cfg.Namespace, querySvc)
			if err != nil {
				return err
			}
			return checkHosts(si, cfg.Instances)
		})
	})
	rec.Declare(OpQueryHTTP)
	res.AddOp(OpQueryHTTP, rec, elapsed)
	return res, nil
}

// Beat measures HTTP v1 heartbeats/s on node A. Instances (default 1000)
// instances spread over Services (default 100) services bench-beat-N are
// first registered by POST /nacos/v1/ns/instance (op "preload", not part
// of the beat figures); then each of Clients HTTP clients beats its share
// of them round-robin with PUT /nacos/v1/ns/instance/beat.
func Beat(ctx context.Context, cfg Config) (*Result, error) {
	target := cfg.Targets[0]
	hcs := make([]*HTTPClient, cfg.Clients)
	for i := range hcs {
		hcs[i] = NewHTTPClient(target, cfg.Timeout)
		defer hcs[i].Close()
	}
	names := serviceNames(serviceBeatFmt, cfg.Services)
	type owned struct {
		svc  string
		inst Instance
	}
	mine := make([][]owned, cfg.Clients)
	for k := range cfg.Instances {
		c := k % cfg.Clients
		mine[c] = append(mine[c], owned{names[k%len(names)], BenchInstance(uint64(k))})
	}
	pre := NewRecorder()
	preRecs := make([]*Recorder, cfg.Clients)
	start := time.Now()
	_ = forEachClient(cfg.Clients, func(c int) error {
		preRecs[c] = NewRecorder()
		for _, o := range mine[c] {
			observe(ctx, preRecs[c], OpPreload, func() error { return hcs[c].Register(ctx, cfg.Namespace, o.svc, o.inst) })
		}
		return nil
	})
	preElapsed := time.Since(start)
	for _, r := range preRecs {
		pre.Merge(r)
	}
	rec, elapsed := timed(ctx, cfg, cfg.Rate, func(ctx context.Context, c int, seq uint64, rec *Recorder) {
		if len(mine[c]) == 0 {
			<-ctx.Done() // more clients than instances: this one idles
			return
		}
		o := mine[c][seq%uint64(len(mine[c]))]
		observe(ctx, rec, OpBeat, func() error {
			_, err := hcs[c].Beat(ctx, cfg.Namespace, o.svc, o.inst)
			return err
		})
	})
	res := newResult("beat", cfg)
	rec.Declare(OpBeat)
	res.AddOp(OpBeat, rec, elapsed)
	res.AddOp(OpPreload, pre, preElapsed)
	return res, nil
}

// Scale bulk-loads Services (default 1000) services of Instances (default
// 10) instances each: Clients gRPC connections spread round-robin over the
// targets, connection c sending one BatchInstanceRequest per service
// bench-scale-N with N ≡ c (mod Clients), paced by Rate batches/s (0 =
// flat out). Duration is not used: the load runs to completion. It then
// waits (up to Settle) until a sample of services shows all their
// instances on every node, reads each node's RSS before and after, and
// reports bytes per instance per node. The connections stay open until
// the readings are taken (the data is bound to them) and are then closed.
func Scale(ctx context.Context, cfg Config) (*Result, error) {
	res := newResult("scale", cfg)
	before := readAllRSS(ctx, cfg)
	conns, err := dialAll(ctx, cfg, cfg.Clients, func(i int) string { return cfg.Targets[i%len(cfg.Targets)] }, nil)
	if err != nil {
		return nil, err
	}
	defer closeAll(conns)
	recs := make([]*Recorder, cfg.Clients)
	start := time.Now()
	_ = forEachClient(cfg.Clients, func(c int) error {
		rec := NewRecorder()
		recs[c] = rec
		p := newPacer(cfg.Rate, cfg.Clients)
		insts := make([]Instance, cfg.Instances)
		for s := c; s < cfg.Services && p.wait(ctx); s += cfg.Clients {
			for j := range insts {
				insts[j] = BenchInstance(uint64(s)*uint64(cfg.Instances) + uint64(j))
			}
			svc := "bench-scale-" + strconv.Itoa(s)
			observe(ctx, rec, OpBatch, func() error { return conns[c].BatchRegister(ctx, cfg.Namespace, svc, insts) })
		}
		return nil
	})
	elapsed := time.Since(start)
	rec := NewRecorder()
	for _, r := range recs {
		rec.Merge(r)
	}
	rec.Declare(OpBatch)
	res.AddOp(OpBatch, rec, elapsed)
	total := float64(cfg.Services) * float64(cfg.Instances)
	res.Gauge("instances", total)
	res.Gauge("instances_per_s", float64(rec.Hist(OpBatch).Count())*float64(cfg.Instances)/elapsed.Seconds())

	// Wait until the first and last service are complete on every node.
	samples := []string{"bench-scale-0", "bench-scale-" + strconv.Itoa(cfg.Services-1)}
	for i, t := range cfg.Targets {
		hc := NewHTTPClient(t, cfg.Timeout)
		err := waitFor(ctx, cfg.Settle, func() bool {
			for _, s := range samples {
				si, err := hc.List(ctx, cfg.Namespace, s)
				if err != nil || len(si.Hosts) < cfg.Instances {
					return false
				}
			}
			return true
		})
		hc.Close()
		if err != nil {
			res.Note("node %d (%s): sample services incomplete after %s", i, t, cfg.Settle)
		}
	}
	after := readAllRSS(ctx, cfg)
	for i, t := range cfg.Targets {
		if before[i] <= 0 || after[i] <= 0 {
			res.Note("node %d (%s): RSS unavailable (give -pids or serve /metrics)", i, t)
			continue
		}
		res.Gauge("rss_before_mib."+t, float64(before[i])/(1<<20))
		res.Gauge("rss_after_mib."+t, float64(after[i])/(1<<20))
		res.Gauge("bytes_per_instance."+t, float64(after[i]-before[i])/total)
	}
	return res, nil
}

// waitFor polls cond every 20ms until it holds or d has passed.
func waitFor(ctx context.Context, d time.Duration, cond func() bool) error {
	deadline := time.Now().Add(d)
	t := time.NewTicker(20 * time.Millisecond)
	defer t.Stop()
	for {
		if cond() {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("bench: condition not met within %s", d)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-t.C:
		}
	}
}
