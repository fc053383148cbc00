package bench

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// The cluster scenarios (join, verify, heal) run against a real distrod
// cluster: they read /distrod/status and /metrics, and heal needs the nodes
// started with fault injection (DISTROD_FAULT_INJECTION=true) for
// /distrod/debug/partition. scripts/cluster.sh starts such a cluster.

// ErrNeedsCluster is returned when a cluster scenario's preconditions fail.
var ErrNeedsCluster = errors.New("bench: scenario needs a distrod cluster")

// nodeStatus is the part of /distrod/status the scenarios read.
type nodeStatus struct {
	Ready     bool   `json:"ready"`
	Digest    string `json:"digest"`
	Instances int    `json:"instances"`
	Members   []struct {
		Address string `json:"address"`
		State   string `json:"state"`
	} `json:"members"`
}

var plainHTTP = &http.Client{Transport: &http.Transport{Proxy: nil}, Timeout: 5 * time.Second}

func getBody(ctx context.Context, method, u string) (int, []byte, error) {
	req, err := http.NewRequestWithContext(ctx, method, u, nil)
	if err != nil {
		return 0, nil, err
	}
	resp, err := plainHTTP.Do(req)
	if err != nil {
		return 0, nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return resp.StatusCode, b, err
}

func readStatus(ctx context.Context, target string) (nodeStatus, error) {
	var st nodeStatus
	code, b, err := getBody(ctx, http.MethodGet, "http://"+target+"/distrod/status")
	if err != nil {
		return st, err
	}
	if code != http.StatusOK {
		return st, fmt.Errorf("%w: %s/distrod/status answered %d", ErrNeedsCluster, target, code)
	}
	return st, json.Unmarshal(b, &st)
}

func ready(ctx context.Context, target string) bool {
	code, _, err := getBody(ctx, http.MethodGet, "http://"+target+"/nacos/v1/console/health/readiness")
	return err == nil && code == http.StatusOK
}

// sameDigest reports whether every target reports the same digest.
func sameDigest(ctx context.Context, targets []string) bool {
	first := ""
	for i, t := range targets {
		st, err := readStatus(ctx, t)
		if err != nil {
			return false
		}
		if i == 0 {
			first = st.Digest
		} else if st.Digest != first {
			return false
		}
	}
	return true
}

// scrapeMetrics returns every sample of http://target/metrics keyed by
// "name{labels}" as written on the page.
func scrapeMetrics(ctx context.Context, target string) (map[string]float64, error) {
	code, b, err := getBody(ctx, http.MethodGet, "http://"+target+"/metrics")
	if err != nil {
		return nil, err
	}
	if code != http.StatusOK {
		return nil, fmt.Errorf("bench: %s/metrics answered %d", target, code)
	}
	out := map[string]float64{}
	sc := bufio.NewScanner(bytes.NewReader(b))
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if line == "" || line[0] == '#' {
			continue
		}
		i := strings.LastIndexByte(line, ' ')
		if i < 0 {
			continue
		}
		v, err := strconv.ParseFloat(line[i+1:], 64)
		if err == nil {
			out[line[:i]] = v
		}
	}
	return out, sc.Err()
}

// loadCluster registers cfg.Services services of cfg.Instances instances
// each by BatchInstanceRequest over cfg.Clients connections spread over
// targets, and returns the open connections: the instances live as long as
// they do.
func loadCluster(ctx context.Context, cfg Config, targets []string, prefix string, rec *Recorder) ([]*GRPCConn, error) {
	conns, err := dialAll(ctx, cfg, cfg.Clients, func(i int) string { return targets[i%len(targets)] }, nil)
	if err != nil {
		return nil, err
	}
	// One Recorder per client (a Recorder is not safe for concurrent use),
	// merged into rec at the end.
	recs := make([]*Recorder, cfg.Clients)
	_ = forEachClient(cfg.Clients, func(c int) error {
		r := NewRecorder()
		recs[c] = r
		insts := make([]Instance, cfg.Instances)
		for s := c; s < cfg.Services; s += cfg.Clients {
			for j := range insts {
				insts[j] = BenchInstance(uint64(s)*uint64(cfg.Instances) + uint64(j))
			}
			observe(ctx, r, OpBatch, func() error {
				return conns[c].BatchRegister(ctx, cfg.Namespace, prefix+strconv.Itoa(s), insts)
			})
		}
		return nil
	})
	for _, r := range recs {
		if r != nil {
			rec.Merge(r)
		}
	}
	return conns, nil
}

