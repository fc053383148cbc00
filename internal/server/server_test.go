package server

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/distrod/distrod/internal/config"
	"github.com/distrod/distrod/internal/testutil"
)

func startStandalone(t *testing.T) (base string, stop func() error) {
	t.Helper()
	cfg := config.DefaultLocalConfig()
	cfg.Port = testutil.PortBlock(t)
	_, base, stop = startServer(t, cfg, slog.New(slog.DiscardHandler))
	return base, stop
}

// startServer runs a node with cfg (normalised here) until the test ends
// and waits for its HTTP port.
func startServer(t *testing.T, cfg config.Config, log *slog.Logger) (srv *Server, base string, stop func() error) {
	t.Helper()
	testDataDir(t, &cfg)
	if err := cfg.Normalize(); err != nil {
		t.Fatal(err)
	}
	srv, err := New(cfg, log)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	errc := make(chan error, 1)
	go func() { errc <- srv.Run(ctx) }()
	base = "http://127.0.0.1:" + strconv.Itoa(cfg.Port)
	testutil.Eventually(t, 10*time.Second, "server up", func() error {
		resp, err := http.Get(base + "/nacos/v1/console/health/liveness")
		if err != nil {
			return err
		}
		resp.Body.Close()
		return nil
	})
	stopped := false
	stop = func() error {
		if stopped {
			return nil
		}
		stopped = true
		cancel()
		select {
		case err := <-errc:
			return err
		case <-time.After(15 * time.Second):
			return fmt.Errorf("server did not stop")
		}
	}
	t.Cleanup(func() { _ = stop() })
	return srv, base, stop
}

func body(t *testing.T, method, u string) (int, string) {
	t.Helper()
	req, _ := http.NewRequest(method, u, nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

func TestServer_StandaloneServesAPIMetricsAndStatus(t *testing.T) {
	base, stop := startStandalone(t)
	if code, b := body(t, "POST", base+"/nacos/v1/ns/instance?serviceName=s&ip=10.0.0.1&port=80"); code != 200 || b != "ok" {
		t.Fatalf("register: %d %s", code, b)
	}
	if code, b := body(t, "GET", base+"/nacos/v1/console/health/readiness"); code != 200 {
		t.Fatalf("readiness: %d %s", code, b)
	}
	code, b := body(t, "GET", base+"/metrics")
	if code != 200 || !strings.Contains(b, "distrod_naming_instances 1") {
		t.Fatalf("metrics lack the instance gauge: %d", code)
	}
	if code, b := body(t, "GET", base+"/nacos/actuator/prometheus"); code != 200 || !strings.Contains(b, "distrod_naming_services 1") {
		t.Fatalf("actuator endpoint: %d", code)
	}
	code, b = body(t, "GET", base+"/distrod/status")
	var st NodeStatus
	if err := json.Unmarshal([]byte(b), &st); err != nil || code != 200 {
		t.Fatalf("status: %d %v %s", code, err, b)
	}
	if !st.Ready || st.Instances != 1 || st.Mode != "standalone" || len(st.Members) != 1 || st.Digest == "" {
		t.Fatalf("status %+v", st)
	}
	if code, b := body(t, "GET", base+"/nacos/v1/core/cluster/nodes"); code != 200 || !strings.Contains(b, `"state":"UP"`) {
		t.Fatalf("nodes: %d %s", code, b)
	}
	if err := stop(); err != nil {
		t.Fatalf("graceful stop: %v", err)
	}
	if _, err := http.Get(base + "/nacos/v1/console/health/liveness"); err == nil {
		t.Fatal("server still answers after stop")
	}
}

// testDataDir keeps a test node's control plane data in a temporary
// directory and its Raft port off the port blocks' other ports.
func testDataDir(t *testing.T, cfg *config.Config) {
	t.Helper()
	if cfg.DataDir == "" || !filepath.IsAbs(cfg.HomePath(cfg.DataDir)) {
		cfg.DataDir = t.TempDir()
	}
	cfg.RaftPortOffset = testutil.RaftPortOffset
	cfg.RaftHeartbeatTimeout = 300 * time.Millisecond
}
