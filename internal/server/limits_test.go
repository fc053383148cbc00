package server

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net"
	"strconv"
	"testing"
	"time"

	"github.com/distrod/distrod/internal/config"
	"github.com/distrod/distrod/internal/naming"
	"github.com/distrod/distrod/internal/testutil"
)

func TestStoreLimits_MapsEverySetting(t *testing.T) {
	cfg := config.DefaultLocalConfig()
	cfg.MaxNamespaceLength, cfg.MaxGroupLength, cfg.MaxServiceNameLength = 1, 2, 3
	cfg.MaxMetadataKeyBytes, cfg.MaxMetadataValueBytes, cfg.MaxMetadataBytes = 4, 5, 6
	cfg.MaxInstancesPerService, cfg.MaxServicesPerNamespace, cfg.MaxNamespaces = 7, 8, 9
	want := naming.Limits{MaxNamespaceLen: 1, MaxGroupLen: 2, MaxServiceNameLen: 3, MaxMetadataKeyLen: 4,
		MaxMetadataValueLen: 5, MaxMetadataBytes: 6, MaxInstancesPerService: 7, MaxServicesPerNamespace: 8, MaxNamespaces: 9}
	if got := storeLimits(cfg); got != want {
		t.Fatalf("storeLimits = %+v, want %+v", got, want)
	}
	if got := storeLimits(config.DefaultConfig()); got != naming.DefaultLimits() {
		t.Fatalf("default settings %+v differ from naming.DefaultLimits %+v", got, naming.DefaultLimits())
	}
}

// TestServer_CapsHTTPConnectionsPerIP: the HTTP port closes connections
// from one IP beyond max-connections-per-ip, so one host cannot take every
// file descriptor.
func TestServer_CapsHTTPConnectionsPerIP(t *testing.T) {
	cfg := config.DefaultLocalConfig()
	cfg.Port = testutil.PortBlock(t)
	cfg.MaxConnectionsPerIP = 2
	testDataDir(t, &cfg)
	if err := cfg.Normalize(); err != nil {
		t.Fatal(err)
	}
	srv, err := New(cfg, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- srv.Run(ctx) }()
	defer func() { cancel(); <-done }()
	addr := "127.0.0.1:" + strconv.Itoa(cfg.Port)
	var conns []net.Conn
	testutil.Eventually(t, 10*time.Second, "listening", func() error {
		c, err := net.Dial("tcp", addr)
		if err == nil {
			conns = append(conns, c)
		}
		return err
	})
	c2, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	c3, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer func() {
		for _, c := range append(conns, c2, c3) {
			c.Close()
		}
	}()
	_ = c3.SetReadDeadline(time.Now().Add(10 * time.Second))
	if _, err := c3.Read(make([]byte, 1)); err == nil || errors.Is(err, context.DeadlineExceeded) || isTimeout(err) {
		t.Fatalf("third connection from one IP not closed: %v", err)
	}
	_, _ = io.WriteString(c2, "GET /nacos/v1/console/health/liveness HTTP/1.1\r\nHost: x\r\n\r\n")
	_ = c2.SetReadDeadline(time.Now().Add(10 * time.Second))
	if n, err := c2.Read(make([]byte, 64)); n == 0 {
		t.Fatalf("second connection not served: %v", err)
	}
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}
