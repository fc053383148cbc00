package bench

import (
	"bufio"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// The conns and reconnect scenarios hold many idle SDK connections on one
// node. One process cannot hold them all (20,000 open files each, and one
// client IP is capped by the node's max-connections-per-ip), so the
// scenario starts worker processes (distrod-bench conns-worker, the same
// binary) and spreads the connections over them and over source addresses
// 127.0.0.2, 127.0.0.3, ... (connsPerIP connections each). The parent
// drives the workers through their stdin in phases (connect, register,
// watch, stats) and reads one answer line per phase from their stdout.

const (
	connsWorkerCmd = "conns-worker"
	// connsPerWorker is the most connections one worker process holds.
	connsPerWorker = 4000
	// connsPerIP is the connections per client source address, below the
	// node's default max-connections-per-ip (1024).
	connsPerIP = 500
	// connsDialers is the handshakes one worker runs at once.
	connsDialers = 256
)

func init() {
	RegisterScenario(Scenario{Name: "conns", Summary: "-clients idle SDK connections (default 15000) from worker processes and 127.0.0.x sources: setup rate, node RSS per connection (-pids)",
		Defaults: connsDefaults, Run: Conns})
	RegisterScenario(Scenario{Name: "reconnect", Summary: "as conns, each connection registering one instance; then SIGKILL and restart the target (needs -pids): time until every registration is back, lost ones",
		Defaults: func(c *Config) {
			connsDefaults(c)
			setDefault(&c.Instances, 1)
		}, Run: Reconnect})
}

func connsDefaults(c *Config) {
	setDefault(&c.Clients, 15000)
	setDefault(&c.Services, 100)
	setDefaultDuration(&c.Duration, 10*time.Second)
	setDefaultDuration(&c.Settle, time.Minute)
}

// Conns opens Clients SDK connections (full handshake: ServerCheckRequest,
// bi-stream, ConnectionSetupRequest) to the first target from worker
// processes, and reports the setup rate (connections over the wall time
// from the go signal until every worker is done). With Instances > 0 each
// connection then registers one instance into one of Services services.
// After Duration of idling (the connections send the SDK's health checks)
// it reads the node's RSS (-pids, else /metrics) and reports RSS per
// connection: (RSS after - RSS before) / connections. The node's Go
// metrics (goroutines, heap and stack in use) are reported the same way
// when /metrics has them.
func Conns(ctx context.Context, cfg Config) (*Result, error) {
	res := newResult("conns", cfg)
	f, err := openConnsFleet(ctx, cfg, res)
	if err != nil {
		return nil, err
	}
	f.close()
	return res, nil
}

// openConnsFleet starts the worker processes, connects them and idles
// (connectAndIdle, reported in res); the caller closes the fleet.
func openConnsFleet(ctx context.Context, cfg Config, res *Result) (*connsFleet, error) {
	f, err := startConnsFleet(ctx, cfg)
	if err != nil {
		return nil, err
	}
	if err := f.connectAndIdle(ctx, cfg, res); err != nil {
		f.close()
		return nil, err
	}
	return f, nil
}

// Reconnect runs Conns with one registration per connection, then starts
// the SDK's redo on every connection (on a broken stream: reconnect at
// once, then with pauses growing by 100ms up to 5s, then register again), SIGKILLs the
// first target (its PID from -pids), restarts it with the same command
// line, environment and directory, and reports the time from the restart
// until every registration is listed again (bounded by Settle), and how
// many are not. The node should be a single-node cluster: it comes back
// empty, so everything listed was registered again.
func Reconnect(ctx context.Context, cfg Config) (*Result, error) {
	if len(cfg.PIDs) == 0 {
		return nil, fmt.Errorf("%w: reconnect needs -pids for the target", ErrNeedsCluster)
	}
	if cfg.Instances <= 0 {
		cfg.Instances = 1
	}
	res := newResult("reconnect", cfg)
	pid := cfg.PIDs[0]
	node, err := processLaunch(pid)
	if err != nil {
		return nil, err
	}
	f, err := openConnsFleet(ctx, cfg, res)
	if err != nil {
		return nil, err
	}
	defer f.close()
	target := cfg.Targets[0]
	want := f.total
	if n := f.listed(ctx, cfg); n != want {
		res.Note("before the restart %d of %d registrations were listed", n, want)
	}
	if _, err := f.all("watch"); err != nil {
		return nil, err
	}
	cmd, logName, t0, err := node.killAndRestart("reconnect")
	if err != nil {
		return nil, err
	}
	readyAfter := time.Duration(-1)
	var back time.Duration
	deadline := t0.Add(cfg.Settle)
	got := 0
	for {
		if readyAfter < 0 && ready(ctx, target) {
			readyAfter = time.Since(t0)
		}
		if readyAfter >= 0 {
			if st, err := readStatus(ctx, target); err == nil && st.Instances >= want {
				// The status count is a hint; the lists are the truth.
				if got = f.listed(ctx, cfg); got >= want {
					back = time.Since(t0)
					break
				}
			}
		}
		if time.Now().After(deadline) || ctx.Err() != nil {
			got = f.listed(ctx, cfg)
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	stats, _ := f.all("stats")
	var reconnects, failures, down int
	for i, line := range stats {
		var r, fl, d int
		fmt.Sscanf(line, "stats %d %d %d", &r, &fl, &d)
		reconnects, failures, down = reconnects+r, failures+fl, down+d
		if j := strings.Index(line, "last-error="); j >= 0 && len(line) > j+len("last-error=") {
			res.Note("worker %d: last failed attempt: %s", i, line[j+len("last-error="):])
		}
	}
	res.Gauge("registrations", float64(want))
	res.Gauge("ready_seconds", readyAfter.Seconds())
	if back > 0 {
		res.Gauge("storm_seconds", back.Seconds())
	} else {
		res.Note("not every registration came back within %s", cfg.Settle)
	}
	res.Gauge("lost", float64(want-got))
	res.Gauge("reconnects", float64(reconnects))
	res.Gauge("failed_attempts", float64(failures))
	res.Gauge("down_at_end", float64(down))
	if rss := readRSS(ctx, Config{Targets: cfg.Targets, PIDs: []int{cmd.Process.Pid}}, 0); rss > 0 {
		res.Gauge("rss_after_storm_mib", float64(rss)/(1<<20))
	}
	res.Note("%s restarted as pid %d (log %s)", target, cmd.Process.Pid, logName)
	return res, nil
}

// connsFleet is the worker processes of one run.
type connsFleet struct {
	run     string
	total   int
	workers []*connsWorker
}

type connsWorker struct {
	cmd *exec.Cmd
	in  io.WriteCloser
	out *bufio.Reader
}

func startConnsFleet(ctx context.Context, cfg Config) (*connsFleet, error) {
	exe, err := os.Executable()
	if err != nil {
		return nil, fmt.Errorf("bench: conns: own executable: %w", err)
	}
	f := &connsFleet{run: runID(), total: cfg.Clients}
	n := (cfg.Clients + connsPerWorker - 1) / connsPerWorker
	for w := range n {
		first := w * cfg.Clients / n
		last := (w + 1) * cfg.Clients / n
		args := []string{connsWorkerCmd, "-target", cfg.Targets[0], "-first", strconv.Itoa(first), "-n", strconv.Itoa(last - first),
			"-services", strconv.Itoa(cfg.Services), "-prefix", "bench-conns-" + f.run + "-", "-namespace", cfg.Namespace,
			"-timeout", cfg.Timeout.String()}
		cmd := exec.CommandContext(ctx, exe, args...)
		cmd.Stderr = os.Stderr
		in, err := cmd.StdinPipe()
		if err != nil {
			f.close()
			return nil, err
		}
		out, err := cmd.StdoutPipe()
		if err != nil {
			f.close()
			return nil, err
		}
		if err := cmd.Start(); err != nil {
			f.close()
			return nil, fmt.Errorf("bench: start conns worker: %w", err)
		}
		f.workers = append(f.workers, &connsWorker{cmd: cmd, in: in, out: bufio.NewReader(out)})
	}
	for _, w := range f.workers {
		if _, err := w.read(); err != nil {
			f.close()
			return nil, err
		}
	}
	return f, nil
}

func (w *connsWorker) read() (string, error) {
	line, err := w.out.ReadString('\n')
	if err != nil {
		return "", fmt.Errorf("bench: conns worker ended: %w", err)
	}
	return strings.TrimSpace(line), nil
}

// all sends cmd to every worker and returns their answers.
func (f *connsFleet) all(cmd string) ([]string, error) {
	for _, w := range f.workers {
		if _, err := io.WriteString(w.in, cmd+"\n"); err != nil {
			return nil, fmt.Errorf("bench: conns worker: %w", err)
		}
	}
	out := make([]string, len(f.workers))
	for i, w := range f.workers {
		line, err := w.read()
		if err != nil {
			return nil, err
		}
		out[i] = line
	}
	return out, nil
}

func (f *connsFleet) close() {
	for _, w := range f.workers {
		w.in.Close()
	}
	for _, w := range f.workers {
		done := make(chan struct{})
		go func() { _ = w.cmd.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			_ = w.cmd.Process.Kill()
			<-done
		}
	}
}

// phase runs one counted phase ("connect" or "register") on every worker
// at once and records the fleet's rate over the wall time.
func (f *connsFleet) phase(res *Result, name string) (ok int, err error) {
	start := time.Now()
	lines, err := f.all(name)
	if err != nil {
		return 0, err
	}
	elapsed := time.Since(start)
	failed := 0
	var sample string
	for _, l := range lines {
		var o, fl int
		var secs float64
		fmt.Sscanf(l, "%s %d %d %g", new(string), &o, &fl, &secs)
		ok, failed = ok+o, failed+fl
		if fl > 0 && sample == "" {
			if i := strings.Index(l, " err="); i >= 0 {
				sample = l[i+5:]
			}
		}
	}
	res.Ops = append(res.Ops, OpResult{Name: name, OK: uint64(ok), Errors: uint64(failed), Seconds: elapsed.Seconds(),
		Throughput: float64(ok) / elapsed.Seconds()})
	if sample != "" {
		res.Note("%s: %d failed, e.g. %s", name, failed, sample)
	}
	if ok == 0 {
		return 0, fmt.Errorf("bench: no %s succeeded: %s", name, sample)
	}
	return ok, nil
}

// nodeGauges are the node's figures read before and after the connections.
type nodeGauges struct {
	rss                         int64
	goroutines, heapIn, stackIn float64
	haveGo                      bool
}

func readNodeGauges(ctx context.Context, cfg Config) nodeGauges {
	target := cfg.Targets[0]
	// A forced GC (only with DISTROD_PPROF) makes the heap figures
	// comparable; without it they include garbage.
	_, _, _ = getBody(ctx, "GET", "http://"+target+"/debug/pprof/heap?gc=1")
	g := nodeGauges{rss: readRSS(ctx, cfg, 0)}
	if m, err := scrapeMetrics(ctx, target); err == nil {
		g.goroutines, g.haveGo = m["go_goroutines"]
		g.heapIn = m["go_memstats_heap_inuse_bytes"]
		g.stackIn = m["go_memstats_stack_inuse_bytes"]
	}
	return g
}

func (f *connsFleet) connectAndIdle(ctx context.Context, cfg Config, res *Result) error {
	before := readNodeGauges(ctx, cfg)
	cpu0 := readProcCPU(cfg)
	n, err := f.phase(res, "connect")
	if err != nil {
		return err
	}
	if cpu1 := readProcCPU(cfg); cpu0 >= 0 && cpu1 >= 0 {
		// The node's own CPU time per handshake: what bounds its setup
		// rate once the clients (here on the same cores) do not.
		res.Gauge("node_cpu_us_per_connect", float64(cpu1-cpu0)/float64(time.Microsecond)/float64(n))
	}
	if cfg.Instances > 0 {
		if _, err := f.phase(res, "register"); err != nil {
			return err
		}
	}
	select {
	case <-time.After(cfg.Duration):
	case <-ctx.Done():
		return ctx.Err()
	}
	after := readNodeGauges(ctx, cfg)
	res.Gauge("connections", float64(n))
	res.Gauge("workers", float64(len(f.workers)))
	if before.rss > 0 && after.rss > 0 {
		res.Gauge("rss_before_mib", float64(before.rss)/(1<<20))
		res.Gauge("rss_after_mib", float64(after.rss)/(1<<20))
		res.Gauge("rss_kb_per_conn", float64(after.rss-before.rss)/1024/float64(n))
	}
	if before.haveGo && after.haveGo {
		res.Gauge("goroutines_per_conn", (after.goroutines-before.goroutines)/float64(n))
		res.Gauge("heap_inuse_kb_per_conn", (after.heapIn-before.heapIn)/1024/float64(n))
		res.Gauge("stack_inuse_kb_per_conn", (after.stackIn-before.stackIn)/1024/float64(n))
	}
	return nil
}

// readProcCPU returns the first node's user+system CPU time from
// /proc/<pid>/stat, or -1 without -pids.
func readProcCPU(cfg Config) time.Duration {
	if len(cfg.PIDs) == 0 {
		return -1
	}
	b, err := os.ReadFile("/proc/" + strconv.Itoa(cfg.PIDs[0]) + "/stat")
	if err != nil {
		return -1
	}
	// The command name may hold spaces: the fields follow its ')'.
	s := string(b)
	f := strings.Fields(s[strings.LastIndexByte(s, ')')+1:])
	if len(f) < 13 {
		return -1
	}
	ut, _ := strconv.ParseInt(f[11], 10, 64)
	st, _ := strconv.ParseInt(f[12], 10, 64)
	// USER_HZ is 100 on Linux.
	return time.Duration(ut+st) * 10 * time.Millisecond
}

// listed counts the run's registrations the target lists, service by
// service over HTTP.
func (f *connsFleet) listed(ctx context.Context, cfg Config) int {
	hc := NewHTTPClient(cfg.Targets[0], cfg.Timeout)
	defer hc.Close()
	prefix := "bench-conns-" + f.run + "-"
	total := 0
	for s := range min(cfg.Services, f.total) {
		// A busy node may fail a list: a failed list is retried, not
		// counted as lost registrations.
		for try := 0; try < 5 && ctx.Err() == nil; try++ {
			si, err := hc.List(ctx, cfg.Namespace, prefix+strconv.Itoa(s))
			if err == nil {
				total += len(si.Hosts)
				break
			}
		}
	}
	return total
}

// mainConnsWorker is one worker process of the conns scenarios; it is
// driven by the parent through stdin and answers one line per command.
func mainConnsWorker(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet(connsWorkerCmd, flag.ContinueOnError)
	fs.SetOutput(stderr)
	var (
		target    = fs.String("target", "", "node host:httpPort")
		first     = fs.Int("first", 0, "global index of the first connection")
		n         = fs.Int("n", 0, "connections")
		services  = fs.Int("services", 100, "services the registrations spread over")
		prefix    = fs.String("prefix", "bench-conns-", "service name prefix")
		namespace = fs.String("namespace", "", "namespace id")
		timeout   = fs.Duration("timeout", 10*time.Second, "request timeout")
	)
	if err := fs.Parse(args); err != nil {
		return 2
	}
	w := &connsClientSet{target: *target, first: *first, conns: make([]*GRPCConn, *n), services: *services,
		prefix: *prefix, namespace: *namespace, timeout: *timeout, ctx: ctx}
	defer w.closeAll()
	out := bufio.NewWriter(stdout)
	say := func(format string, a ...any) {
		fmt.Fprintf(out, format+"\n", a...)
		out.Flush()
	}
	say("hello %d", *n)
	sc := bufio.NewScanner(stdin)
	for sc.Scan() {
		switch sc.Text() {
		case "connect":
			ok, failed, secs, err := w.each(w.connect)
			say("connected %d %d %g%s", ok, failed, secs, errText(err))
		case "register":
			ok, failed, secs, err := w.each(w.register)
			say("registered %d %d %g%s", ok, failed, secs, errText(err))
		case "watch":
			w.watch()
			say("watching")
		case "stats":
			last, _ := w.lastErr.Load().(string)
			say("stats %d %d %d last-error=%s", w.reconnects.Load(), w.failures.Load(), w.down(), last)
		default:
			say("unknown command")
		}
	}
	return 0
}

func errText(err error) string {
	if err == nil {
		return ""
	}
	return " err=" + strings.ReplaceAll(err.Error(), "\n", " ")
}

// connsClientSet is one worker's connections.
type connsClientSet struct {
	ctx       context.Context
	target    string
	first     int
	services  int
	prefix    string
	namespace string
	timeout   time.Duration

	mu         sync.Mutex
	conns      []*GRPCConn
	reconnects atomic.Int64
	failures   atomic.Int64
	lastErr    atomic.Value // string: the last failed attempt's error
	watchers   sync.WaitGroup
	stop       chan struct{}
}

// each runs fn for every connection on connsDialers goroutines.
func (w *connsClientSet) each(fn func(i int) error) (ok, failed int, secs float64, first error) {
	start := time.Now()
	var next atomic.Int64
	var okN, failN atomic.Int64
	var errOnce sync.Once
	var wg sync.WaitGroup
	for range min(connsDialers, len(w.conns)) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := int(next.Add(1) - 1)
				if i >= len(w.conns) {
					return
				}
				if err := fn(i); err != nil {
					failN.Add(1)
					errOnce.Do(func() { first = err })
				} else {
					okN.Add(1)
				}
			}
		}()
	}
	wg.Wait()
	return int(okN.Load()), int(failN.Load()), time.Since(start).Seconds(), first
}

