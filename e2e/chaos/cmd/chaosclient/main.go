// Command chaosclient is the client side of the chaos test (package
// e2e/chaos). Run inside the clients' network namespace, it drives a
// distrod cluster with HTTP v1 beat clients, nacos-sdk-go v2 clients and
// control plane clients (namespace writes and reads, cp.go), polls every
// node's instance lists, readiness and status, and writes
// everything it does and sees to stdout as JSON lines (chaos.Event), which
// the test's checker reads.
//
// Standard input takes commands, one per line: "quiet" stops changing
// registrations (alive clients keep beating) and the control plane
// clients, whose final reads of every node follow, "stop" ends the
// process.
// Logs go to stderr.
//
//	chaosclient -nodes 10.77.0.11:8848,10.77.0.12:8848 -seed 7 -http 8 -sdk 3
package main

import (
	"bufio"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/distrod/distrod/e2e/chaos"
	"github.com/nacos-group/nacos-sdk-go/v2/clients"
	"github.com/nacos-group/nacos-sdk-go/v2/clients/naming_client"
	"github.com/nacos-group/nacos-sdk-go/v2/common/constant"
	"github.com/nacos-group/nacos-sdk-go/v2/model"
	"github.com/nacos-group/nacos-sdk-go/v2/vo"
)

type options struct {
	nodes   []string
	seed    uint64
	http    int
	sdk     int
	cp      int
	cpFinal time.Duration
	beat    time.Duration
	timeout time.Duration
	poll    time.Duration
	dir     string
}

func main() {
	var o options
	var nodes string
	flag.StringVar(&nodes, "nodes", "", "comma-separated distrod HTTP addresses (ip:port)")
	flag.Uint64Var(&o.seed, "seed", 1, "seed of the clients' decisions")
	flag.IntVar(&o.http, "http", 8, "number of HTTP v1 beat clients")
	flag.IntVar(&o.sdk, "sdk", 3, "number of nacos-sdk-go v2 clients")
	flag.IntVar(&o.cp, "cp", 3, "number of control plane clients (namespace writes and linearizable reads)")
	flag.DurationVar(&o.cpFinal, "cpfinal", 30*time.Second, "how long the final control plane reads of a node may be retried")
	flag.DurationVar(&o.beat, "beat", time.Second, "HTTP clients' beat period")
	flag.DurationVar(&o.timeout, "timeout", 5*time.Second, "HTTP clients' request timeout")
	flag.DurationVar(&o.poll, "poll", 300*time.Millisecond, "period of the node poller")
	flag.StringVar(&o.dir, "dir", os.TempDir(), "directory for the SDK's cache and logs")
	flag.Parse()
	log := slog.New(slog.NewTextHandler(os.Stderr, nil))
	for _, n := range strings.Split(nodes, ",") {
		if n = strings.TrimSpace(n); n != "" {
			o.nodes = append(o.nodes, n)
		}
	}
	if len(o.nodes) == 0 {
		fmt.Fprintln(os.Stderr, "chaosclient: -nodes is required")
		os.Exit(2)
	}
	if err := run(o, os.Stdin, os.Stdout, log); err != nil {
		log.Error("chaosclient failed", "err", err)
		os.Exit(1)
	}
}

// emitter writes events as JSON lines, one at a time, so the order of the
// lines is the order of the writes.
type emitter struct {
	mu  sync.Mutex
	w   *bufio.Writer
	enc *json.Encoder
	ids atomic.Int64
}

func newEmitter(w io.Writer) *emitter {
	bw := bufio.NewWriter(w)
	return &emitter{w: bw, enc: json.NewEncoder(bw)}
}

func (e *emitter) emit(ev chaos.Event) {
	e.mu.Lock()
	defer e.mu.Unlock()
	_ = e.enc.Encode(ev)
	_ = e.w.Flush()
}

func now() int64 { return time.Now().UnixNano() }