// waitLoaded waits until target serves the first and last service complete.
func waitLoaded(ctx context.Context, cfg Config, target, prefix string) error {
	hc := NewHTTPClient(target, cfg.Timeout)
	defer hc.Close()
	return waitFor(ctx, cfg.Settle, func() bool {
		for _, s := range []int{0, cfg.Services - 1} {
			si, err := hc.List(ctx, cfg.Namespace, prefix+strconv.Itoa(s))
			if err != nil || len(si.Hosts) < cfg.Instances {
				return false
			}
		}
		return true
	})
}

// Join measures how long a fresh node takes to become ready against a
// cluster holding Services x Instances instances: it loads the data through
// the other targets, SIGKILLs the last target (its PID from -pids), starts
// it again with the same command line, environment and directory, and
// times the restart until readiness. At that moment the node must already
// serve the data.
func Join(ctx context.Context, cfg Config) (*Result, error) {
	if len(cfg.Targets) < 2 || len(cfg.PIDs) != len(cfg.Targets) {
		return nil, fmt.Errorf("%w: join needs at least two targets and -pids for each", ErrNeedsCluster)
	}
	res := newResult("join", cfg)
	last := len(cfg.Targets) - 1
	joiner, pid := cfg.Targets[last], cfg.PIDs[last]
	node, err := processLaunch(pid)
	if err != nil {
		return nil, err
	}
	prefix, conns, err := preloadJoiner(ctx, cfg, res, cfg.Targets[:last], joiner)
	if err != nil {
		return nil, err
	}
	defer closeAll(conns)
	if err := timeJoin(ctx, cfg, res, node, joiner, prefix, "join"); err != nil {
		return nil, err
	}
	return res, nil
}

// preloadJoiner loads services x instances through the writers (as
// loadCluster, recorded as OpBatch in res) under a fresh prefix, and waits
// until joiner serves them. The caller closes conns.
func preloadJoiner(ctx context.Context, cfg Config, res *Result, writers []string, joiner string) (string, []*GRPCConn, error) {
	prefix := "bench-" + res.Scenario + "-" + runID() + "-"
	rec := NewRecorder()
	start := time.Now()
	conns, err := loadCluster(ctx, cfg, writers, prefix, rec)
	if err != nil {
		return "", nil, err
	}
	res.AddOp(OpBatch, rec, time.Since(start))
	if err := waitLoaded(ctx, cfg, joiner, prefix); err != nil {
		closeAll(conns)
		return "", nil, fmt.Errorf("bench: data never reached %s before the restart: %w", joiner, err)
	}
	return prefix, conns, nil
}

// timeJoin SIGKILLs and restarts node, the process of target joiner, and
// records the time until it is ready (join_seconds); at that moment it
// must already serve the services x instances loaded under prefix.
func timeJoin(ctx context.Context, cfg Config, res *Result, node launch, joiner, prefix, logName string) error {
	cmd, logPath, t0, err := node.killAndRestart(logName)
	if err != nil {
		return err
	}
	if err := waitFor(ctx, cfg.Settle+time.Minute, func() bool { return ready(ctx, joiner) }); err != nil {
		return fmt.Errorf("bench: %s never became ready: %w", joiner, err)
	}
	joined := time.Since(t0)
	if err := waitLoaded(ctx, Config{Settle: time.Millisecond, Timeout: cfg.Timeout, Namespace: cfg.Namespace, Services: cfg.Services, Instances: cfg.Instances}, joiner, prefix); err != nil {
		res.Note("%s reported ready before it served the loaded data", joiner)
	}
	res.Gauge("instances", float64(cfg.Services*cfg.Instances))
	res.Gauge("join_seconds", joined.Seconds())
	res.Note("%s restarted as pid %d (log %s)", joiner, cmd.Process.Pid, logPath)
	return nil
}

func nameOf(f *os.File) string {
	if f == nil {
		return "discarded"
	}
	return f.Name()
}

// launch is how a node process was started: enough to start it again.
type launch struct {
	pid       int
	argv, env []string
	dir       string
}

