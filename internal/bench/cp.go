package bench

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// The control plane scenarios (cpwrite, cprestart) run against a real
// distrod cluster: they find the Raft leader from /distrod/cp and write
// through the Nacos HTTP API, whose control plane writes go through Raft.

// cpStatus is the part of /distrod/cp the scenarios read.
type cpStatus struct {
	State        string `json:"state"`
	Leader       string `json:"leader"`
	AppliedIndex uint64 `json:"appliedIndex"`
	CommitIndex  uint64 `json:"commitIndex"`
}

func readCP(ctx context.Context, target string) (cpStatus, error) {
	var st cpStatus
	code, b, err := getBody(ctx, http.MethodGet, "http://"+target+"/distrod/cp")
	if err != nil {
		return st, err
	}
	if code != http.StatusOK {
		return st, fmt.Errorf("%w: %s/distrod/cp answered %d", ErrNeedsCluster, target, code)
	}
	return st, json.Unmarshal(b, &st)
}

// leaderIndex returns the index in targets of the Raft leader, waiting up
// to d for one to be elected.
func leaderIndex(ctx context.Context, targets []string, d time.Duration) (int, error) {
	idx := -1
	err := waitFor(ctx, d, func() bool {
		st, err := readCP(ctx, targets[0])
		if err != nil || st.Leader == "" {
			return false
		}
		for i, t := range targets {
			if addrOf(t) == st.Leader {
				idx = i
				return true
			}
		}
		return false
	})
	if err != nil {
		return -1, fmt.Errorf("%w: no Raft leader among the targets: %v", ErrNeedsCluster, err)
	}
	return idx, nil
}

// CPWrite measures control plane write latency and throughput: namespace
// creations by POST /nacos/v1/console/namespaces, each one Raft entry, in
// four phases of Duration each: one writer on the leader, Clients writers
// on the leader, one writer on a follower (which forwards to the leader),
// and Clients writers on the follower. Every write creates a new
// namespace (bench-cp-<run>-<phase>-<client>-<seq>), so nothing conflicts;
// they stay in the cluster. Rate, if set, paces each phase.
func CPWrite(ctx context.Context, cfg Config) (*Result, error) {
	if len(cfg.Targets) < 2 {
		return nil, fmt.Errorf("%w: cpwrite needs at least two targets (a leader and a follower)", ErrNeedsCluster)
	}
	li, err := leaderIndex(ctx, cfg.Targets, cfg.Settle)
	if err != nil {
		return nil, err
	}
	fi := (li + 1) % len(cfg.Targets)
	res := newResult("cpwrite", cfg)
	res.Note("leader %s, follower %s", cfg.Targets[li], cfg.Targets[fi])
	run := runID()
	type phase struct {
		name    string
		target  string
		clients int
	}
	conc := "c" + strconv.Itoa(cfg.Clients)
	phases := []phase{
		{"leader-seq", cfg.Targets[li], 1},
		{"leader-" + conc, cfg.Targets[li], cfg.Clients},
		{"follower-seq", cfg.Targets[fi], 1},
		{"follower-" + conc, cfg.Targets[fi], cfg.Clients},
	}
	for _, ph := range phases {
		pc := cfg
		pc.Clients = ph.clients
		hcs := make([]*HTTPClient, ph.clients)
		for i := range hcs {
			hcs[i] = NewHTTPClient(ph.target, cfg.Timeout)
		}
		op := "ns-" + ph.name
		rec, elapsed := timed(ctx, pc, cfg.Rate, func(ctx context.Context, c int, seq uint64, rec *Recorder) {
			id := fmt.Sprintf("bench-cp-%s-%s-%d-%d", run, ph.name, c, seq)
			observe(ctx, rec, op, func() error { return hcs[c].CreateNamespace(ctx, id, id) })
		})
		for _, hc := range hcs {
			hc.Close()
		}
		rec.Declare(op)
		res.AddOp(op, rec, elapsed)
	}
	return res, nil
}

