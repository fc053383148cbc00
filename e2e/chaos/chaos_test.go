package chaos

import (
	"bufio"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/distrod/distrod/internal/testutil"
)

// defaultSeed is the fault schedule of the short run in the test command:
// fixed, so that a red CI points at a change and not at the schedule drawn
// that day. Long runs pick their seeds with -chaos.seed (0: from the clock).
const defaultSeed = 6

var (
	flagSeed      = flag.Uint64("chaos.seed", defaultSeed, "seed of the fault schedule and the clients' decisions (0: derived from the clock, and printed)")
	flagNodes     = flag.Int("chaos.nodes", 3, "number of distrod nodes")
	flagDuration  = flag.Duration("chaos.duration", 40*time.Second, "length of the fault phase (the quiet period comes on top)")
	flagFaults    = flag.Int("chaos.faults", 1, "most faults at once")
	flagHTTP      = flag.Int("chaos.http", 8, "number of HTTP v1 beat clients")
	flagSDK       = flag.Int("chaos.sdk", 3, "number of nacos-sdk-go v2 clients")
	flagCP        = flag.Int("chaos.cp", 3, "number of control plane clients (namespace writes and linearizable reads, checked with porcupine)")
	flagQuiet     = flag.Duration("chaos.quiet", 30*time.Second, "longest quiet period after the faults: the bound on convergence (I1)")
	flagLogLevel  = flag.String("chaos.loglevel", "info", "the nodes' log level (debug logs every record change)")
	flagExpiry    = flag.Duration("chaos.expirybound", 5*time.Second, "how long after the delete timeout a silent instance may still be listed (I8)")
	flagSync      = flag.Duration("chaos.syncbound", 5*time.Second, "how long after the links healed a ready node may lack what every other ready node lists (I5)")
	flagArtifacts = flag.String("chaos.artifacts", "", "directory for logs, events and the report (default: the test's temporary directory)")
)

// Node timings: short enough that a two-minute run sees many expiries.
// The snapshot load timeout keeps its default: restarted nodes load as in
// production.
const (
	beatInterval    = time.Second
	unhealthyAfter  = 3 * time.Second
	deleteAfter     = 6 * time.Second
	clientTimeout   = 5 * time.Second
	startGrace      = 5 * time.Second
	maxChaosNodes   = 9
	httpPort        = 8848
	clusterSecret   = "chaos-secret"
	logTailBytes    = 6000
	reportedPerKind = 8
	// cpFinalBound is how long the client retries a node's final control
	// plane read after the quiet period began.
	cpFinalBound = 30 * time.Second
	// cpCheckTimeout bounds porcupine's search.
	cpCheckTimeout = 60 * time.Second
)

// nodeProc is one distrod process in its namespace.
type nodeProc struct {
	t    *testing.T
	i    int
	ns   string
	addr string
	bin  string
	env  []string
	home string
	log  string

	mu     sync.Mutex
	cmd    *exec.Cmd
	done   chan struct{}
	killed bool
}

func (p *nodeProc) start() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	f, err := os.OpenFile(p.log, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return fmt.Errorf("chaos: node log: %w", err)
	}
	fmt.Fprintf(f, "==== chaos: start %s at %s\n", p.addr, time.Now().UTC().Format(time.RFC3339Nano))
	// ip netns exec execs the binary itself: the pid is distrod's.
	cmd := exec.Command("ip", "netns", "exec", p.ns, p.bin)
	cmd.Env = append([]string{"PATH=" + os.Getenv("PATH"), "HOME=" + p.home}, p.env...)
	cmd.Stdout, cmd.Stderr, cmd.Dir = f, f, p.home
	if err := cmd.Start(); err != nil {
		f.Close()
		return fmt.Errorf("chaos: start %s: %w", p.addr, err)
	}
	done := make(chan struct{})
	p.cmd, p.done, p.killed = cmd, done, false
	go func() {
		err := cmd.Wait()
		f.Close()
		p.mu.Lock()
		killed := p.killed
		p.mu.Unlock()
		if !killed {
			p.t.Errorf("node %s exited by itself: %v (log %s)", p.addr, err, p.log)
		}
		close(done)
	}()
	return nil
}

// kill sends SIGKILL and waits for the exit.
func (p *nodeProc) kill() {
	p.mu.Lock()
	cmd, done := p.cmd, p.done
	p.killed = true
	p.cmd = nil
	p.mu.Unlock()
	if cmd == nil {
		return
	}
	_ = cmd.Process.Signal(syscall.SIGKILL)
	<-done
}