// processLaunch reads how pid was started from /proc.
func processLaunch(pid int) (launch, error) {
	base := "/proc/" + strconv.Itoa(pid)
	cmdline, err := os.ReadFile(base + "/cmdline")
	if err != nil {
		return launch{}, fmt.Errorf("bench: read command line of pid %d: %w", pid, err)
	}
	environ, err := os.ReadFile(base + "/environ")
	if err != nil {
		return launch{}, fmt.Errorf("bench: read environment of pid %d: %w", pid, err)
	}
	dir, err := os.Readlink(base + "/cwd")
	if err != nil {
		return launch{}, fmt.Errorf("bench: read directory of pid %d: %w", pid, err)
	}
	split := func(b []byte) []string {
		var out []string
		for _, s := range bytes.Split(bytes.TrimRight(b, "\x00"), []byte{0}) {
			out = append(out, string(s))
		}
		return out
	}
	argv := split(cmdline)
	if exe, err := os.Readlink(base + "/exe"); err == nil {
		argv[0] = exe
	}
	return launch{pid: pid, argv: argv, env: split(environ), dir: dir}, nil
}

// start starts the node again with its command line, environment and
// directory, its output in a temp file named after logName (the log's
// path is returned, "discarded" if none could be made). The new process
// outlives the benchmark, like the one it replaces.
func (l launch) start(logName string) (*exec.Cmd, string, error) {
	cmd := exec.Command(l.argv[0], l.argv[1:]...)
	cmd.Env, cmd.Dir = l.env, l.dir
	logf, _ := os.CreateTemp("", "distrod-"+logName+"-*.log")
	if logf != nil {
		cmd.Stdout, cmd.Stderr = logf, logf
		// The child holds its own copy of the file once started.
		defer logf.Close()
	}
	if err := cmd.Start(); err != nil {
		return nil, "", fmt.Errorf("bench: restart %s: %w", l.argv[0], err)
	}
	go func() { _ = cmd.Wait() }()
	return cmd, nameOf(logf), nil
}

// killAndRestart SIGKILLs the node, waits for it to exit and starts it
// again (start); it returns when the new process was started.
func (l launch) killAndRestart(logName string) (*exec.Cmd, string, time.Time, error) {
	if err := syscall.Kill(l.pid, syscall.SIGKILL); err != nil {
		return nil, "", time.Time{}, fmt.Errorf("bench: kill %d: %w", l.pid, err)
	}
	waitExit(l.pid, 10*time.Second)
	t0 := time.Now()
	cmd, log, err := l.start(logName)
	return cmd, log, t0, err
}