func run(o options, in io.Reader, out io.Writer, log *slog.Logger) error {
	em := newEmitter(out)
	quiet := make(chan struct{})
	ctx, stop := context.WithCancel(context.Background())
	defer stop()
	go func() {
		sc := bufio.NewScanner(in)
		quieted := false
		for sc.Scan() {
			switch strings.TrimSpace(sc.Text()) {
			case "quiet":
				if !quieted {
					quieted = true
					em.emit(chaos.Event{Kind: chaos.KindQuiet, T: now()})
					close(quiet)
				}
			case "stop":
				stop()
				return
			}
		}
		// The test went away: end too.
		stop()
	}()

	var wg sync.WaitGroup
	for _, n := range o.nodes {
		wg.Go(func() { pollNode(ctx, o, em, n) })
	}
	hc := &http.Client{Timeout: o.timeout, Transport: &http.Transport{
		DialContext:         (&net.Dialer{Timeout: o.timeout}).DialContext,
		MaxIdleConnsPerHost: 16,
	}}
	for i := range o.http {
		c := &httpClient{o: o, em: em, hc: hc, name: fmt.Sprintf("h%d", i+1),
			ip: fmt.Sprintf("10.200.0.%d", i+1), port: 7000 + i + 1,
			rnd: rand.New(rand.NewPCG(o.seed, uint64(1000+i)))}
		wg.Go(func() { c.run(ctx, quiet) })
	}
	for i := range o.sdk {
		c := &sdkClient{o: o, em: em, log: log, name: fmt.Sprintf("s%d", i+1),
			ip: fmt.Sprintf("10.201.0.%d", i+1), port: 9000 + i + 1,
			rnd: rand.New(rand.NewPCG(o.seed, uint64(2000+i)))}
		wg.Go(func() { c.run(ctx, quiet) })
	}
	if o.cp > 0 {
		w := &cpWorkload{o: o, em: em, hc: &http.Client{Timeout: o.timeout}}
		wg.Go(func() { w.run(ctx, quiet, o.cp, o.cpFinal) })
	}
	<-ctx.Done()
	wg.Wait()
	return nil
}

// wait waits for d or the end of ctx and reports whether ctx is still live.
func wait(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}

func quieted(quiet <-chan struct{}) bool {
	select {
	case <-quiet:
		return true
	default:
		return false
	}
}

func between(r *rand.Rand, lo, hi time.Duration) time.Duration {
	return lo + time.Duration(r.Int64N(int64(hi-lo)+1))
}

// pollNode reads one node every period until ctx ends: readiness, the
// instance list of every service, readiness again (so that a list answered
// between two "not ready" answers is known to be served while loading), and
// every few rounds /distrod/status.
func pollNode(ctx context.Context, o options, em *emitter, node string) {
	hc := &http.Client{Timeout: 4 * time.Second}
	get := func(path string) (int, []byte, error) {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+node+path, nil)
		if err != nil {
			return 0, nil, err
		}
		resp, err := hc.Do(req)
		if err != nil {
			return 0, nil, err
		}
		defer resp.Body.Close()
		b, err := io.ReadAll(resp.Body)
		return resp.StatusCode, b, err
	}
	for round := 0; ctx.Err() == nil; round++ {
		start := time.Now()
		ev := chaos.Event{Kind: chaos.KindPoll, Node: node, T: now(),
			Codes: map[string]int{}, Hosts: map[string][]string{}}
		var errs []string
		code, _, err := get("/nacos/v1/console/health/readiness")
		if err != nil {
			errs = append(errs, "readiness: "+err.Error())
		}
		ev.Ready0 = code
		for _, svc := range []string{chaos.ServiceHTTP, chaos.ServiceSDK} {
			code, body, err := get("/nacos/v1/ns/instance/list?serviceName=" + url.QueryEscape(svc))
			ev.Codes[svc] = code
			if err != nil {
				errs = append(errs, svc+": "+err.Error())
				continue
			}
			if code != http.StatusOK {
				continue
			}
			var si struct {
				Hosts []struct {
					IP       string            `json:"ip"`
					Port     int               `json:"port"`
					Metadata map[string]string `json:"metadata"`
				} `json:"hosts"`
			}
			if err := json.Unmarshal(body, &si); err != nil {
				ev.Codes[svc] = 0
				errs = append(errs, svc+": bad JSON: "+err.Error())
				continue
			}
			hosts := []string{}
			for _, h := range si.Hosts {
				a := net.JoinHostPort(h.IP, strconv.Itoa(h.Port))
				hosts = append(hosts, a)
				if g := h.Metadata[chaos.MetaGen]; g != "" {
					if ev.Gens == nil {
						ev.Gens = map[string]string{}
					}
					ev.Gens[svc+" "+a] = g
				}
			}
			slices.Sort(hosts)
			ev.Hosts[svc] = hosts
		}
		code, _, err = get("/nacos/v1/console/health/readiness")
		if err != nil {
			errs = append(errs, "readiness: "+err.Error())
		}
		ev.Ready1 = code
		ev.T1 = now()
		ev.Err = strings.Join(errs, "; ")
		if ctx.Err() != nil {
			return
		}
		em.emit(ev)
		if round%3 == 0 {
			st := chaos.Event{Kind: chaos.KindStatus, Node: node, T: now()}
			code, body, err := get("/distrod/status")
			switch {
			case err != nil:
				st.Err = err.Error()
			case code != http.StatusOK:
				st.Err = fmt.Sprintf("status %d", code)
			default:
				var s struct {
					Ready  bool   `json:"ready"`
					Digest string `json:"digest"`
				}
				if err := json.Unmarshal(body, &s); err != nil {
					st.Err = err.Error()
				}
				st.OK, st.Ready, st.Digest = st.Err == "", s.Ready, s.Digest
			}
			if ctx.Err() != nil {
				return
			}
			em.emit(st)
		}
		if !wait(ctx, o.poll-time.Since(start)) {
			return
		}
	}
}

