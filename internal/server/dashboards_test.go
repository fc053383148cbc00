package server

import (
	"bufio"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	nacosv2 "github.com/nacos-group/nacos-sdk-go/v2/clients"
	constv2 "github.com/nacos-group/nacos-sdk-go/v2/common/constant"
	modelv2 "github.com/nacos-group/nacos-sdk-go/v2/model"
	vov2 "github.com/nacos-group/nacos-sdk-go/v2/vo"

	"github.com/distrod/distrod/internal/testutil"
)

// dashboardQuery is one series a dashboard reads: a metric name and, for
// nacos_monitor, the values its name label may take.
type dashboardQuery struct {
	metric string
	names  []string // nacos_monitor name matchers; empty: any
}

var (
	promStrings   = regexp.MustCompile(`"[^"]*"`)
	promRanges    = regexp.MustCompile(`\[[^\]]*\]`)
	promGrouping  = regexp.MustCompile(`\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)`)
	promSelector  = regexp.MustCompile(`([a-zA-Z_:][a-zA-Z0-9_:]*)\s*\{([^}]*)\}`)
	promNameMatch = regexp.MustCompile(`\bname\s*(=~|=)\s*"([^"]*)"`)
	promIdent     = regexp.MustCompile(`[a-zA-Z_:][a-zA-Z0-9_:]*(\s*\()?`)
	promNumbers   = regexp.MustCompile(`(^|[^a-zA-Z0-9_:])\d[0-9a-zA-Z.]*`)
	promKeywords  = map[string]bool{"by": true, "without": true, "on": true, "ignoring": true, "group_left": true,
		"group_right": true, "bool": true, "and": true, "or": true, "unless": true, "offset": true, "inf": true, "nan": true}
)

// queriesOf extracts the series a PromQL expression reads: every
// identifier that is not a function, keyword, label name or string, with
// the name matchers of nacos_monitor selectors.
func queriesOf(expr string) []dashboardQuery {
	var out []dashboardQuery
	for _, m := range promSelector.FindAllStringSubmatch(expr, -1) {
		if m[1] != "nacos_monitor" {
			continue
		}
		q := dashboardQuery{metric: m[1]}
		for _, nm := range promNameMatch.FindAllStringSubmatch(m[2], -1) {
			q.names = append(q.names, strings.Split(nm[2], "|")...)
		}
		out = append(out, q)
	}
	// Label matchers, strings, ranges ($__rate_interval) and grouping
	// clauses hold no metric names.
	e := regexp.MustCompile(`\{[^}]*\}`).ReplaceAllString(expr, " ")
	e = promStrings.ReplaceAllString(e, " ")
	e = promRanges.ReplaceAllString(e, " ")
	e = promGrouping.ReplaceAllString(e, " ")
	e = promNumbers.ReplaceAllString(e, "$1 ") // numbers and durations (5m)
	for _, id := range promIdent.FindAllString(e, -1) {
		if strings.HasSuffix(id, "(") || promKeywords[strings.ToLower(id)] || id == "nacos_monitor" {
			continue
		}
		out = append(out, dashboardQuery{metric: id})
	}
	return out
}

func TestQueriesOf_FindsMetricNames(t *testing.T) {
	got := queriesOf(`histogram_quantile(0.99, sum by (le, api) (rate(distrod_http_request_duration_seconds_bucket{job="$job"}[$__rate_interval]))) / ignoring(x) go_goroutines offset 5m`)
	want := []dashboardQuery{{metric: "distrod_http_request_duration_seconds_bucket"}, {metric: "go_goroutines"}}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("got %v, want %v", got, want)
	}
	got = queriesOf(`increase(nacos_monitor{job="$job",module="naming",name="totalPushCostForAvg"}[$__range]) / nacos_monitor{name=~"a|b"}`)
	want = []dashboardQuery{{metric: "nacos_monitor", names: []string{"totalPushCostForAvg"}}, {metric: "nacos_monitor", names: []string{"a", "b"}}}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("got %v, want %v", got, want)
	}
}

// dashboardExprs returns every PromQL expression of a Grafana dashboard:
// panel targets (rows' nested panels too) and templating queries.
func dashboardExprs(t *testing.T, path string) []string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	type panel struct {
		Targets []struct {
			Expr string `json:"expr"`
		} `json:"targets"`
		Panels []json.RawMessage `json:"panels"`
	}
	var d struct {
		Panels     []json.RawMessage `json:"panels"`
		Templating struct {
			List []struct {
				Type  string `json:"type"`
				Query any    `json:"query"`
			} `json:"list"`
		} `json:"templating"`
	}
	if err := json.Unmarshal(b, &d); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	var exprs []string
	var walk func([]json.RawMessage)
	walk = func(ps []json.RawMessage) {
		for _, raw := range ps {
			var p panel
			if err := json.Unmarshal(raw, &p); err != nil {
				t.Fatalf("%s: %v", path, err)
			}
			for _, tg := range p.Targets {
				if tg.Expr != "" {
					exprs = append(exprs, tg.Expr)
				}
			}
			walk(p.Panels)
		}
	}
	walk(d.Panels)
	for _, v := range d.Templating.List {
		if q, ok := v.Query.(string); ok && v.Type == "query" {
			// label_values(metric, label): the metric is the series read.
			q = strings.TrimSuffix(strings.TrimPrefix(q, "label_values("), ")")
			exprs = append(exprs, strings.Split(q, ",")[0])
		}
	}
	return exprs
}

