package server

import (
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/distrod/distrod/internal/config"
	"github.com/distrod/distrod/internal/testutil"
)

var update = flag.Bool("update", false, "rewrite testdata/*.golden")

// coreStep is one request of the core API golden script.
type coreStep struct{ name, method, path, body string }

// TestCore_GoldenWalkThrough exercises Nacos's core cluster and ops API
// and /v1/console/server/state on a standalone node and compares the
// answers, with the port, times and build version masked, with
// testdata/core.golden.
func TestCore_GoldenWalkThrough(t *testing.T) {
	cfg := config.DefaultLocalConfig()
	cfg.Port = testutil.PortBlock(t)
	_, base, _ := startServer(t, cfg, slog.New(slog.DiscardHandler))
	steps := []coreStep{
		{"v1 nodes", "GET", "/nacos/v1/core/cluster/nodes", ""},
		{"v1 nodes keyword that matches nothing", "GET", "/nacos/v1/core/cluster/nodes?keyword=10.", ""},
		{"v1 self", "GET", "/nacos/v1/core/cluster/self", ""},
		{"v1 simple nodes", "GET", "/nacos/v1/core/cluster/simple/nodes", ""},
		{"v1 health", "GET", "/nacos/v1/core/cluster/health", ""},
		{"v1 report of an illegal member", "POST", "/nacos/v1/core/cluster/report", `{"ip":""}`},
		{"v1 report", "POST", "/nacos/v1/core/cluster/report", `{"ip":"127.0.0.1","port":9999}`},
		{"v1 switch lookup missing type", "POST", "/nacos/v1/core/cluster/switch/lookup", ""},
		{"v1 switch lookup", "POST", "/nacos/v1/core/cluster/switch/lookup?type=file", ""},
		{"v1 server leave", "POST", "/nacos/v1/core/cluster/server/leave", `["127.0.0.1:8848"]`},
		{"v1 nodes is GET only", "POST", "/nacos/v1/core/cluster/nodes", ""},
		{"v2 node self", "GET", "/nacos/v2/core/cluster/node/self", ""},
		{"v2 node self health", "GET", "/nacos/v2/core/cluster/node/self/health", ""},
		{"v2 node list by state", "GET", "/nacos/v2/core/cluster/node/list?state=up", ""},
		{"v2 node list state DOWN", "GET", "/nacos/v2/core/cluster/node/list?state=DOWN", ""},
		{"v2 node list illegal state", "GET", "/nacos/v2/core/cluster/node/list?state=sleepy", ""},
		{"v2 node list update refused", "PUT", "/nacos/v2/core/cluster/node/list", `[{"ip":"127.0.0.1","port":9999}]`},
		{"v2 lookup missing type", "PUT", "/nacos/v2/core/cluster/lookup", ""},
		{"v2 lookup", "PUT", "/nacos/v2/core/cluster/lookup?type=file", ""},
		{"v2 delete nodes", "DELETE", "/nacos/v2/core/cluster/nodes?addresses=127.0.0.1:8848", ""},
		{"v2 ops ids", "GET", "/nacos/v2/core/ops/ids", ""},
		{"v2 ops log bad body", "PUT", "/nacos/v2/core/ops/log", `logLevel=INFO`},
		{"v2 ops log unknown level", "PUT", "/nacos/v2/core/ops/log", `{"logName":"core-auth","logLevel":"LOUD"}`},
		{"v2 ops log", "PUT", "/nacos/v2/core/ops/log", `{"logName":"core-auth","logLevel":"INFO"}`},
		{"v2 ops raft snapshot", "POST", "/nacos/v2/core/ops/raft", `{"command":"doSnapshot"}`},
		{"v2 ops raft transfer on a standalone node", "POST", "/nacos/v2/core/ops/raft", `{"command":"transferLeader","value":"127.0.0.1:7848"}`},
		{"v1 ops idInfo", "GET", "/nacos/v1/core/ops/idInfo", ""},
		{"v1 ops raft without a command", "POST", "/nacos/v1/core/ops/raft", `{}`},
		{"v1 ops raft bad body", "POST", "/nacos/v1/core/ops/raft", `command=doSnapshot`},
		{"v1 ops raft snapshot of this node by group", "POST", "/nacos/v1/core/ops/raft", `{"groupId":"naming_persistent_service_v2","command":"doSnapshot","value":"127.0.0.1:PORT"}`},
		{"v1 ops raft snapshot of another node", "POST", "/nacos/v1/core/ops/raft", `{"command":"doSnapshot","value":"10.0.0.9:7848"}`},
		{"v1 ops raft unknown group", "POST", "/nacos/v1/core/ops/raft", `{"groupId":"nacos_config","command":"doSnapshot"}`},
		{"v1 ops raft peer changes are refused", "POST", "/nacos/v1/core/ops/raft", `{"command":"removePeer","value":"10.0.0.9:7848"}`},
		{"console server state", "GET", "/nacos/v1/console/server/state", ""},
		{"loader current with no connections", "GET", "/nacos/v2/core/loader/current", ""},
		{"loader cluster of a standalone node", "GET", "/nacos/v2/core/loader/cluster", ""},
		{"loader smart reload with nothing to move", "GET", "/nacos/v2/core/loader/smartReloadCluster", ""},
	}
	walkGolden(t, base, cfg.Port, steps, "core.golden")
}

