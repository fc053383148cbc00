package e2e

import (
	"debug/elf"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/nacos-group/nacos-sdk-go/v2/model"
	"github.com/nacos-group/nacos-sdk-go/v2/vo"

	"github.com/distrod/distrod/internal/testutil"
)

// imageConfig is the part of `podman image inspect` the test uses.
type imageConfig struct {
	Config struct {
		User         string
		Env          []string
		Entrypoint   []string
		WorkingDir   string
		ExposedPorts map[string]struct{}
		Volumes      map[string]struct{}
	}
	HealthCheck struct {
		Test []string
	}
}

// imageRoot is the exported file system of a built image and how to run a
// command of it: chrooted as the image's user when the test runs as root
// (what a container runtime does, minus namespaces), else from the host with
// NACOS_HOME pointed into the export.
type imageRoot struct {
	dir string
	cfg imageConfig
}

func (r *imageRoot) command(t *testing.T, argv []string, env []string) *exec.Cmd {
	t.Helper()
	env = append(slices.Clone(r.cfg.Config.Env), env...)
	if os.Geteuid() != 0 {
		cmd := exec.Command(filepath.Join(r.dir, argv[0]), argv[1:]...)
		cmd.Env = append(env, "NACOS_HOME="+filepath.Join(r.dir, "home", "nacos"))
		cmd.Dir = filepath.Join(r.dir, r.cfg.Config.WorkingDir)
		return cmd
	}
	uid, gid, ok := strings.Cut(r.cfg.Config.User, ":")
	u, err1 := strconv.Atoi(uid)
	g, err2 := strconv.Atoi(gid)
	if !ok || err1 != nil || err2 != nil {
		t.Fatalf("image user %q is not numeric uid:gid", r.cfg.Config.User)
	}
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Env = env
	cmd.Dir = r.cfg.Config.WorkingDir
	cmd.SysProcAttr = &syscall.SysProcAttr{Chroot: r.dir, Credential: &syscall.Credential{Uid: uint32(u), Gid: uint32(g)}}
	return cmd
}

// buildImage builds the image with scripts/image.sh (nothing pulled),
// checks its configuration and exports its file system.
func buildImage(t *testing.T) *imageRoot {
	t.Helper()
	podman, err := exec.LookPath("podman")
	if err != nil {
		t.Fatal("DISTROD_IMAGE_TEST is set but podman is not installed (scripts/setup.sh installs it)")
	}
	tag := fmt.Sprintf("localhost/distrod:e2e-%d", os.Getpid())
	run := func(name string, args ...string) string {
		t.Helper()
		cmd := exec.Command(name, args...)
		cmd.Dir = testutil.ModuleRoot()
		out, err := cmd.Output()
		if err != nil {
			var stderr []byte
			if ee, ok := err.(*exec.ExitError); ok {
				stderr = ee.Stderr
			}
			t.Fatalf("%s %v: %v\n%s%s", name, args, err, out, stderr)
		}
		return strings.TrimSpace(string(out))
	}
	run("scripts/image.sh", tag)
	t.Cleanup(func() { _ = exec.Command(podman, "rmi", "-f", tag).Run() })

	var cfgs []imageConfig
	if err := json.Unmarshal([]byte(run(podman, "image", "inspect", tag)), &cfgs); err != nil || len(cfgs) != 1 {
		t.Fatalf("image inspect: %v (%d configs)", err, len(cfgs))
	}
	r := &imageRoot{dir: filepath.Join(t.TempDir(), "rootfs"), cfg: cfgs[0]}
	c := r.cfg.Config
	if c.User == "" || strings.HasPrefix(c.User, "0") || c.User == "root" {
		t.Errorf("image runs as %q, want a non-root user", c.User)
	}
	for _, p := range []string{"8848/tcp", "9848/tcp", "9849/tcp"} {
		if _, ok := c.ExposedPorts[p]; !ok {
			t.Errorf("image does not expose %s: %v", p, c.ExposedPorts)
		}
	}
	if _, ok := c.Volumes["/home/nacos/data"]; !ok || c.WorkingDir != "/home/nacos" {
		t.Errorf("volumes %v, workdir %q: want /home/nacos/data and /home/nacos", c.Volumes, c.WorkingDir)
	}
	if len(r.cfg.HealthCheck.Test) < 2 || r.cfg.HealthCheck.Test[0] != "CMD" {
		t.Fatalf("healthcheck %v: want an exec-form CMD (a scratch image has no shell)", r.cfg.HealthCheck.Test)
	}

	// The file system, as a container would see it.
	cid := run(podman, "create", tag)
	tarPath := filepath.Join(t.TempDir(), "rootfs.tar")
	run(podman, "export", "-o", tarPath, cid)
	run(podman, "rm", cid)
	if err := os.MkdirAll(r.dir, 0o755); err != nil {
		t.Fatal(err)
	}
	run("tar", "-C", r.dir, "-xf", tarPath)
	for _, d := range []string{"conf", "data", "logs"} {
		fi, err := os.Stat(filepath.Join(r.dir, "home", "nacos", d))
		if err != nil || !fi.IsDir() {
			t.Errorf("/home/nacos/%s missing in the image: %v", d, err)
		}
	}
	// A scratch image holds no libc: the binary must be static.
	f, err := elf.Open(filepath.Join(r.dir, c.Entrypoint[0]))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	for _, p := range f.Progs {
		if p.Type == elf.PT_INTERP || p.Type == elf.PT_DYNAMIC {
			t.Fatalf("%s is dynamically linked", c.Entrypoint[0])
		}
	}
	return r
}