func (p *nodeProc) running() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.cmd != nil
}

func tail(path string, n int) string {
	b, _ := os.ReadFile(path)
	if len(b) > n {
		b = b[len(b)-n:]
	}
	return string(b)
}

func canRun(t *testing.T) {
	if testing.Short() {
		t.Skip("chaos: -short: skipping the real-process chaos test")
	}
	if os.Geteuid() != 0 {
		t.Skip("chaos: needs root to create network namespaces; run as root (go test ./e2e/chaos)")
	}
	for _, tool := range []string{"ip", "iptables", "iptables-restore"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Skipf("chaos: %s not found (apt-get install -y iproute2 iptables): %v", tool, err)
		}
	}
	probe := fmt.Sprintf("%sprobe%d", nsPrefix, os.Getpid())
	if err := run("ip", "netns", "add", probe); err != nil {
		t.Skipf("chaos: cannot create network namespaces here: %v", err)
	}
	_ = run("ip", "netns", "del", probe)
}

func build(t *testing.T, dir, pkg, name string) string {
	t.Helper()
	out := filepath.Join(dir, name)
	cmd := exec.Command("go", "build", "-o", out, pkg)
	cmd.Dir = testutil.ModuleRoot()
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build %s: %v\n%s", pkg, err, b)
	}
	return out
}

