package bench

import (
	"context"
	"fmt"
	"syscall"
	"time"
)

// The scenarios of the cluster-size part of the scale issue: convergence
// under a sustained write load (converge), and a restart while another
// member is dead for good (joindown).

func init() {
	RegisterScenario(Scenario{Name: "converge", Summary: "gRPC writes on node A at -rate for -duration, connections kept open: time until every target reports the same digest",
		Defaults: func(c *Config) { setDefaultRate(c, 5000); setDefault(&c.Services, 100) }, Run: Converge})
	RegisterScenario(Scenario{Name: "joindown", Summary: "SIGKILL the last target for good, then SIGKILL and restart the one before it (needs -pids): time until it is ready holding services x instances",
		Defaults: func(c *Config) {
			setDefault(&c.Instances, 10)
			setDefault(&c.Services, 1000)
			setDefaultDuration(&c.Settle, time.Minute)
		}, Run: JoinDown})
}

// Converge writes as the replication scenario does (Clients gRPC
// connections to node A register instances at Rate into Services
// services for Duration) but keeps the connections, and so the data, open
// afterwards, and times until every target reports the same
// /distrod/status digest: convergence under load, with the data present.
func Converge(ctx context.Context, cfg Config) (*Result, error) {
	if len(cfg.Targets) < 2 {
		return nil, fmt.Errorf("%w: converge needs at least two targets", ErrNeedsCluster)
	}
	res := newResult("converge", cfg)
	names := serviceNames("bench-converge-"+runID()+"-%d", cfg.Services)
	writers, err := dialAll(ctx, cfg, cfg.Clients, func(int) string { return cfg.Targets[0] }, nil)
	if err != nil {
		return nil, err
	}
	defer closeAll(writers)
	rec, elapsed := timed(ctx, cfg, cfg.Rate, func(ctx context.Context, c int, seq uint64, rec *Recorder) {
		inst := BenchInstance(globalSeq(c, cfg.Clients, seq))
		observe(ctx, rec, OpWrite, func() error {
			return writers[c].RegisterInstance(context.Background(), cfg.Namespace, names[seq%uint64(len(names))], inst)
		})
	})
	rec.Declare(OpWrite)
	res.AddOp(OpWrite, rec, elapsed)
	t0 := time.Now()
	if err := waitFor(ctx, cfg.Settle+30*time.Second, func() bool { return sameDigest(ctx, cfg.Targets) }); err != nil {
		return nil, fmt.Errorf("bench: no identical digests after the write phase: %w", err)
	}
	res.Gauge("converge_seconds", time.Since(t0).Seconds())
	st, err := readStatus(ctx, cfg.Targets[0])
	if err != nil {
		return nil, err
	}
	res.Gauge("instances", float64(st.Instances))
	res.Note("digest %s on all %d targets", st.Digest, len(cfg.Targets))
	return res, nil
}

// JoinDown measures a restart while a member is permanently down: it
// loads Services x Instances instances through the first targets,
// SIGKILLs the last target for good, waits until every other target
// reports it DOWN, then SIGKILLs the target before it and starts it again
// with the same command line, environment and directory, and times the
// restart until readiness (the node must serve the data by then). A node
// that waits for the dead member's snapshot takes the snapshot load
// timeout or more.
func JoinDown(ctx context.Context, cfg Config) (*Result, error) {
	n := len(cfg.Targets)
	if n < 3 || len(cfg.PIDs) != n {
		return nil, fmt.Errorf("%w: joindown needs at least three targets and -pids for each", ErrNeedsCluster)
	}
	res := newResult("joindown", cfg)
	dead, joiner := cfg.Targets[n-1], cfg.Targets[n-2]
	deadPID, pid := cfg.PIDs[n-1], cfg.PIDs[n-2]
	node, err := processLaunch(pid)
	if err != nil {
		return nil, err
	}
	prefix, conns, err := preloadJoiner(ctx, cfg, res, cfg.Targets[:n-2], joiner)
	if err != nil {
		return nil, err
	}
	defer closeAll(conns)
	if err := syscall.Kill(deadPID, syscall.SIGKILL); err != nil {
		return nil, fmt.Errorf("bench: kill %d: %w", deadPID, err)
	}
	waitExit(deadPID, 10*time.Second)
	seesDown := func(t string) bool {
		st, err := readStatus(ctx, t)
		if err != nil {
			return false
		}
		for _, m := range st.Members {
			if m.Address == addrOf(dead) {
				return m.State == "DOWN"
			}
		}
		return false
	}
	if err := waitFor(ctx, cfg.Settle, func() bool {
		for _, t := range cfg.Targets[:n-1] {
			if !seesDown(t) {
				return false
			}
		}
		return true
	}); err != nil {
		return nil, fmt.Errorf("bench: %s was never DOWN everywhere: %w", dead, err)
	}
	if err := timeJoin(ctx, cfg, res, node, joiner, prefix, "joindown"); err != nil {
		return nil, err
	}
	res.Note("%s dead for good (pid %d killed)", dead, deadPID)
	return res, nil
}