// httpClient is one HTTP v1 client with one instance: it registers,
// beats, and then deregisters or goes silent, over and over. It sends each
// request to one node it sticks to, or to a random node per request.
type httpClient struct {
	o    options
	em   *emitter
	hc   *http.Client
	rnd  *rand.Rand
	name string
	ip   string
	port int
	// sticky is the node index it sends to, or -1 for a random node per
	// request.
	sticky int
	// gen counts its registrations; the current one rides in the
	// instance's metadata (chaos.MetaGen) of registers and beats.
	gen int
}

func (c *httpClient) addr() string { return net.JoinHostPort(c.ip, strconv.Itoa(c.port)) }

func (c *httpClient) node() string {
	if c.sticky < 0 {
		return c.o.nodes[c.rnd.IntN(len(c.o.nodes))]
	}
	return c.o.nodes[c.sticky]
}

// do runs one operation and records its invocation and outcome.
func (c *httpClient) do(ctx context.Context, op, method, path string, form url.Values, ok func(int, string) bool) bool {
	node := c.node()
	id := c.em.ids.Add(1)
	c.em.emit(chaos.Event{Kind: chaos.KindInvoke, T: now(), ID: id, Client: c.name,
		Service: chaos.ServiceHTTP, Addr: c.addr(), Op: op, Node: node, Gen: strconv.Itoa(c.gen)})
	var body io.Reader
	u := "http://" + node + path
	if method == http.MethodGet || method == http.MethodPut || method == http.MethodDelete {
		u += "?" + form.Encode()
	} else {
		body = strings.NewReader(form.Encode())
	}
	res, good := "", false
	req, err := http.NewRequestWithContext(context.WithoutCancel(ctx), method, u, body)
	if err == nil {
		if body != nil {
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		}
		var resp *http.Response
		if resp, err = c.hc.Do(req); err == nil {
			b, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
			resp.Body.Close()
			res = fmt.Sprintf("%d %s", resp.StatusCode, strings.TrimSpace(string(b)))
			good = ok(resp.StatusCode, string(b))
		}
	}
	if err != nil {
		res = err.Error()
	}
	c.em.emit(chaos.Event{Kind: chaos.KindDone, T: now(), ID: id, Client: c.name,
		Service: chaos.ServiceHTTP, Addr: c.addr(), Op: op, Node: node, OK: good, Res: res})
	if !good && c.sticky >= 0 {
		c.sticky = c.rnd.IntN(len(c.o.nodes))
	}
	return good
}

func (c *httpClient) meta() map[string]string {
	return map[string]string{chaos.MetaGen: strconv.Itoa(c.gen)}
}

func (c *httpClient) register(ctx context.Context) bool {
	c.gen++
	m, _ := json.Marshal(c.meta())
	f := url.Values{"serviceName": {chaos.ServiceHTTP}, "ip": {c.ip}, "port": {strconv.Itoa(c.port)}, "ephemeral": {"true"},
		"metadata": {string(m)}}
	return c.do(ctx, chaos.OpRegister, http.MethodPost, "/nacos/v1/ns/instance", f,
		func(code int, body string) bool { return code == http.StatusOK && strings.TrimSpace(body) == "ok" })
}