// CPRestart measures a cold restart of the whole cluster holding
// persistent instances: it registers Services x Instances persistent
// instances (POST /nacos/v1/ns/instance?ephemeral=false, each one Raft
// entry) with Clients HTTP writers spread over the targets, waits until
// every node serves them all, reads the Raft directory sizes and RSS,
// SIGKILLs every target (PIDs from -pids), starts them all again with the
// same command line, environment and directory, and times, per node, the
// restart until readiness, until its Raft applied index reaches the
// commit index read before the kill, and until it serves every instance
// again (a full listing of every service, which itself takes a moment). The
// instances' addresses (127.x.y.z) have no listener: run the nodes with a
// persistent-check-interval longer than the scenario
// (DISTROD_PERSISTENT_CHECK_INTERVAL=1h), or their probes turn every
// instance unhealthy, which is one more Raft write per instance.
func CPRestart(ctx context.Context, cfg Config) (*Result, error) {
	n := len(cfg.Targets)
	if n < 1 || len(cfg.PIDs) != n {
		return nil, fmt.Errorf("%w: cprestart needs -pids for every target", ErrNeedsCluster)
	}
	launches := make([]launch, n)
	for i, pid := range cfg.PIDs {
		l, err := processLaunch(pid)
		if err != nil {
			return nil, err
		}
		launches[i] = l
	}
	if _, err := leaderIndex(ctx, cfg.Targets, cfg.Settle); err != nil {
		return nil, err
	}
	res := newResult("cprestart", cfg)
	total := cfg.Services * cfg.Instances
	prefix := "bench-cprestart-" + runID() + "-"

	// Load: writer c registers instances k ≡ c (mod Clients) on
	// Targets[c mod n].
	recs := make([]*Recorder, cfg.Clients)
	start := time.Now()
	_ = forEachClient(cfg.Clients, func(c int) error {
		rec := NewRecorder()
		recs[c] = rec
		hc := NewHTTPClient(cfg.Targets[c%n], cfg.Timeout)
		defer hc.Close()
		p := newPacer(cfg.Rate, cfg.Clients)
		for k := c; k < total && p.wait(ctx); k += cfg.Clients {
			inst := BenchInstance(uint64(k))
			inst.Ephemeral = false
			svc := prefix + strconv.Itoa(k%cfg.Services)
			observe(ctx, rec, "register-persistent", func() error { return hc.Register(ctx, cfg.Namespace, svc, inst) })
		}
		return nil
	})
	loadElapsed := time.Since(start)
	rec := NewRecorder()
	for _, r := range recs {
		rec.Merge(r)
	}
	rec.Declare("register-persistent")
	res.AddOp("register-persistent", rec, loadElapsed)
	res.Gauge("instances", float64(total))
	for i, t := range cfg.Targets {
		if err := waitFor(ctx, cfg.Settle, func() bool { return servesAll(ctx, cfg, t, prefix) }); err != nil {
			return res, fmt.Errorf("bench: %s does not serve all %d instances before the restart: %w", t, total, err)
		}
		if i == 0 {
			res.Gauge("load_visible_everywhere_s", time.Since(start).Seconds())
		}
	}
	for i, t := range cfg.Targets {
		if v, err := ReadProcRSS(cfg.PIDs[i]); err == nil {
			res.Gauge("rss_before_mib."+t, float64(v)/(1<<20))
		}
		log, snaps := raftDiskUsage(launches[i].env, launches[i].dir)
		res.Gauge("raft_log_mib_before."+t, float64(log)/(1<<20))
		res.Gauge("raft_snapshots_mib_before."+t, float64(snaps)/(1<<20))
	}

	var commit uint64
	for _, t := range cfg.Targets {
		if st, err := readCP(ctx, t); err == nil {
			commit = max(commit, st.CommitIndex)
		}
	}
	res.Gauge("raft_commit_index", float64(commit))
	for _, pid := range cfg.PIDs {
		if err := syscall.Kill(pid, syscall.SIGKILL); err != nil {
			return res, fmt.Errorf("bench: kill %d: %w", pid, err)
		}
	}
	for _, pid := range cfg.PIDs {
		waitExit(pid, 10*time.Second)
	}
	t0 := time.Now()
	pids := make([]int, n)
	for i, l := range launches {
		cmd, logName, err := l.start("cprestart")
		if err != nil {
			return res, err
		}
		pids[i] = cmd.Process.Pid
		res.Note("%s restarted as pid %d (log %s)", cfg.Targets[i], pids[i], logName)
	}
	var wg sync.WaitGroup
	errs := make([]error, n)
	readyAt := make([]time.Duration, n)
	servesAt := make([]time.Duration, n)
	appliedAt := make([]time.Duration, n)
	for i, t := range cfg.Targets {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := waitFor(ctx, cfg.Settle, func() bool { return ready(ctx, t) }); err != nil {
				errs[i] = fmt.Errorf("bench: %s never became ready: %w", t, err)
				return
			}
			readyAt[i] = time.Since(t0)
			if err := waitFor(ctx, cfg.Settle, func() bool {
				st, err := readCP(ctx, t)
				return err == nil && st.AppliedIndex >= commit
			}); err != nil {
				errs[i] = fmt.Errorf("bench: %s never applied the log up to %d after the restart: %w", t, commit, err)
				return
			}
			appliedAt[i] = time.Since(t0)
			if err := waitFor(ctx, cfg.Settle, func() bool { return servesAll(ctx, cfg, t, prefix) }); err != nil {
				errs[i] = fmt.Errorf("bench: %s never served all %d instances after the restart: %w", t, total, err)
				return
			}
			servesAt[i] = time.Since(t0)
		}()
	}
	wg.Wait()
	var worst time.Duration
	for i, t := range cfg.Targets {
		if errs[i] != nil {
			return res, errs[i]
		}
		worst = max(worst, servesAt[i])
		res.Gauge("ready_s."+t, readyAt[i].Seconds())
		res.Gauge("applied_s."+t, appliedAt[i].Seconds())
		res.Gauge("serves_all_s."+t, servesAt[i].Seconds())
		if v, err := ReadProcRSS(pids[i]); err == nil {
			res.Gauge("rss_after_mib."+t, float64(v)/(1<<20))
		}
	}
	res.Gauge("restart_s", worst.Seconds())
	return res, nil
}