func waitExit(pid int, d time.Duration) {
	deadline := time.Now().Add(d)
	for time.Now().Before(deadline) {
		if err := syscall.Kill(pid, 0); err != nil {
			return
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// verifyTypes are the message types of anti-entropy (not replication).
var verifyTypes = []string{"VerifyDigest", "VerifyRequest", "VerifyKeys", "PullRequest", "Records"}

// VerifyTraffic measures anti-entropy traffic at steady state: it loads
// Services publications (one record each) of Instances instances, waits
// until all nodes hold identical data, then reads each node's verify byte
// counters and verify rounds over Duration.
func VerifyTraffic(ctx context.Context, cfg Config) (*Result, error) {
	res := newResult("verify", cfg)
	prefix := "bench-verify-" + runID() + "-"
	rec := NewRecorder()
	start := time.Now()
	conns, err := loadCluster(ctx, cfg, cfg.Targets, prefix, rec)
	if err != nil {
		return nil, err
	}
	defer closeAll(conns)
	res.AddOp(OpBatch, rec, time.Since(start))
	if err := waitFor(ctx, cfg.Settle, func() bool { return sameDigest(ctx, cfg.Targets) }); err != nil {
		return nil, fmt.Errorf("bench: nodes did not converge before measuring: %w", err)
	}
	sample := func(t string) (bytes, rounds float64, err error) {
		m, err := scrapeMetrics(ctx, t)
		if err != nil {
			return 0, 0, err
		}
		for _, typ := range verifyTypes {
			bytes += m[`distrod_distro_sent_bytes_total{type="`+typ+`"}`]
		}
		return bytes, m["distrod_distro_verify_rounds_total"], nil
	}
	type mark struct{ bytes, rounds float64 }
	before := make([]mark, len(cfg.Targets))
	for i, t := range cfg.Targets {
		b, r, err := sample(t)
		if err != nil {
			return nil, err
		}
		before[i] = mark{b, r}
	}
	t0 := time.Now()
	select {
	case <-ctx.Done():
		return nil, ctx.Err()
	case <-time.After(cfg.Duration):
	}
	el := time.Since(t0).Seconds()
	res.Gauge("records", float64(cfg.Services))
	for i, t := range cfg.Targets {
		b, r, err := sample(t)
		if err != nil {
			return nil, err
		}
		db, dr := b-before[i].bytes, r-before[i].rounds
		res.Gauge("verify_bytes_per_s."+t, db/el)
		if dr > 0 {
			res.Gauge("verify_bytes_per_round."+t, db/dr)
		}
	}
	return res, nil
}

// Heal measures convergence after a partition: it cuts the last target off
// from the others (/distrod/debug/partition), waits until both sides see
// each other DOWN, registers Services instances over HTTP v1 on each side,
// heals, and times until every node reports the same digest.
func Heal(ctx context.Context, cfg Config) (*Result, error) {
	if len(cfg.Targets) < 2 {
		return nil, fmt.Errorf("%w: heal needs at least two targets", ErrNeedsCluster)
	}
	res := newResult("heal", cfg)
	last := len(cfg.Targets) - 1
	cut, rest := cfg.Targets[last], cfg.Targets[:last]
	var peers []string
	for _, t := range rest {
		peers = append(peers, addrOf(t))
	}
	partition := func(block string) error {
		code, b, err := getBody(ctx, http.MethodPost, "http://"+cut+"/distrod/debug/partition?block="+block)
		if err != nil {
			return err
		}
		if code != http.StatusOK {
			return fmt.Errorf("%w: %s/distrod/debug/partition answered %d %s (start the nodes with DISTROD_FAULT_INJECTION=true)", ErrNeedsCluster, cut, code, b)
		}
		return nil
	}
	if err := partition(strings.Join(peers, ",")); err != nil {
		return nil, err
	}
	healed := false
	defer func() {
		if !healed {
			_ = partition("")
		}
	}()
	down := func(t string, others []string) bool {
		st, err := readStatus(ctx, t)
		if err != nil {
			return false
		}
		n := 0
		for _, m := range st.Members {
			for _, o := range others {
				if m.Address == o && m.State == "DOWN" {
					n++
				}
			}
		}
		return n == len(others)
	}
	if err := waitFor(ctx, cfg.Settle, func() bool {
		if !down(cut, peers) {
			return false
		}
		for _, t := range rest {
			if !down(t, []string{addrOf(cut)}) {
				return false
			}
		}
		return true
	}); err != nil {
		return nil, fmt.Errorf("bench: the partition was never detected: %w", err)
	}
	rec := NewRecorder()
	prefix := "bench-heal-" + runID()
	for side, t := range []string{rest[0], cut} {
		hc := NewHTTPClient(t, cfg.Timeout)
		for i := 0; i < cfg.Services; i++ {
			inst := BenchInstance(uint64(side)<<32 | uint64(i))
			observe(ctx, rec, "register-partitioned", func() error { return hc.Register(ctx, cfg.Namespace, prefix, inst) })
		}
		hc.Close()
	}
	res.AddOp("register-partitioned", rec, time.Second)
	if err := partition(""); err != nil {
		return nil, err
	}
	healed = true
	t0 := time.Now()
	if err := waitFor(ctx, cfg.Settle+30*time.Second, func() bool { return sameDigest(ctx, cfg.Targets) }); err != nil {
		return nil, fmt.Errorf("bench: no convergence after the heal: %w", err)
	}
	res.Gauge("heal_seconds", time.Since(t0).Seconds())
	res.Gauge("writes_per_side", float64(cfg.Services))
	return res, nil
}

// addrOf maps a target (host:port) to the member address the nodes use.
func addrOf(target string) string {
	if strings.HasPrefix(target, "localhost:") {
		return "127.0.0.1:" + strings.TrimPrefix(target, "localhost:")
	}
	return target
}