func (c *httpClient) beat(ctx context.Context) bool {
	// The full beat of the Go and Java v1 clients: it re-creates an
	// instance the server does not know.
	b, _ := json.Marshal(map[string]any{"ip": c.ip, "port": c.port, "serviceName": "DEFAULT_GROUP@@" + chaos.ServiceHTTP,
		"cluster": "DEFAULT", "weight": 1, "metadata": c.meta(), "scheduled": false})
	f := url.Values{"serviceName": {chaos.ServiceHTTP}, "beat": {string(b)}}
	return c.do(ctx, chaos.OpBeat, http.MethodPut, "/nacos/v1/ns/instance/beat", f,
		func(code int, body string) bool {
			var r struct {
				Code int `json:"code"`
			}
			return code == http.StatusOK && json.Unmarshal([]byte(body), &r) == nil && r.Code == 10200
		})
}

func (c *httpClient) deregister(ctx context.Context) bool {
	f := url.Values{"serviceName": {chaos.ServiceHTTP}, "ip": {c.ip}, "port": {strconv.Itoa(c.port)}, "ephemeral": {"true"}}
	return c.do(ctx, chaos.OpDeregister, http.MethodDelete, "/nacos/v1/ns/instance", f,
		func(code int, body string) bool { return code == http.StatusOK && strings.TrimSpace(body) == "ok" })
}

func (c *httpClient) run(ctx context.Context, quiet <-chan struct{}) {
	c.sticky = -1
	if c.rnd.IntN(2) == 0 {
		c.sticky = c.rnd.IntN(len(c.o.nodes))
	}
	// Stagger the start.
	if !wait(ctx, between(c.rnd, 0, 2*time.Second)) {
		return
	}
	for ctx.Err() == nil {
		if quieted(quiet) {
			<-ctx.Done()
			return
		}
		if !c.register(ctx) {
			if !wait(ctx, between(c.rnd, 300*time.Millisecond, time.Second)) {
				return
			}
			continue
		}
		// Beat for a while; once quiet, beat until the end.
		life := between(c.rnd, 3*time.Second, 12*time.Second)
		until := time.Now().Add(life)
		for time.Now().Before(until) || quieted(quiet) {
			if !wait(ctx, c.o.beat) {
				return
			}
			c.beat(ctx)
		}
		if c.rnd.IntN(4) == 0 {
			// Go silent: the server must expire the instance.
			c.em.emit(chaos.Event{Kind: chaos.KindSilent, T: now(), Client: c.name, Service: chaos.ServiceHTTP, Addr: c.addr()})
			if !wait(ctx, between(c.rnd, 4*time.Second, 14*time.Second)) {
				return
			}
			continue
		}
		gone := false
		for try := 0; try < 5 && !gone; try++ {
			if gone = c.deregister(ctx); !gone && !wait(ctx, between(c.rnd, 200*time.Millisecond, 800*time.Millisecond)) {
				return
			}
		}
		if !gone {
			// Never acknowledged: without beats it must expire.
			c.em.emit(chaos.Event{Kind: chaos.KindSilent, T: now(), Client: c.name, Service: chaos.ServiceHTTP, Addr: c.addr()})
		}
		if !wait(ctx, between(c.rnd, time.Second, 4*time.Second)) {
			return
		}
	}
}

// sdkClient is one nacos-sdk-go v2 client (gRPC) with one instance and a
// subscription to its service: it registers, holds the registration for a
// while, deregisters, and starts again.
type sdkClient struct {
	o    options
	em   *emitter
	log  *slog.Logger
	rnd  *rand.Rand
	name string
	ip   string
	port int
	nc   naming_client.INamingClient
	// gen counts its registrations; the current one rides in the
	// instance's metadata (chaos.MetaGen), as for the HTTP clients.
	gen int
}

func (c *sdkClient) addr() string { return net.JoinHostPort(c.ip, strconv.Itoa(c.port)) }

