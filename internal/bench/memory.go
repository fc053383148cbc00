package bench

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

func init() {
	RegisterScenario(Scenario{Name: "memory",
		Summary: "load services x instances over all targets; per node RSS, Go heap and a heap profile (DISTROD_PPROF=true), then the last node (needs -pids) restarted: join time and its memory",
		Defaults: func(c *Config) {
			setDefault(&c.Instances, 10)
			setDefault(&c.Services, 1000)
			setDefault(&c.Clients, 32)
			setDefaultDuration(&c.Settle, 3*time.Minute)
			setDefaultDuration(&c.Duration, 30*time.Second)
		}, Run: Memory})
}

// Memory measures what holding Services x Instances instances costs each
// node: on the nodes that took the writes, on one that received them all by
// sync, and on that one again once it loaded them by snapshot. It loads the
// instances over Clients gRPC connections spread over the targets but the
// last when it will restart it (all targets without -pids; the connections
// stay open: the data is bound to them), waits until every node serves the
// first and last service, and
// reads each node's RSS and bytes per instance at once, as scale does, and
// again after Duration (default 30s) without load (idle.*). When the node
// serves /debug/pprof (DISTROD_PPROF=true), it also reads
// the Go heap's figures (live heap after a forced collection, the heap the
// runtime holds, what it returned to the OS) and saves a heap profile in
// a temporary directory named in the result. With -pids it then SIGKILLs
// the last target, restarts it as join does, times it until ready, and
// reads the same figures there (joined.*) once it serves the data.
func Memory(ctx context.Context, cfg Config) (*Result, error) {
	res := newResult("memory", cfg)
	dir, err := os.MkdirTemp("", "distrod-memory-*")
	if err != nil {
		return nil, fmt.Errorf("bench: profile directory: %w", err)
	}
	prefix := "bench-mem-" + runID() + "-"
	before := readAllRSS(ctx, cfg)
	rec := NewRecorder()
	start := time.Now()
	// The node to restart takes no writes: the records of connections it
	// held would be removed with them when it is killed. It is then the
	// replica node (all its data arrived by sync), the others the writers.
	writers := cfg.Targets
	restart := len(cfg.PIDs) == len(cfg.Targets) && len(cfg.Targets) >= 2
	if restart {
		writers = cfg.Targets[:len(cfg.Targets)-1]
	}
	conns, err := loadCluster(ctx, cfg, writers, prefix, rec)
	if err != nil {
		return nil, err
	}
	defer closeAll(conns)
	elapsed := time.Since(start)
	rec.Declare(OpBatch)
	res.AddOp(OpBatch, rec, elapsed)
	total := float64(cfg.Services) * float64(cfg.Instances)
	res.Gauge("instances", total)
	res.Gauge("instances_per_s", float64(rec.Hist(OpBatch).Count())*float64(cfg.Instances)/elapsed.Seconds())
	for i, t := range cfg.Targets {
		if err := waitLoaded(ctx, cfg, t, prefix); err != nil {
			res.Note("node %d (%s): sample services incomplete after %s", i, t, cfg.Settle)
		}
	}
	rssAt(ctx, cfg, res, before, total, "")
	if !idle(ctx, cfg.Duration) {
		return nil, ctx.Err()
	}
	rssAt(ctx, cfg, res, before, total, "idle.")
	for _, t := range cfg.Targets {
		heapFigures(ctx, res, t, total, dir, "")
	}
	if !restart {
		res.Note("heap profiles in %s; no -pids: no restart", dir)
		return res, nil
	}
	last := len(cfg.Targets) - 1
	joiner := cfg.Targets[last]
	took, pid, err := restartNode(ctx, cfg, last)
	if err != nil {
		return nil, err
	}
	res.Gauge("join_seconds", took.Seconds())
	if err := waitLoaded(ctx, cfg, joiner, prefix); err != nil {
		res.Note("%s: loaded data not served after the restart", joiner)
	}
	rcfg := cfg
	rcfg.Targets = []string{joiner}
	rcfg.PIDs = []int{pid}
	rssAt(ctx, rcfg, res, []int64{0}, total, "joined.")
	if !idle(ctx, cfg.Duration) {
		return nil, ctx.Err()
	}
	rssAt(ctx, rcfg, res, []int64{0}, total, "joined.idle.")
	heapFigures(ctx, res, joiner, total, dir, "joined.")
	res.Note("heap profiles in %s; %s restarted as pid %d", dir, joiner, pid)
	return res, nil
}