// TestChaos runs a distrod cluster of real processes in network
// namespaces under a seeded nemesis (partitions, isolation, SIGKILL and
// restart, flapping links) with HTTP v1 and nacos-sdk-go v2 clients, and
// checks Distro's invariants continuously from the clients' histories.
// See doc.go.
func TestChaos(t *testing.T) {
	canRun(t)
	seed := *flagSeed
	if seed == 0 {
		seed = uint64(time.Now().UnixNano()%1_000_000) + 1
	}
	nodes, faults := *flagNodes, *flagFaults
	if nodes < 2 || nodes > maxChaosNodes {
		t.Fatalf("-chaos.nodes=%d: use 2..%d", nodes, maxChaosNodes)
	}
	if faults < 1 {
		faults = 1
	}
	repro := fmt.Sprintf("go test ./e2e/chaos -run 'TestChaos$' -chaos.seed=%d -chaos.nodes=%d -chaos.duration=%v -chaos.faults=%d -chaos.http=%d -chaos.sdk=%d -chaos.cp=%d -v",
		seed, nodes, *flagDuration, faults, *flagHTTP, *flagSDK, *flagCP)
	t.Logf("chaos: seed %d; reproduce the schedule with:\n  %s", seed, repro)

	dir := *flagArtifacts
	if dir == "" {
		dir = t.TempDir()
	} else if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	t.Logf("chaos: artifacts in %s", dir)
	binDir := t.TempDir()
	distrod := build(t, binDir, "./cmd/distrod", "distrod")
	client := build(t, binDir, "./e2e/chaos/cmd/chaosclient", "chaosclient")

	nw := newNetwork(t, nodes)
	var addrs []string
	for i := range nodes {
		addrs = append(addrs, nodeIP(i)+":"+strconv.Itoa(httpPort))
	}
	procs := make([]*nodeProc, nodes)
	for i := range nodes {
		// Every run starts from empty nodes: an artifacts directory reused
		// from an earlier run still holds that run's control-plane data.
		home := filepath.Join(dir, fmt.Sprintf("n%d", i+1))
		if err := os.RemoveAll(home); err != nil {
			t.Fatal(err)
		}
		if err := os.MkdirAll(home, 0o755); err != nil {
			t.Fatal(err)
		}
		procs[i] = &nodeProc{t: t, i: i, ns: nw.nodes[i], addr: addrs[i], bin: distrod, home: home,
			log: filepath.Join(dir, fmt.Sprintf("n%d.log", i+1)),
			env: []string{
				"MODE=cluster",
				"NACOS_SERVER_IP=" + nodeIP(i),
				"NACOS_APPLICATION_PORT=" + strconv.Itoa(httpPort),
				"NACOS_SERVERS=" + strings.Join(addrs, " "),
				"NACOS_HOME=" + home,
				"DISTROD_CLUSTER_SECRET=" + clusterSecret,
				"DISTROD_BEAT_INTERVAL=" + beatInterval.String(),
				"DISTROD_INSTANCE_UNHEALTHY_AFTER=" + unhealthyAfter.String(),
				"DISTROD_INSTANCE_DELETE_AFTER=" + deleteAfter.String(),
				"DISTROD_LOG_LEVEL=" + *flagLogLevel,
			}}
	}
	// Cleanups run in reverse: nodes are killed before the namespaces go.
	t.Cleanup(func() {
		for _, p := range procs {
			p.kill()
		}
		if t.Failed() {
			for _, p := range procs {
				t.Logf("chaos: log of node %s (tail):\n%s", p.addr, tail(p.log, logTailBytes))
			}
		}
	})

	start := time.Now()
	// The nodes run the default verify interval (1 s): the rejoin hold is
	// 2 s. They see a heal within one probe interval and timeout (0.5 s +
	// 1 s); the repairs of what they decided before take a verify round.
	chk := newChecker(bounds{DeleteAfter: deleteAfter, ExpiryBound: *flagExpiry, CutOffExtra: deleteAfter + 2*time.Second,
		Detect: 2500 * time.Millisecond, FailedOp: clientTimeout,
		Sync: *flagSync, StartGrace: startGrace}, start, addrs)
	for i, p := range procs {
		chk.nodeUp(addrs[i], time.Now())
		if err := p.start(); err != nil {
			t.Fatal(err)
		}
	}

	// The client process: workload and poller, in the clients' namespace.
	cmd := exec.Command("ip", "netns", "exec", nw.client, client,
		"-nodes", strings.Join(addrs, ","), "-seed", strconv.FormatUint(seed, 10),
		"-http", strconv.Itoa(*flagHTTP), "-sdk", strconv.Itoa(*flagSDK),
		"-cp", strconv.Itoa(*flagCP), "-cpfinal", cpFinalBound.String(),
		"-beat", beatInterval.String(), "-timeout", clientTimeout.String(), "-dir", filepath.Join(dir, "sdk"))
	cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "HOME=" + dir}
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	clientLog, err := os.Create(filepath.Join(dir, "chaosclient.log"))
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = clientLog
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	events, err := os.Create(filepath.Join(dir, "events.jsonl"))
	if err != nil {
		t.Fatal(err)
	}
	readDone := make(chan struct{})
	go func() {
		defer close(readDone)
		sc := bufio.NewScanner(stdout)
		sc.Buffer(make([]byte, 1<<20), 1<<22)
		for sc.Scan() {
			_, _ = events.Write(append(sc.Bytes(), '\n'))
			var ev Event
			if err := json.Unmarshal(sc.Bytes(), &ev); err != nil {
				t.Errorf("chaos: bad event line %q: %v", sc.Text(), err)
				continue
			}
			chk.feed(ev)
		}
	}()
	clientDone := make(chan error, 1)
	go func() { <-readDone; clientDone <- cmd.Wait() }()
	stopClient := sync.OnceFunc(func() {
		_, _ = io.WriteString(stdin, "stop\n")
		select {
		case err := <-clientDone:
			if err != nil {
				t.Errorf("chaos: client process: %v (log %s)", err, clientLog.Name())
			}
		case <-time.After(30 * time.Second):
			_ = cmd.Process.Kill()
			<-clientDone
			t.Errorf("chaos: client process did not stop within 30s; killed")
		}
		_ = events.Close()
		_ = clientLog.Close()
	})
	// Clients stop before the nodes and the namespaces (cleanups run in
	// reverse order).
	t.Cleanup(stopClient)

	// Every node ready before the nemesis starts.
	if err := testutil.Poll(60*time.Second, func() error {
		for _, a := range addrs {
			if !chk.isReady(a) {
				return fmt.Errorf("%s not ready", a)
			}
		}
		return nil
	}); err != nil {
		t.Fatalf("chaos: cluster not ready within 60s: %v", err)
	}

	// The nemesis.
	sched := schedule(seed, nodes, *flagDuration, faults)
	var plan []string
	for _, f := range sched {
		plan = append(plan, "  "+f.String())
	}
	t.Logf("chaos: %d faults:\n%s", len(sched), strings.Join(plan, "\n"))
	nemStart := time.Now()
	chk.note(nemStart, "nemesis starts")
	active, down := map[int]bool{}, map[int]bool{}
	applyLinks := func() {
		cut := cutPairs(sched, active, down, nodes)
		if err := nw.setBlocked(cut); err != nil {
			t.Errorf("chaos: %v", err)
		}
		chk.links(time.Now(), len(cut) > 0)
	}
	for _, a := range timeline(sched) {
		if d := time.Until(nemStart.Add(a.At)); d > 0 {
			<-time.After(d) // the schedule's own clock, not a wait for a condition
		}
		f := sched[a.Fault]
		now := time.Now()
		switch {
		case f.Kind == faultKill && a.What == "begin":
			chk.nodeDown(addrs[f.Node], now)
			procs[f.Node].kill()
		case f.Kind == faultKill && a.What == "end":
			chk.nodeUp(addrs[f.Node], now)
			if err := procs[f.Node].start(); err != nil {
				t.Error(err)
			}
		case a.What == "begin":
			chk.note(now, "begin %s", f)
			active[a.Fault], down[a.Fault] = true, true
			applyLinks()
		case a.What == "toggle":
			down[a.Fault] = !down[a.Fault]
			applyLinks()
		case a.What == "end":
			chk.note(now, "end %s", f)
			delete(active, a.Fault)
			delete(down, a.Fault)
			applyLinks()
		}
	}
	// Everything healed: no cut link, every node running.
	clear(active)
	applyLinks()
	for i, p := range procs {
		if !p.running() {
			chk.nodeUp(addrs[i], time.Now())
			if err := p.start(); err != nil {
				t.Error(err)
			}
		}
	}

	// Quiet period: clients stop changing registrations; the cluster must
	// converge on exactly the live clients' instances within the bound.
	if _, err := io.WriteString(stdin, "quiet\n"); err != nil {
		t.Fatalf("chaos: telling the client to be quiet: %v", err)
	}
	quietStart := time.Now()
	why := ""
	convErr := testutil.Poll(*flagQuiet, func() error {
		if ok, w := chk.converged(time.Now()); !ok {
			why = w
			return errors.New(w)
		}
		return nil
	})
	if convErr == nil {
		t.Logf("chaos: converged %v after the faults stopped", time.Since(quietStart).Round(time.Millisecond))
		// Keep checking a little longer: late resurrections show after
		// convergence. (A part of the run, not a wait for a condition.)
		<-time.After(5 * time.Second)
	}
	chk.final(convErr == nil, why, *flagQuiet)
	cpSummary := "control plane: no CP clients (-chaos.cp=0)"
	if *flagCP > 0 {
		// The client reads every node once its CP clients stopped (at
		// quiet); that ends within cpFinalBound and the client timeout.
		_ = testutil.Poll(cpFinalBound+clientTimeout+5*time.Second, func() error {
			if !chk.cpEnd() {
				return errors.New("final control plane reads not over")
			}
			return nil
		})
		vis := ""
		if *flagArtifacts != "" {
			vis = cpVisualizePath(dir)
		}
		cpSummary = chk.checkCP(vis, cpCheckTimeout)
		t.Logf("chaos: %s", cpSummary)
	}
	stopClient()

	// Report.
	counts, viols := chk.violations()
	var rep strings.Builder
	fmt.Fprintf(&rep, "chaos run: seed %d, %d nodes, %v faults phase, up to %d faults at once, %d HTTP + %d SDK + %d CP clients, %v total\n",
		seed, nodes, *flagDuration, faults, *flagHTTP, *flagSDK, *flagCP, time.Since(start).Round(time.Second))
	fmt.Fprintf(&rep, "reproduce: %s\n", repro)
	fmt.Fprintf(&rep, "%s\n", cpSummary)
	fmt.Fprintf(&rep, "violations per invariant: %v\n\n", counts)
	shown := map[string]int{}
	for _, v := range viols {
		if shown[v.Inv]++; shown[v.Inv] <= reportedPerKind {
			rep.WriteString(chk.explain(v))
		}
	}
	fmt.Fprintf(&rep, "\nnemesis timeline:\n%s\n", chk.timelineText())
	_ = os.WriteFile(filepath.Join(dir, "report.txt"), []byte(rep.String()), 0o644)
	if len(viols) > 0 {
		t.Errorf("chaos: invariants violated (%v); first %d per invariant below, all in %s\n%s",
			counts, reportedPerKind, filepath.Join(dir, "report.txt"), rep.String())
	} else {
		t.Logf("chaos: no violation\n%s", rep.String())
	}
}