func (c *sdkClient) do(op string, fn func() (bool, error)) bool {
	id := c.em.ids.Add(1)
	c.em.emit(chaos.Event{Kind: chaos.KindInvoke, T: now(), ID: id, Client: c.name,
		Service: chaos.ServiceSDK, Addr: c.addr(), Op: op, Gen: strconv.Itoa(c.gen)})
	ok, err := fn()
	res := strconv.FormatBool(ok)
	if err != nil {
		res = err.Error()
	}
	c.em.emit(chaos.Event{Kind: chaos.KindDone, T: now(), ID: id, Client: c.name,
		Service: chaos.ServiceSDK, Addr: c.addr(), Op: op, OK: ok && err == nil, Res: res})
	return ok && err == nil
}

func (c *sdkClient) connect() error {
	dir := filepath.Join(c.o.dir, "sdk-"+c.name)
	cc := constant.NewClientConfig(
		constant.WithTimeoutMs(3000),
		constant.WithNotLoadCacheAtStart(true),
		constant.WithUpdateCacheWhenEmpty(true),
		constant.WithCacheDir(filepath.Join(dir, "cache")),
		constant.WithLogDir(filepath.Join(dir, "log")),
		constant.WithLogLevel("warn"),
	)
	var sc []constant.ServerConfig
	for _, n := range c.o.nodes {
		host, port, err := net.SplitHostPort(n)
		if err != nil {
			return fmt.Errorf("chaosclient: node %q: %w", n, err)
		}
		p, err := strconv.ParseUint(port, 10, 64)
		if err != nil {
			return fmt.Errorf("chaosclient: node %q: %w", n, err)
		}
		sc = append(sc, *constant.NewServerConfig(host, p))
	}
	nc, err := clients.NewNamingClient(vo.NacosClientParam{ClientConfig: cc, ServerConfigs: sc})
	if err != nil {
		return fmt.Errorf("chaosclient: SDK client %s: %w", c.name, err)
	}
	c.nc = nc
	return nil
}

func (c *sdkClient) run(ctx context.Context, quiet <-chan struct{}) {
	for c.nc == nil {
		if err := c.connect(); err != nil {
			c.log.Warn("SDK client not created", "client", c.name, "err", err)
			if !wait(ctx, time.Second) {
				return
			}
		}
	}
	defer c.nc.CloseClient()
	err := c.nc.Subscribe(&vo.SubscribeParam{ServiceName: chaos.ServiceSDK,
		SubscribeCallback: func(services []model.Instance, err error) {
			hosts := []string{}
			for _, s := range services {
				hosts = append(hosts, net.JoinHostPort(s.Ip, strconv.FormatUint(s.Port, 10)))
			}
			slices.Sort(hosts)
			c.em.emit(chaos.Event{Kind: chaos.KindPush, T: now(), Client: c.name,
				Service: chaos.ServiceSDK, Res: strings.Join(hosts, ",")})
		}})
	if err != nil {
		c.log.Warn("SDK subscribe failed", "client", c.name, "err", err)
	}
	if !wait(ctx, between(c.rnd, 0, 2*time.Second)) {
		return
	}
	for ctx.Err() == nil {
		if quieted(quiet) {
			<-ctx.Done()
			return
		}
		c.gen++
		meta := map[string]string{chaos.MetaGen: strconv.Itoa(c.gen)}
		ok := c.do(chaos.OpRegister, func() (bool, error) {
			return c.nc.RegisterInstance(vo.RegisterInstanceParam{Ip: c.ip, Port: uint64(c.port), Weight: 1,
				Enable: true, Healthy: true, Ephemeral: true, ServiceName: chaos.ServiceSDK, Metadata: meta})
		})
		if !ok {
			if !wait(ctx, between(c.rnd, 500*time.Millisecond, 2*time.Second)) {
				return
			}
			continue
		}
		until := time.Now().Add(between(c.rnd, 4*time.Second, 14*time.Second))
		for time.Now().Before(until) || quieted(quiet) {
			if !wait(ctx, 200*time.Millisecond) {
				return
			}
		}
		for try := 0; try < 5; try++ {
			if c.do(chaos.OpDeregister, func() (bool, error) {
				return c.nc.DeregisterInstance(vo.DeregisterInstanceParam{Ip: c.ip, Port: uint64(c.port),
					Ephemeral: true, ServiceName: chaos.ServiceSDK})
			}) {
				break
			}
			if !wait(ctx, between(c.rnd, 300*time.Millisecond, time.Second)) {
				return
			}
		}
		if !wait(ctx, between(c.rnd, time.Second, 5*time.Second)) {
			return
		}
	}
}
