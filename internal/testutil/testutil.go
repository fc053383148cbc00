// Package testutil holds helpers for tests that drive real sockets and real
// processes: polling with deadlines (never fixed sleeps), free ports, and
// building and running the distrod binary.
package testutil

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"sync"
	"syscall"
	"testing"
	"time"
)

// Eventually calls cond every 10 ms until it returns nil, and fails the test
// with cond's last error if that does not happen within timeout.
func Eventually(t testing.TB, timeout time.Duration, what string, cond func() error) {
	t.Helper()
	if err := Poll(timeout, cond); err != nil {
		t.Fatalf("%s: not true within %v: %v", what, timeout, err)
	}
}

// Poll calls cond every 10 ms until it returns nil or timeout passes, and
// returns cond's last error in that case.
func Poll(timeout time.Duration, cond func() error) error {
	deadline := time.Now().Add(timeout)
	for {
		err := cond()
		if err == nil {
			return nil
		}
		if time.Now().After(deadline) {
			return err
		}
		time.Sleep(10 * time.Millisecond)
	}
}

var portMu sync.Mutex
var nextPort = 20000 + (os.Getpid()%190)*100

// RaftPortOffset is the Raft port offset test nodes use: p+1002 is never
// another block's HTTP, gRPC or cluster port, where the default (-1000)
// would be.
const RaftPortOffset = 1002

// PortBlock returns a base port p such that p (HTTP), p+1000 (Nacos gRPC),
// p+1001 (cluster) and p+RaftPortOffset (Raft) are all free on 127.0.0.1 right now. Ports are
// handed out from a per-process range so parallel test binaries rarely
// collide; each candidate is checked by binding it.
func PortBlock(t testing.TB) int {
	t.Helper()
	portMu.Lock()
	defer portMu.Unlock()
	for i := 0; i < 2000; i++ {
		// Blocks are 10 apart so that no block's +1000/+1001 ports meet
		// another block's.
		p := nextPort
		nextPort += 10
		if nextPort > 39000 {
			nextPort = 20000
		}
		if free(p) && free(p+1000) && free(p+1001) && free(p+RaftPortOffset) {
			return p
		}
	}
	t.Fatal("no free port block found")
	return 0
}

func free(p int) bool {
	l, err := net.Listen("tcp", "127.0.0.1:"+strconv.Itoa(p))
	if err != nil {
		return false
	}
	_ = l.Close()
	return true
}

// ModuleRoot returns the repository root (the directory holding go.mod).
func ModuleRoot() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Clean(filepath.Join(filepath.Dir(file), "..", ".."))
}

var (
	buildOnce sync.Once
	buildPath string
	buildErr  error
)

// BuildDistrod compiles cmd/distrod once per test process and returns the
// binary's path.
func BuildDistrod(t testing.TB) string {
	t.Helper()
	buildOnce.Do(func() {
		dir, err := os.MkdirTemp("", "distrod-bin-")
		if err != nil {
			buildErr = err
			return
		}
		buildPath = filepath.Join(dir, "distrod")
		cmd := exec.Command("go", "build", "-o", buildPath, "./cmd/distrod")
		cmd.Dir = ModuleRoot()
		out, err := cmd.CombinedOutput()
		if err != nil {
			buildErr = fmt.Errorf("go build ./cmd/distrod: %w\n%s", err, out)
		}
	})
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	return buildPath
}

// Process is a distrod process started by a test.
type Process struct {
	t    testing.TB
	Bin  string
	Env  []string
	Args []string
	Port int
	Log  string

	mu  sync.Mutex
	cmd *exec.Cmd
	out *os.File
}

// StartProcess starts bin with env (added to a minimal environment) and
// args, logging to a file in t.TempDir(). The process is killed when the
// test ends.
func StartProcess(t testing.TB, bin string, port int, env []string, args ...string) *Process {
	t.Helper()
	p := &Process{t: t, Bin: bin, Env: env, Args: args, Port: port,
		Log: filepath.Join(t.TempDir(), fmt.Sprintf("distrod-%d.log", port))}
	p.Start()
	t.Cleanup(func() {
		p.Kill()
		if t.Failed() {
			b, _ := os.ReadFile(p.Log)
			if len(b) > 8000 {
				b = b[len(b)-8000:]
			}
			t.Logf("log of node :%d (tail):\n%s", port, b)
		}
	})
	return p
}

// Start (re)starts the process, appending to its log file.
func (p *Process) Start() {
	p.t.Helper()
	p.mu.Lock()
	defer p.mu.Unlock()
	f, err := os.OpenFile(p.Log, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		p.t.Fatal(err)
	}
	cmd := exec.Command(p.Bin, p.Args...)
	cmd.Env = append([]string{"PATH=" + os.Getenv("PATH"), "HOME=" + os.TempDir(),
		"DISTROD_RAFT_PORT_OFFSET=" + strconv.Itoa(RaftPortOffset), "DISTROD_RAFT_HEARTBEAT_TIMEOUT=300ms"}, p.Env...)
	cmd.Stdout, cmd.Stderr = f, f
	cmd.Dir = filepath.Dir(p.Log)
	if err := cmd.Start(); err != nil {
		p.t.Fatal(err)
	}
	p.cmd, p.out = cmd, f
}

// Pid returns the process id of the running process, or 0.
func (p *Process) Pid() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.cmd == nil || p.cmd.Process == nil {
		return 0
	}
	return p.cmd.Process.Pid
}

// Kill sends SIGKILL and waits for the process to exit.
func (p *Process) Kill() { p.signal(syscall.SIGKILL) }

// Stop sends SIGTERM and waits for the process to exit.
func (p *Process) Stop() { p.signal(syscall.SIGTERM) }

func (p *Process) signal(sig syscall.Signal) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.cmd == nil {
		return
	}
	_ = p.cmd.Process.Signal(sig)
	done := make(chan struct{})
	go func() { _ = p.cmd.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(20 * time.Second):
		_ = p.cmd.Process.Kill()
		<-done
	}
	_ = p.out.Close()
	p.cmd = nil
}

// LogContains reports whether the process log contains s.
func (p *Process) LogContains(s string) bool {
	b, _ := os.ReadFile(p.Log)
	return bytes.Contains(b, []byte(s))
}

// CommandContext is exec.CommandContext rooted at the module root, for
// tests that run `go run` style commands.
func CommandContext(ctx context.Context, name string, args ...string) *exec.Cmd {
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Dir = ModuleRoot()
	return cmd
}