// sourceAddr is connection i's client address: 127.0.0.2 for the first
// connsPerIP connections of the run, then 127.0.0.3, ...
func (w *connsClientSet) sourceAddr(i int) net.IP {
	k := (w.first + i) / connsPerIP
	return net.IPv4(127, 0, byte(k/250), byte(2+k%250))
}

// dial connects connection i. wait false skips the SDK's 100ms pause
// after ConnectionSetupRequest (a client-side sleep that would bound the
// setup rate by the number of dialers); the connect phase uses it, as no
// request follows until every connection is up.
func (w *connsClientSet) dial(ctx context.Context, i int, wait bool) (*GRPCConn, error) {
	local := &net.TCPAddr{IP: w.sourceAddr(i)}
	d := func(ctx context.Context, addr string) (net.Conn, error) {
		nd := net.Dialer{LocalAddr: local}
		return nd.DialContext(ctx, "tcp", addr)
	}
	o := GRPCOptions{Timeout: w.timeout, Dialer: d}
	if !wait {
		o.SetupWait = -1
	}
	return DialGRPC(ctx, w.target, o)
}

func (w *connsClientSet) connect(i int) error {
	c, err := w.dial(w.ctx, i, false)
	if err != nil {
		return err
	}
	w.mu.Lock()
	w.conns[i] = c
	w.mu.Unlock()
	return nil
}

