package e2e

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/distrod/distrod/internal/testutil"
)

func TestSecurity_ClusterWithoutSecretRefusesToStart(t *testing.T) {
	bin := testutil.BuildDistrod(t)
	port := testutil.PortBlock(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin)
	cmd.Env = []string{"MODE=cluster", "NACOS_SERVER_IP=127.0.0.1", "NACOS_APPLICATION_PORT=" + strconv.Itoa(port),
		"NACOS_SERVERS=127.0.0.1:" + strconv.Itoa(port)}
	out, err := cmd.CombinedOutput()
	var exit *exec.ExitError
	if !errors.As(err, &exit) || exit.ExitCode() != 2 {
		t.Fatalf("exit: %v, output %s", err, out)
	}
	for _, want := range []string{"DISTROD_CLUSTER_SECRET", "DISTROD_CLUSTER_SECRET_FILE", "DISTROD_CLUSTER_INSECURE=true"} {
		if !strings.Contains(string(out), want) {
			t.Errorf("the refusal does not name %s: %s", want, out)
		}
	}
}

func TestSecurity_InsecureClusterStartsAndWarns(t *testing.T) {
	bin := testutil.BuildDistrod(t)
	nd := &node{port: testutil.PortBlock(t)}
	env := append(clusterEnv(nd.port, []string{nd.addr()}), "DISTROD_CLUSTER_SECRET=", "DISTROD_CLUSTER_INSECURE=true")
	nd.proc = testutil.StartProcess(t, bin, nd.port, env)
	waitReady(t, nd)
	testutil.Eventually(t, 10*time.Second, "insecure warning logged", func() error {
		if !nd.proc.LogContains("INSECURE CLUSTER") {
			return errors.New("no warning in the log")
		}
		return nil
	})
}

func TestSecurity_SecretFlagIsNeverEchoed(t *testing.T) {
	bin := testutil.BuildDistrod(t)
	nd := &node{port: testutil.PortBlock(t)}
	const secret = "flag-secret-d1f0c2a8b7e94c3f"
	env := append(clusterEnv(nd.port, []string{nd.addr()}), "DISTROD_CLUSTER_SECRET=", "DISTROD_PPROF=true", "DISTROD_FAULT_INJECTION=true", "DISTROD_LOG_LEVEL=debug")
	nd.proc = testutil.StartProcess(t, bin, nd.port, env, "-cluster-secret", secret)
	waitReady(t, nd)
	for _, path := range []string{"/distrod/status", "/debug/pprof/cmdline", "/debug/pprof/", "/metrics", "/nacos/v1/core/cluster/nodes"} {
		code, b, err := get(nd.base() + path)
		if err != nil {
			t.Fatal(err)
		}
		if strings.Contains(b, secret) {
			t.Errorf("GET %s (%d) shows the secret", path, code)
		}
		if path == "/debug/pprof/cmdline" && code != 404 {
			t.Errorf("GET %s = %d, want 404", path, code)
		}
	}
	nd.proc.Stop()
	log, err := os.ReadFile(nd.proc.Log)
	if err != nil {
		t.Fatal(err)
	}
	if len(log) == 0 || strings.Contains(string(log), secret) {
		t.Fatalf("the log (%d bytes) shows the secret", len(log))
	}
}