// walkGolden runs steps against the node at base (HTTP port port) and
// compares the answers, with the port, times, load and build version
// masked, with testdata/file (-update rewrites it). PORT in a request
// body is replaced by the port.
func walkGolden(t *testing.T, base string, p int, steps []coreStep, file string) {
	t.Helper()
	port := strconv.Itoa(p)
	mask := strings.NewReplacer(":"+port, ":PORT", `"port":`+port, `"port":PORT`, `"server_port":"`+port+`"`, `"server_port":"PORT"`,
		`"raftPort":"`+strconv.Itoa(p+testutil.RaftPortOffset)+`"`, `"raftPort":"RAFT_PORT"`)
	times := regexp.MustCompile(`(\\?"lastRefreshTime\\?":)\d+`)
	load := regexp.MustCompile(`"(cpu|load)":"[^"]*"`)
	escaped := regexp.MustCompile(`\\"(raftPort|version)\\":\\"[^\\]*\\"`)
	version := regexp.MustCompile(`"(version|distrod_version)":"(distrod )?[^"]*"`)
	var b strings.Builder
	for _, s := range steps {
		var rd io.Reader
		if s.body != "" {
			// PORT in a body is this node's port; the golden keeps PORT.
			rd = strings.NewReader(strings.ReplaceAll(s.body, "PORT", port))
		}
		req, err := http.NewRequest(s.method, base+s.path, rd)
		if err != nil {
			t.Fatal(err)
		}
		if s.body != "" && s.body[0] != '{' && s.body[0] != '[' {
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		} else if s.body != "" {
			req.Header.Set("Content-Type", "application/json")
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		out, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		got := mask.Replace(strings.TrimSpace(string(out)))
		got = times.ReplaceAllString(got, `${1}TIME`)
		got = load.ReplaceAllString(got, `"$1":"LOAD"`)
		got = escaped.ReplaceAllString(got, `\"$1\":\"MASKED\"`)
		got = version.ReplaceAllStringFunc(got, func(m string) string {
			if strings.HasPrefix(m, `"version":"2.5`) {
				return m
			}
			return m[:strings.Index(m, ":")] + `:"VERSION"`
		})
		fmt.Fprintf(&b, "### %s\n> %s %s\n", s.name, s.method, s.path)
		if s.body != "" {
			fmt.Fprintf(&b, "> %s\n", s.body)
		}
		fmt.Fprintf(&b, "< %d\n%s\n\n", resp.StatusCode, got)
	}
	path := filepath.Join("testdata", file)
	if *update {
		if err := os.WriteFile(path, []byte(b.String()), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run with -update to create)", err)
	}
	if string(want) != b.String() {
		wl, gl := strings.Split(string(want), "\n"), strings.Split(b.String(), "\n")
		for i := 0; i < len(wl) && i < len(gl); i++ {
			if wl[i] != gl[i] {
				t.Fatalf("%s differs from golden at line %d (run with -update and review the diff)\nwant: %s\ngot:  %s", path, i+1, wl[i], gl[i])
			}
		}
		t.Fatalf("%s differs from golden in length (run with -update)", path)
	}
}

// TestCore_AccessWithAuthOn: with auth on, the server state stays open
// (the console reads it before login), the loader and core cluster API
// need ROLE_ADMIN, and the selector types stay open as in Nacos.
func TestCore_AccessWithAuthOn(t *testing.T) {
	port, _ := startAuth(t)
	base := "http://127.0.0.1:" + strconv.Itoa(port)
	code, b := form(t, "POST", base+"/nacos/v1/auth/users/login", url.Values{"username": {"nacos"}, "password": {"adminpw"}})
	var login struct {
		AccessToken string `json:"accessToken"`
	}
	if code != 200 || json.Unmarshal([]byte(b), &login) != nil {
		t.Fatalf("admin login: %d %s", code, b)
	}
	tok := "accessToken=" + url.QueryEscape(login.AccessToken)
	for _, c := range []struct {
		path string
		want int
	}{
		{"/nacos/v1/console/server/state", 200},
		{"/nacos/v1/ns/service/selector/types", 200},
		{"/nacos/v2/core/loader/current", 403},
		{"/nacos/v2/core/loader/current?" + tok, 200},
		{"/nacos/v2/core/loader/cluster?" + tok, 200},
		{"/nacos/v1/core/cluster/simple/nodes", 403},
		{"/nacos/v1/core/cluster/simple/nodes?" + tok, 200},
		{"/nacos/v2/ns/client/publish/list?clientId=x", 403},
	} {
		if code, b := body(t, "GET", base+c.path); code != c.want {
			t.Errorf("GET %s = %d %s, want %d", c.path, code, b, c.want)
		}
	}
	if code, b := body(t, "GET", base+"/nacos/v1/console/server/state"); !strings.Contains(b, `"auth_enabled":"true"`) {
		t.Errorf("server state with auth on: %d %s", code, b)
	}
}