func (w *connsClientSet) conn(i int) *GRPCConn {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.conns[i]
}

// register registers connection i's one instance.
func (w *connsClientSet) register(i int) error {
	c := w.conn(i)
	if c == nil {
		return ErrConnBroken
	}
	g := w.first + i
	return c.RegisterInstance(w.ctx, w.namespace, w.prefix+strconv.Itoa(g%w.services), BenchInstance(uint64(g)))
}

// watch starts the SDK's redo on every connection: when its stream ends
// the client reconnects (at once, then pausing 100ms, 200ms, ... up to 5s
// between attempts, as nacos-sdk-go v2 does) and registers its instance
// again.
func (w *connsClientSet) watch() {
	w.stop = make(chan struct{})
	for i := range w.conns {
		w.watchers.Add(1)
		go func() {
			defer w.watchers.Done()
			w.redo(i)
		}()
	}
}

func (w *connsClientSet) redo(i int) {
	for {
		c := w.conn(i)
		if c != nil {
			select {
			case <-c.done:
			case <-w.stop:
				return
			}
			c.Close()
		}
		for attempt := 0; ; attempt++ {
			// nacos-sdk-go v2's reconnect with one server: the first try at
			// once, then 100ms more pause after each failed one, up to 5s.
			pause := time.Duration(min(attempt, 50)) * 100 * time.Millisecond
			select {
			case <-time.After(pause):
			case <-w.stop:
				return
			}
			ctx, cancel := context.WithTimeout(w.ctx, 3*time.Second)
			nc, err := w.dial(ctx, i, true)
			cancel()
			if err != nil {
				w.failures.Add(1)
				w.lastErr.Store("dial: " + err.Error())
				continue
			}
			w.mu.Lock()
			w.conns[i] = nc
			w.mu.Unlock()
			if err := w.register(i); err != nil && !errors.Is(err, ErrConnBroken) {
				// The SDK's redo retries a failed registration on its next
				// round; here the connection is dropped and made again.
				w.failures.Add(1)
				w.lastErr.Store("register: " + err.Error())
				nc.Close()
				continue
			}
			w.reconnects.Add(1)
			break
		}
	}
}

func (w *connsClientSet) down() int {
	w.mu.Lock()
	defer w.mu.Unlock()
	n := 0
	for _, c := range w.conns {
		if c == nil || c.Broken() {
			n++
		}
	}
	return n
}

func (w *connsClientSet) closeAll() {
	if w.stop != nil {
		close(w.stop)
		w.watchers.Wait()
	}
	w.mu.Lock()
	cs := append([]*GRPCConn(nil), w.conns...)
	w.mu.Unlock()
	var wg sync.WaitGroup
	for _, c := range cs {
		if c != nil {
			wg.Add(1)
			go func() { defer wg.Done(); c.Close() }()
		}
	}
	wg.Wait()
}
