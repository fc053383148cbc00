package bench

import (
	"context"
	"errors"
	"math"
	"testing"
	"time"
)

// startBaseline starts an in-process baseline of n nodes on port 0.
func startBaseline(t *testing.T, n int, o BaselineOptions) *Baseline {
	t.Helper()
	listens := make([]string, n)
	for i := range listens {
		listens[i] = "127.0.0.1:0"
	}
	b, err := StartBaseline(listens, o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(b.Close)
	return b
}

func tinyConfig(targets []string) Config {
	return Config{Targets: targets, Clients: 3, Duration: 300 * time.Millisecond, Services: 5, Instances: 10,
		SetupWait: -1, Timeout: 5 * time.Second, Settle: 5 * time.Second}
}

func checkClean(t *testing.T, res *Result, ops ...string) {
	t.Helper()
	for _, name := range ops {
		o := res.Op(name)
		if o == nil {
			t.Fatalf("%s: no op %q in %+v", res.Scenario, name, res.Ops)
		}
		if o.OK == 0 || o.Errors != 0 {
			t.Errorf("%s/%s: ok=%d errors=%d %v, want ok>0 and no errors", res.Scenario, name, o.OK, o.Errors, o.ErrorText)
		}
		if !(o.P50Ms <= o.P99Ms && o.P99Ms <= o.MaxMs) || o.MaxMs <= 0 {
			t.Errorf("%s/%s: p50 %.3f p99 %.3f max %.3f not ordered", res.Scenario, name, o.P50Ms, o.P99Ms, o.MaxMs)
		}
		if o.Throughput <= 0 || math.Abs(o.Throughput-float64(o.OK)/o.Seconds) > 1e-6 {
			t.Errorf("%s/%s: throughput %.1f != ok/seconds", res.Scenario, name, o.Throughput)
		}
	}
}

func TestScenarios_AgainstBaseline(t *testing.T) {
	single := startBaseline(t, 1, BaselineOptions{})
	cluster := startBaseline(t, 3, BaselineOptions{})
	cases := []struct {
		scenario string
		targets  []string
		adjust   func(*Config)
		ops      []string
	}{
		{"register", single.Targets(), nil, []string{OpRegister}},
		{"register", cluster.Targets(), nil, []string{OpRegister}},
		{"query", single.Targets(), nil, []string{OpQueryGRPC, OpQueryHTTP}},
		{"beat", single.Targets(), func(c *Config) { c.Instances = 20 }, []string{OpBeat, OpPreload}},
		{"replication", cluster.Targets(), func(c *Config) { c.Rate = 300 }, []string{OpWrite, OpLag}},
		{"push", cluster.Targets(), func(c *Config) { c.Rate = 300 }, []string{OpWrite, OpLag}},
		{"push", single.Targets(), func(c *Config) { c.Rate = 300 }, []string{OpWrite, OpLag}},
		{"scale", cluster.Targets(), func(c *Config) { c.Services = 30 }, []string{OpBatch}},
		{"storm", single.Targets(), func(c *Config) { c.Instances = 50; c.Rate = 200 }, []string{OpStormReg, OpPreload}},
	}
	for _, c := range cases {
		t.Run(c.scenario, func(t *testing.T) {
			cfg := tinyConfig(c.targets)
			if c.adjust != nil {
				c.adjust(&cfg)
			}
			res, err := Run(context.Background(), c.scenario, cfg)
			if err != nil {
				t.Fatal(err)
			}
			checkClean(t, res, c.ops...)
		})
	}
}

func TestReplication_ReportsEachObserver(t *testing.T) {
	b := startBaseline(t, 3, BaselineOptions{})
	cfg := tinyConfig(b.Targets())
	cfg.Rate = 200
	res, err := Run(context.Background(), "replication", cfg)
	if err != nil {
		t.Fatal(err)
	}
	checkClean(t, res, OpLag+"@"+b.Targets()[1], OpLag+"@"+b.Targets()[2])
	if res.Op(OpLag).OK != res.Op(OpLag+"@"+b.Targets()[1]).OK*2 {
		t.Errorf("overall lag count %d, want twice the per-node count", res.Op(OpLag).OK)
	}
}

// With every other request failing, failures are counted and excluded:
// ok + errors covers every answer, throughput is ok/seconds, and the
// latency histogram holds exactly the successes.
func TestScenarios_FailuresCountedAndExcluded(t *testing.T) {
	for _, sc := range []struct{ scenario, op string }{{"register", OpRegister}, {"beat", OpBeat}, {"query", OpQueryGRPC}, {"query", OpQueryHTTP}} {
		t.Run(sc.scenario+"/"+sc.op, func(t *testing.T) {
			// A fresh server per case: the failure counter starts at zero,
			// so each setup request (odd-numbered) succeeds.
			b := startBaseline(t, 1, BaselineOptions{FailEvery: 2})
			cfg := tinyConfig(b.Targets())
			cfg.Clients = 1 // one client: strictly alternating answers
			res, err := Run(context.Background(), sc.scenario, cfg)
			if err != nil {
				t.Fatalf("setup: %v", err)
			}
			o := res.Op(sc.op)
			if o.OK == 0 || o.Errors == 0 {
				t.Fatalf("ok=%d errors=%d, want both > 0", o.OK, o.Errors)
			}
			// Strict alternation, but a request cut off at the end of a
			// phase (or retried by the transport after the server dropped an
			// idle connection) is counted by the server and not recorded, so
			// allow a little drift on a loaded machine.
			slack := max(int64(2), int64(o.OK+o.Errors)/100)
			if d := int64(o.OK) - int64(o.Errors); d < -slack || d > slack {
				t.Errorf("ok=%d errors=%d, want about equal", o.OK, o.Errors)
			}
			if o.Throughput != float64(o.OK)/o.Seconds {
				t.Errorf("throughput %.1f counts failures (ok %d in %.3fs)", o.Throughput, o.OK, o.Seconds)
			}
			for kind := range o.ErrorKinds {
				if kind != "http-500" && kind != "error-response-500" {
					t.Errorf("unexpected error kind %q: %v", kind, o.ErrorText)
				}
			}
		})
	}
}

func TestRecorder_HistogramHoldsOnlySuccesses(t *testing.T) {
	b := startBaseline(t, 1, BaselineOptions{FailEvery: 2})
	c, err := DialGRPC(context.Background(), b.Targets()[0], GRPCOptions{SetupWait: -1})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	rec := NewRecorder()
	ctx := context.Background()
	for i := range 20 {
		observe(ctx, rec, OpRegister, func() error {
			return c.RegisterInstance(ctx, "", "svc", BenchInstance(uint64(i)))
		})
	}
	if h := rec.Hist(OpRegister); h.Count() != 10 || rec.Errors(OpRegister) != 10 {
		t.Fatalf("histogram %d samples, %d errors; want 10 and 10", h.Count(), rec.Errors(OpRegister))
	}
}

func TestRun_ClusterScenariosRefuseWithoutACluster(t *testing.T) {
	for _, name := range []string{"join", "heal"} {
		_, err := Run(context.Background(), name, Config{Targets: []string{"127.0.0.1:8848"}})
		if !errors.Is(err, ErrNeedsCluster) {
			t.Errorf("%s: err %v, want ErrNeedsCluster", name, err)
		}
	}
	if _, err := Run(context.Background(), "nope", Config{Targets: []string{"127.0.0.1:8848"}}); err == nil {
		t.Error("unknown scenario accepted")
	}
}

func TestGRPCConn_AcksPushWithRequestID(t *testing.T) {
	b := startBaseline(t, 1, BaselineOptions{})
	got := make(chan Push, 1)
	sub, err := DialGRPC(context.Background(), b.Targets()[0], GRPCOptions{SetupWait: -1, OnPush: func(p Push) { got <- p }})
	if err != nil {
		t.Fatal(err)
	}
	defer sub.Close()
	if _, err := sub.Subscribe(context.Background(), "", "svc"); err != nil {
		t.Fatal(err)
	}
	w, err := DialGRPC(context.Background(), b.Targets()[0], GRPCOptions{SetupWait: -1})
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	if err := w.RegisterInstance(context.Background(), "", "svc", BenchInstance(7)); err != nil {
		t.Fatal(err)
	}
	select {
	case p := <-got:
		if len(p.Info.Hosts) != 1 || p.Info.Hosts[0].IP != SeqIP(7) {
			t.Fatalf("push %+v", p.Info)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("no push within 5s")
	}
}

func TestCheckResponse_ClientSuccessRules(t *testing.T) {
	cases := []struct {
		typ, body string
		ok        bool
		kind      string
	}{
		{TypeInstanceResponse, `{"resultCode":200,"errorCode":0,"success":true}`, true, ""},
		{TypeInstanceResponse, `{"resultCode":200}`, true, ""},
		{TypeInstanceResponse, `{"resultCode":500,"errorCode":0}`, false, "result-500"},
		{TypeInstanceResponse, `{"resultCode":200,"success":false}`, false, "result-200"},
		{TypeErrorResponse, `{"resultCode":500,"errorCode":301,"message":"unregistered"}`, false, "error-response-301"},
		{TypeQueryServiceResponse, `{"resultCode":200}`, false, "short-answer"},
		{TypeInstanceResponse, `not json`, false, "short-answer"},
	}
	for _, c := range cases {
		err := checkResponse(c.typ, []byte(c.body), TypeInstanceResponse, new(respHead))
		if (err == nil) != c.ok || (err != nil && errorKind(err) != c.kind) {
			t.Errorf("%s %s: err %v (kind %q), want ok=%v kind %q", c.typ, c.body, err, errorKindOf(err), c.ok, c.kind)
		}
	}
}

func errorKindOf(err error) string {
	if err == nil {
		return ""
	}
	return errorKind(err)
}