// TestImage_ClusterFromTheImageConfiguredByNacosEnv builds the container
// image, exports its file system and runs its entrypoint from there as a
// three-node cluster on loopback, configured only with the environment
// variables of Nacos's Docker guide and the cluster secret; the published
// v2 SDK registers through one node and discovers through the others, and
// the image's HEALTHCHECK command passes. Opt-in: DISTROD_IMAGE_TEST=1
// (needs podman, ~1 minute for the image build).
func TestImage_ClusterFromTheImageConfiguredByNacosEnv(t *testing.T) {
	if os.Getenv("DISTROD_IMAGE_TEST") == "" {
		t.Skip("set DISTROD_IMAGE_TEST=1 to build and test the container image (needs podman)")
	}
	img := buildImage(t)

	nodes := make([]*node, 3)
	members := make([]string, 3)
	for i := range nodes {
		nodes[i] = &node{port: testutil.PortBlock(t)}
		members[i] = nodes[i].addr()
	}
	for _, nd := range nodes {
		env := []string{
			"MODE=cluster",
			"NACOS_SERVERS=" + strings.Join(members, " "),
			"NACOS_SERVER_IP=127.0.0.1",
			"NACOS_APPLICATION_PORT=" + strconv.Itoa(nd.port),
			"DISTROD_CLUSTER_SECRET=" + e2eSecret,
		}
		cmd := img.command(t, img.cfg.Config.Entrypoint, env)
		logf, err := os.Create(filepath.Join(t.TempDir(), "node.log"))
		if err != nil {
			t.Fatal(err)
		}
		cmd.Stdout, cmd.Stderr = logf, logf
		if err := cmd.Start(); err != nil {
			t.Fatalf("start %v: %v", cmd.Args, err)
		}
		t.Cleanup(func() {
			_ = cmd.Process.Kill()
			_ = cmd.Wait()
			if t.Failed() {
				b, _ := os.ReadFile(logf.Name())
				t.Logf("log of %s:\n%s", nd.addr(), b)
			}
			logf.Close()
		})
	}
	for _, nd := range nodes {
		waitReady(t, nd)
	}

	// The image's own HEALTHCHECK, run the way the runtime would.
	hc := img.command(t, img.cfg.HealthCheck.Test[1:], []string{"NACOS_APPLICATION_PORT=" + strconv.Itoa(nodes[1].port)})
	if out, err := hc.CombinedOutput(); err != nil {
		t.Fatalf("HEALTHCHECK %v: %v\n%s", img.cfg.HealthCheck.Test, err, out)
	}

	// Register through node 0, subscribe on node 1, query node 2.
	pushed := make(chan []model.Instance, 16)
	if err := sdkClient(t, nodes[1]).Subscribe(&vo.SubscribeParam{ServiceName: "image.demo", SubscribeCallback: func(s []model.Instance, err error) {
		if err == nil {
			pushed <- s
		}
	}}); err != nil {
		t.Fatal(err)
	}
	ok, err := sdkClient(t, nodes[0]).RegisterInstance(vo.RegisterInstanceParam{Ip: "10.3.0.1", Port: 8080, ServiceName: "image.demo",
		Weight: 1, Enable: true, Healthy: true, Ephemeral: true})
	if err != nil || !ok {
		t.Fatalf("SDK register via %s: %v %v", nodes[0].addr(), ok, err)
	}
	reader := sdkClient(t, nodes[2])
	testutil.Eventually(t, 20*time.Second, "instance discovered through node 2", func() error {
		ins, err := reader.SelectAllInstances(vo.SelectAllInstancesParam{ServiceName: "image.demo"})
		if err != nil {
			return err
		}
		if len(ins) != 1 || ins[0].Ip != "10.3.0.1" || ins[0].Port != 8080 {
			return fmt.Errorf("instances %+v", ins)
		}
		return nil
	})
	deadline := time.After(20 * time.Second)
	for {
		select {
		case s := <-pushed:
			if len(s) == 1 && s[0].Ip == "10.3.0.1" {
				return
			}
		case <-deadline:
			t.Fatal("the subscriber on node 1 got no push of the instance")
		}
	}
}
