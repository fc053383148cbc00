package ctl

import (
	"bytes"
	"context"
	"encoding/base64"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/distrod/distrod/internal/config"
	"github.com/distrod/distrod/internal/server"
	"github.com/distrod/distrod/internal/testutil"
)

const adminPassword = "ctl-admin-pw"

// startNode runs an in-process node with client auth on and returns its
// HTTP address.
func startNode(t *testing.T) string {
	t.Helper()
	cfg := config.DefaultLocalConfig()
	cfg.Port = testutil.PortBlock(t)
	cfg.Home = t.TempDir()
	cfg.AuthEnabled = true
	cfg.AuthTokenSecret = base64.StdEncoding.EncodeToString([]byte("ctl-test-token-secret-0123456789abcdef"))
	cfg.AuthAdminPassword = adminPassword
	if err := cfg.Normalize(); err != nil {
		t.Fatal(err)
	}
	srv, err := server.New(cfg, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	errc := make(chan error, 1)
	go func() { errc <- srv.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		select {
		case <-errc:
		case <-time.After(15 * time.Second):
			t.Error("server did not stop")
		}
	})
	addr := "127.0.0.1:" + strconv.Itoa(cfg.Port)
	testutil.Eventually(t, 10*time.Second, "node ready", func() error {
		if code := Health([]string{"-addr", addr}, noEnv, &bytes.Buffer{}, &bytes.Buffer{}); code != 0 {
			return fmt.Errorf("health exit %d", code)
		}
		return nil
	})
	return addr
}

func noEnv(string) string { return "" }

// ctl runs `distrod ctl` with the admin's credentials from the environment.
func ctl(t *testing.T, addr string, args ...string) (int, string, string) {
	t.Helper()
	env := map[string]string{"DISTROD_CTL_SERVER": addr, "DISTROD_CTL_USERNAME": "nacos", "DISTROD_CTL_PASSWORD": adminPassword}
	var out, errb bytes.Buffer
	code := Main(args, func(k string) string { return env[k] }, &out, &errb)
	return code, out.String(), errb.String()
}

func register(t *testing.T, addr, token, ns, service, ip string, port int) {
	t.Helper()
	q := url.Values{"serviceName": {service}, "ip": {ip}, "port": {strconv.Itoa(port)}, "namespaceId": {ns}, "accessToken": {token}}
	resp, err := http.PostForm("http://"+addr+"/nacos/v1/ns/instance", q)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("register %s %s:%d: %s", service, ip, port, resp.Status)
	}
}

func TestCtl_AgainstARealServerWithAuth(t *testing.T) {
	addr := startNode(t)
	c := &Client{Base: "http://" + addr, ContextPath: "/nacos"}
	ctx := context.Background()
	if err := c.Login(ctx, "nacos", "wrong"); err == nil {
		t.Fatal("login with a wrong password succeeded")
	}
	if err := c.Login(ctx, "nacos", adminPassword); err != nil {
		t.Fatal(err)
	}
	register(t, addr, c.token, "dev", "orders", "10.0.0.1", 8080)
	register(t, addr, c.token, "dev", "orders", "10.0.0.2", 8080)
	register(t, addr, c.token, "dev", "payments", "10.0.0.3", 9090)
	register(t, addr, c.token, "", "public-svc", "10.0.0.4", 80)

	// Without credentials the node refuses, and ctl says so.
	var out, errb bytes.Buffer
	if code := Main([]string{"-server", addr, "services"}, noEnv, &out, &errb); code != 1 || !strings.Contains(errb.String(), "403") {
		t.Fatalf("unauthenticated services: exit %d, stderr %q; want 1 and a 403", code, errb.String())
	}

	code, stdout, stderr := ctl(t, addr, "status")
	if code != 0 || !strings.Contains(stdout, "ready") || !strings.Contains(stdout, addr) || !strings.Contains(stdout, "UP") {
		t.Fatalf("status: exit %d\n%s%s", code, stdout, stderr)
	}
	code, stdout, stderr = ctl(t, addr, "members")
	if code != 0 || !strings.Contains(stdout, addr+"  UP") {
		t.Fatalf("members: exit %d\n%s%s", code, stdout, stderr)
	}
	code, stdout, stderr = ctl(t, addr, "-namespace", "dev", "services")
	if code != 0 || stdout != "orders\npayments\n" && stdout != "payments\norders\n" {
		t.Fatalf("services in dev: exit %d %q %s", code, stdout, stderr)
	}
	code, stdout, _ = ctl(t, addr, "services")
	if code != 0 || strings.TrimSpace(stdout) != "public-svc" {
		t.Fatalf("services in public: exit %d %q", code, stdout)
	}

	code, stdout, stderr = ctl(t, addr, "disable", "orders", "10.0.0.2:8080", "-namespace", "dev")
	if code != 0 {
		t.Fatalf("disable: exit %d %s%s", code, stdout, stderr)
	}
	is, err := c.Instances(ctx, "dev", "", "orders")
	if err != nil {
		t.Fatal(err)
	}
	enabled := map[string]bool{}
	for _, i := range is {
		enabled[i.IP] = i.Enabled
	}
	if len(is) != 2 || !enabled["10.0.0.1"] || enabled["10.0.0.2"] {
		t.Fatalf("after disable: %+v, want 10.0.0.2 disabled, 10.0.0.1 enabled", is)
	}
	code, stdout, _ = ctl(t, addr, "-namespace", "dev", "instances", "orders")
	if code != 0 || !strings.Contains(stdout, "10.0.0.2:8080") || !strings.Contains(stdout, "false") {
		t.Fatalf("instances: exit %d\n%s", code, stdout)
	}
	if code, stdout, stderr = ctl(t, addr, "-namespace", "dev", "enable", "orders", "10.0.0.2:8080"); code != 0 {
		t.Fatalf("enable: exit %d %s%s", code, stdout, stderr)
	}
	code, stdout, _ = ctl(t, addr, "-namespace", "dev", "-json", "instances", "orders")
	if code != 0 || strings.Contains(stdout, `"enabled": false`) || strings.Count(stdout, `"enabled": true`) != 2 {
		t.Fatalf("instances after enable: exit %d\n%s", code, stdout)
	}

	if code, _, _ = ctl(t, addr, "instances"); code != 2 {
		t.Fatalf("instances without a service: exit %d, want 2", code)
	}
	if code, _, _ = ctl(t, addr, "frobnicate"); code != 2 {
		t.Fatalf("unknown command: exit %d, want 2", code)
	}
}

func TestHealth_ExitsOneWhenNothingListens(t *testing.T) {
	port := testutil.PortBlock(t)
	var out, errb bytes.Buffer
	env := func(k string) string {
		if k == "NACOS_APPLICATION_PORT" {
			return strconv.Itoa(port)
		}
		return ""
	}
	if code := Health([]string{"-timeout", "2s"}, env, &out, &errb); code != 1 {
		t.Fatalf("exit %d, want 1 (stderr %q)", code, errb.String())
	}
	if code := Health([]string{"-bogus"}, env, &out, &errb); code != 2 {
		t.Fatalf("bad flag: exit %d, want 2", code)
	}
}
