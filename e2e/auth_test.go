package e2e

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/distrod/distrod/internal/testutil"
)

// authSecret is the base64 of 32 bytes.
const authSecret = "MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY="

// TestAuth_RefusesToStartWithoutTokenSecret: NACOS_AUTH_ENABLE=true alone
// must stop the process with a message saying what to set, not start a
// node that silently ignores auth.
func TestAuth_RefusesToStartWithoutTokenSecret(t *testing.T) {
	bin := testutil.BuildDistrod(t)
	for _, tc := range []struct{ name, token, want string }{
		{"no secret", "", "set NACOS_AUTH_TOKEN"},
		{"short secret", "c2hvcnQ=", "at least 32 bytes"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			cmd := exec.CommandContext(ctx, bin)
			cmd.Env = []string{"NACOS_AUTH_ENABLE=true", "NACOS_AUTH_TOKEN=" + tc.token,
				"NACOS_APPLICATION_PORT=" + strconv.Itoa(testutil.PortBlock(t)), "NACOS_HOME=" + t.TempDir()}
			out, err := cmd.CombinedOutput()
			var exit *exec.ExitError
			if !errors.As(err, &exit) || exit.ExitCode() != 2 || !strings.Contains(string(out), tc.want) {
				t.Fatalf("exit %v, output %q: want exit status 2 and a message containing %q", err, out, tc.want)
			}
		})
	}
}

// TestNodeClient_WithAuth runs the Node.js client with username and
// password (it sends them with every request) against a process with auth
// on and the admin seeded from the environment.
func TestNodeClient_WithAuth(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a process and Node.js")
	}
	dir := filepath.Join(testutil.ModuleRoot(), "e2e", "nodeclient")
	nodeBin, err := exec.LookPath("node")
	if err != nil {
		t.Skip("node is not installed")
	}
	if _, err := os.Stat(filepath.Join(dir, "node_modules", "nacos")); err != nil {
		t.Skip("e2e/nodeclient/node_modules is missing: run scripts/setup.sh")
	}
	port := testutil.PortBlock(t)
	nd := &node{port: port}
	nd.proc = testutil.StartProcess(t, testutil.BuildDistrod(t), port, []string{
		"NACOS_APPLICATION_PORT=" + strconv.Itoa(port), "NACOS_HOME=" + t.TempDir(),
		"NACOS_AUTH_ENABLE=true", "NACOS_AUTH_TOKEN=" + authSecret, "DISTROD_AUTH_ADMIN_PASSWORD=admin-pw",
	})
	waitReady(t, nd)
	if code, body, err := get(nd.base() + "/nacos/v1/ns/instance/list?serviceName=node.e2e"); err != nil || code != 403 {
		t.Fatalf("anonymous read: %d %s %v, want 403", code, body, err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, nodeBin, "naming.js", strconv.Itoa(port), "nacos", "admin-pw")
	cmd.Dir = dir
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("node client with credentials failed: %v\n%s", err, out)
	}
	t.Logf("%s", out)
}