// servesAll reports whether target lists every instance of every service
// prefix0..prefix(Services-1); the last service is asked first, as a
// cheap test that fails while the node is still catching up.
func servesAll(ctx context.Context, cfg Config, target, prefix string) bool {
	hc := NewHTTPClient(target, cfg.Timeout)
	defer hc.Close()
	for s := cfg.Services - 1; s >= 0; s-- {
		si, err := hc.List(ctx, cfg.Namespace, prefix+strconv.Itoa(s))
		if err != nil || len(si.Hosts) < cfg.Instances {
			return false
		}
	}
	return true
}

// raftDiskUsage returns the sizes of a node's Raft log (raft.db) and
// snapshots, from the data directory in its environment
// (DISTROD_DATA_DIR, relative to dir); zeros when it has none.
func raftDiskUsage(env []string, dir string) (log, snaps int64) {
	data := ""
	for _, kv := range env {
		if v, ok := strings.CutPrefix(kv, "DISTROD_DATA_DIR="); ok {
			data = v
		}
	}
	if data == "" {
		return 0, 0
	}
	if !filepath.IsAbs(data) {
		data = filepath.Join(dir, data)
	}
	raftDir := filepath.Join(data, "raft")
	if fi, err := os.Stat(filepath.Join(raftDir, "raft.db")); err == nil {
		log = fi.Size()
	}
	_ = filepath.WalkDir(filepath.Join(raftDir, "snapshots"), func(_ string, d os.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			if fi, err := d.Info(); err == nil {
				snaps += fi.Size()
			}
		}
		return nil
	})
	return log, snaps
}
