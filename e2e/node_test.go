package e2e

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/distrod/distrod/internal/testutil"
)

// TestNodeClient_RegisterSubscribeDeregister drives a real distrod process
// with the published Nacos Node.js client (e2e/nodeclient, installed by
// scripts/setup.sh): HTTP v1 registration, subscription with UDP push,
// reads, and a deregistration the subscriber sees.
func TestNodeClient_RegisterSubscribeDeregister(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a process and Node.js")
	}
	dir := filepath.Join(testutil.ModuleRoot(), "e2e", "nodeclient")
	nodeBin, err := exec.LookPath("node")
	if err != nil {
		t.Skip("node is not installed: the Node.js client test needs Node.js 18+ (scripts/setup.sh installs the client when npm is present)")
	}
	if _, err := os.Stat(filepath.Join(dir, "node_modules", "nacos")); err != nil {
		t.Skip("e2e/nodeclient/node_modules is missing: run scripts/setup.sh")
	}
	port := testutil.PortBlock(t)
	nd := &node{port: port}
	nd.proc = testutil.StartProcess(t, testutil.BuildDistrod(t), port, []string{"NACOS_APPLICATION_PORT=" + strconv.Itoa(port)})
	waitReady(t, nd)
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, nodeBin, "naming.js", strconv.Itoa(port))
	cmd.Dir = dir
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("node client failed: %v\n%s", err, out)
	}
	t.Logf("%s", out)
}