// idle waits d (the node is left alone) and reports whether ctx is still
// live.
func idle(ctx context.Context, d time.Duration) bool {
	select {
	case <-ctx.Done():
		return false
	case <-time.After(d):
		return true
	}
}

// rssAt records each node's RSS and, less base (its RSS before the load),
// per instance, under names starting with prefix.
func rssAt(ctx context.Context, cfg Config, res *Result, base []int64, total float64, prefix string) {
	for i, t := range cfg.Targets {
		rss := readRSS(ctx, cfg, i)
		if rss <= 0 {
			res.Note("node %d (%s): RSS unavailable (give -pids or serve /metrics)", i, t)
			continue
		}
		res.Gauge(prefix+"rss_mib."+t, float64(rss)/(1<<20))
		res.Gauge(prefix+"bytes_per_instance."+t, float64(rss-base[i])/total)
	}
}

// heapFigures records, when node t serves pprof, its Go heap figures after
// a forced collection, and saves its heap profile in dir.
func heapFigures(ctx context.Context, res *Result, t string, total float64, dir, prefix string) {
	code, body, err := getBody(ctx, http.MethodGet, "http://"+t+"/debug/pprof/heap?gc=1&debug=1")
	if err != nil || code != http.StatusOK {
		return
	}
	ms := parseMemStats(body)
	res.Gauge(prefix+"heap_live_mib."+t, float64(ms["HeapAlloc"])/(1<<20))
	res.Gauge(prefix+"heap_live_bytes_per_instance."+t, float64(ms["HeapAlloc"])/total)
	res.Gauge(prefix+"heap_sys_mib."+t, float64(ms["HeapSys"])/(1<<20))
	res.Gauge(prefix+"heap_released_mib."+t, float64(ms["HeapReleased"])/(1<<20))
	res.Gauge(prefix+"gc_count."+t, float64(ms["NumGC"]))
	if code, body, err := getBody(ctx, http.MethodGet, "http://"+t+"/debug/pprof/heap"); err == nil && code == http.StatusOK {
		name := filepath.Join(dir, prefix+"heap-"+strings.ReplaceAll(t, ":", "_")+".pb.gz")
		if err := os.WriteFile(name, body, 0o644); err != nil {
			res.Note("node %s: heap profile not saved: %v", t, err)
		}
	}
}

// parseMemStats reads the "# Name = value" lines of a debug=1 heap
// profile (runtime.MemStats).
func parseMemStats(b []byte) map[string]int64 {
	out := map[string]int64{}
	sc := bufio.NewScanner(bytes.NewReader(b))
	sc.Buffer(make([]byte, 64<<10), 4<<20)
	for sc.Scan() {
		name, val, ok := strings.Cut(strings.TrimPrefix(sc.Text(), "# "), " = ")
		if !ok || strings.ContainsAny(name, " []") {
			continue
		}
		if f := strings.Fields(val); len(f) > 0 {
			if n, err := strconv.ParseInt(f[0], 10, 64); err == nil {
				out[name] = n
			}
		}
	}
	return out
}

// restartNode SIGKILLs target i (its PID from cfg.PIDs), starts it again
// with the same command line, environment and directory, and waits until
// it reports ready. It returns how long that took and the new PID; the
// restarted node outlives the benchmark, like the one it replaced.
func restartNode(ctx context.Context, cfg Config, i int) (time.Duration, int, error) {
	node, err := processLaunch(cfg.PIDs[i])
	if err != nil {
		return 0, 0, err
	}
	cmd, _, t0, err := node.killAndRestart("memory")
	if err != nil {
		return 0, 0, err
	}
	if err := waitFor(ctx, cfg.Settle+time.Minute, func() bool { return ready(ctx, cfg.Targets[i]) }); err != nil {
		return 0, 0, fmt.Errorf("bench: %s never became ready: %w", cfg.Targets[i], err)
	}
	return time.Since(t0), cmd.Process.Pid, nil
}