// scrape reads a node's /metrics and returns, per series name, the values
// of its name label.
func scrape(t *testing.T, url string) map[string]map[string]bool {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	series := map[string]map[string]bool{}
	nameLabel := regexp.MustCompile(`[{,]name="([^"]*)"`)
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		name := line[:strings.IndexAny(line, "{ ")]
		if series[name] == nil {
			series[name] = map[string]bool{}
		}
		if m := nameLabel.FindStringSubmatch(line); m != nil {
			series[name][m[1]] = true
		}
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return series
}

// TestDashboards_EverySeriesExistsOnALiveNode runs a two-node cluster,
// makes it forward writes and push to a subscriber of the published v2
// SDK, scrapes a node and checks that every series the shipped Grafana
// dashboards query is exported.
func TestDashboards_EverySeriesExistsOnALiveNode(t *testing.T) {
	nodes := startTestCluster(t, 2)
	a := nodes[0]
	dir := sdkDir(t)
	cli, err := nacosv2.NewNamingClient(vov2.NacosClientParam{
		ClientConfig: constv2.NewClientConfig(constv2.WithTimeoutMs(5000), constv2.WithNotLoadCacheAtStart(true),
			constv2.WithCacheDir(dir), constv2.WithLogDir(dir), constv2.WithLogLevel("error")),
		ServerConfigs: []constv2.ServerConfig{*constv2.NewServerConfig("127.0.0.1", uint64(a.port))},
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cli.CloseClient)
	if err := cli.Subscribe(&vov2.SubscribeParam{ServiceName: "dash", SubscribeCallback: func([]modelv2.Instance, error) {}}); err != nil {
		t.Fatal(err)
	}
	// HTTP registrations through a: those a does not own are forwarded.
	forwarded := 0
	for i := 1; forwarded == 0 || i <= 4; i++ {
		ip := fmt.Sprintf("10.88.0.%d", i)
		if _, local := a.srv.cluster.Route(ip + ":80"); !local {
			forwarded++
		}
		if code, b := body(t, "POST", a.base+"/nacos/v1/ns/instance?serviceName=dash&port=80&ip="+ip); code != 200 {
			t.Fatalf("register %s: %d %s", ip, code, b)
		}
		if i > 200 {
			t.Fatal("no ip:port owned by the other node")
		}
	}
	testutil.Eventually(t, 20*time.Second, "a push acknowledged by the SDK", func() error {
		if n := counterValue(t, a.srv.reg, "distrod_push_sent_total", nil); n == 0 {
			return fmt.Errorf("no push acked")
		}
		return nil
	})

	series := scrape(t, a.base+"/metrics")
	if got := scrape(t, a.base+"/nacos/actuator/prometheus"); len(got) != len(series) {
		t.Errorf("/nacos/actuator/prometheus has %d series names, /metrics %d", len(got), len(series))
	}
	files, err := filepath.Glob(filepath.Join(testutil.ModuleRoot(), "deploy", "grafana", "*.json"))
	if err != nil || len(files) < 2 {
		t.Fatalf("dashboards: %v %v", files, err)
	}
	for _, f := range files {
		exprs := dashboardExprs(t, f)
		if len(exprs) == 0 {
			t.Errorf("%s: no queries", f)
		}
		var missing []string
		checked := 0
		for _, e := range exprs {
			for _, q := range queriesOf(e) {
				checked++
				got, ok := series[q.metric]
				if !ok {
					missing = append(missing, q.metric)
					continue
				}
				for _, n := range q.names {
					if !got[n] {
						missing = append(missing, fmt.Sprintf("%s{name=%q}", q.metric, n))
					}
				}
			}
		}
		sort.Strings(missing)
		if len(slices.Compact(missing)) > 0 {
			t.Errorf("%s queries series node %s does not export: %v", filepath.Base(f), a.addr(), slices.Compact(missing))
		}
		t.Logf("%s: %d queries, %d series references checked", filepath.Base(f), len(exprs), checked)
	}
	// Every naming gauge Nacos registers is there, under its Nacos name.
	for _, n := range nacosMonitorNames {
		if !series["nacos_monitor"][n] {
			t.Errorf("nacos_monitor{name=%q} missing", n)
		}
	}
}
