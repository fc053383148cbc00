package server

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	nacosv2 "github.com/nacos-group/nacos-sdk-go/v2/clients"
	constv2 "github.com/nacos-group/nacos-sdk-go/v2/common/constant"
	vov2 "github.com/nacos-group/nacos-sdk-go/v2/vo"

	"github.com/distrod/distrod/internal/config"
	"github.com/distrod/distrod/internal/naming"
	"github.com/distrod/distrod/internal/testutil"
	"github.com/distrod/distrod/internal/tlsfiles"
)

// httpsClient trusts ca and presents client (if not nil); every request
// opens a new connection, so it sees the certificate served right now.
func httpsClient(t *testing.T, ca *testutil.CA, client *testutil.Leaf) *http.Client {
	t.Helper()
	pem, err := os.ReadFile(ca.File)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(pem)
	cfg := &tls.Config{RootCAs: pool}
	if client != nil {
		pair, err := tls.X509KeyPair(client.CertPEM, client.KeyPEM)
		if err != nil {
			t.Fatal(err)
		}
		cfg.Certificates = []tls.Certificate{pair}
	}
	return &http.Client{Timeout: 5 * time.Second,
		Transport: &http.Transport{TLSClientConfig: cfg, DisableKeepAlives: true, ForceAttemptHTTP2: true}}
}

// runTLSNode runs a node whose HTTP port serves HTTPS that hc trusts, and
// waits for its liveness probe over HTTPS.
func runTLSNode(t *testing.T, cfg config.Config, hc *http.Client) *testNode {
	t.Helper()
	return startNode(t, cfg, "https", hc)
}

func get(hc *http.Client, u string) (*http.Response, string, error) {
	resp, err := hc.Get(u)
	if err != nil {
		return nil, "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return resp, string(b), err
}

func TestServer_HTTPSServesProbesAndReloadsARotatedCertificate(t *testing.T) {
	ca := testutil.NewCA(t, "test CA")
	leaf, next := ca.Issue("127.0.0.1"), ca.Issue("127.0.0.1")
	cfg := config.DefaultLocalConfig()
	cfg.Port = testutil.PortBlock(t)
	cfg.HTTPTLSCertFile, cfg.HTTPTLSKeyFile = leaf.CertFile, leaf.KeyFile
	hc := httpsClient(t, ca, nil)
	n := runTLSNode(t, cfg, hc)

	for _, path := range []string{"/nacos/v1/console/health/liveness", "/nacos/v1/console/health/readiness", "/metrics"} {
		resp, _, err := get(hc, n.base+path)
		if err != nil || resp.StatusCode != 200 {
			t.Fatalf("GET %s over HTTPS: %v %v", path, resp, err)
		}
		if resp.Proto != "HTTP/2.0" {
			t.Errorf("GET %s: protocol %s, want HTTP/2.0", path, resp.Proto)
		}
	}
	// Plain HTTP is not served on the port.
	plainURL := "http://127.0.0.1:" + strconv.Itoa(cfg.Port) + "/nacos/v1/console/health/liveness"
	if resp, b, err := get(&http.Client{Timeout: 5 * time.Second}, plainURL); err == nil && resp.StatusCode == 200 {
		t.Fatalf("plain HTTP answered 200: %s", b)
	}

	next.WriteTo(t, leaf.CertFile, leaf.KeyFile)
	testutil.Eventually(t, 5*time.Second, "rotated certificate served", func() error {
		resp, _, err := get(hc, n.base+"/nacos/v1/console/health/liveness")
		if err != nil {
			return err
		}
		if got := resp.TLS.PeerCertificates[0].SerialNumber; got.Cmp(next.Serial) != 0 {
			return fmt.Errorf("serial %v, want %v", got, next.Serial)
		}
		return nil
	})
}

func TestServer_HTTPMutualTLSRequiresAClientCertificate(t *testing.T) {
	ca := testutil.NewCA(t, "test CA")
	leaf, client := ca.Issue("127.0.0.1"), ca.Issue("prober")
	cfg := config.DefaultLocalConfig()
	cfg.Port = testutil.PortBlock(t)
	cfg.HTTPTLSCertFile, cfg.HTTPTLSKeyFile, cfg.HTTPTLSClientCAFile = leaf.CertFile, leaf.KeyFile, ca.File
	n := runTLSNode(t, cfg, httpsClient(t, ca, &client))
	if _, _, err := get(httpsClient(t, ca, nil), n.base+"/nacos/v1/console/health/liveness"); err == nil {
		t.Fatal("a client without a certificate was served")
	}
	stranger := testutil.NewCA(t, "stranger").Issue("prober")
	if _, _, err := get(httpsClient(t, ca, &stranger), n.base+"/nacos/v1/console/health/liveness"); err == nil {
		t.Fatal("a client certificate of another CA was accepted")
	}
}

func TestServer_RefusesToStartWithBadTLSFiles(t *testing.T) {
	ca := testutil.NewCA(t, "test CA")
	a, b := ca.Issue("127.0.0.1"), ca.Issue("127.0.0.1")
	for name, set := range map[string]func(*config.Config){
		"http missing file": func(c *config.Config) { c.HTTPTLSCertFile, c.HTTPTLSKeyFile = "nope.pem", a.KeyFile },
		"grpc mismatched":   func(c *config.Config) { c.GRPCTLSCertFile, c.GRPCTLSKeyFile = a.CertFile, b.KeyFile },
		"cluster bad CA": func(c *config.Config) {
			c.Mode, c.ClusterSecret, c.Members = config.ModeCluster, testSecret, []string{"127.0.0.1:8848", "127.0.0.1:8858"}
			c.ClusterTLSCertFile, c.ClusterTLSKeyFile, c.ClusterTLSCAFile = a.CertFile, a.KeyFile, a.KeyFile
		},
	} {
		cfg := config.DefaultLocalConfig()
		cfg.Home = t.TempDir()
		set(&cfg)
		if err := cfg.Normalize(); err != nil {
			t.Fatal(err)
		}
		if _, err := New(cfg, slog.New(slog.DiscardHandler)); !errors.Is(err, tlsfiles.ErrFiles) {
			t.Errorf("%s: New err = %v, want tlsfiles.ErrFiles", name, err)
		}
	}
}

// TestServer_TLSClusterReplicatesAndServesTheSDKOverTLS runs two members
// with TLS on all three ports: an SDK registers over TLS on one, the other
// serves the instance over HTTPS, replicated through the mutual-TLS
// cluster channel.
func TestServer_TLSClusterReplicatesAndServesTheSDKOverTLS(t *testing.T) {
	ca := testutil.NewCA(t, "cluster CA")
	ports := []int{testutil.PortBlock(t), testutil.PortBlock(t)}
	members := []string{addr(ports[0]), addr(ports[1])}
	hc := httpsClient(t, ca, nil)
	nodes := make([]*testNode, 2)
	for i, p := range ports {
		cfg := clusterConfig(t, p, members)
		leaf := ca.Issue("127.0.0.1")
		cfg.HTTPTLSCertFile, cfg.HTTPTLSKeyFile = leaf.CertFile, leaf.KeyFile
		cfg.GRPCTLSCertFile, cfg.GRPCTLSKeyFile = leaf.CertFile, leaf.KeyFile
		cfg.ClusterTLSCertFile, cfg.ClusterTLSKeyFile, cfg.ClusterTLSCAFile = leaf.CertFile, leaf.KeyFile, ca.File
		nodes[i] = runTLSNode(t, cfg, hc)
	}
	for _, n := range nodes {
		testutil.Eventually(t, 20*time.Second, n.addr()+" ready", func() error {
			resp, b, err := get(hc, n.base+"/nacos/v1/console/health/readiness")
			if err != nil {
				return err
			}
			if resp.StatusCode != 200 {
				return fmt.Errorf("readiness %d %s", resp.StatusCode, b)
			}
			return nil
		})
	}
	dir := sdkDir(t)
	cc := constv2.NewClientConfig(constv2.WithTimeoutMs(5000), constv2.WithNotLoadCacheAtStart(true),
		constv2.WithUpdateCacheWhenEmpty(true), constv2.WithCacheDir(dir), constv2.WithLogDir(dir), constv2.WithLogLevel("error"),
		constv2.WithTLS(constv2.TLSConfig{Enable: true, CaFile: ca.File}))
	cli, err := nacosv2.NewNamingClient(vov2.NacosClientParam{ClientConfig: cc,
		ServerConfigs: []constv2.ServerConfig{*constv2.NewServerConfig("127.0.0.1", uint64(ports[0]))}})
	if err != nil {
		t.Fatal(err)
	}
	defer cli.CloseClient()
	if ok, err := cli.RegisterInstance(vov2.RegisterInstanceParam{Ip: "10.80.0.1", Port: 80, ServiceName: "tls.svc",
		Weight: 1, Enable: true, Healthy: true, Ephemeral: true}); err != nil || !ok {
		t.Fatalf("register over TLS: %v %v", ok, err)
	}
	testutil.Eventually(t, 10*time.Second, "instance replicated to the other member", func() error {
		_, b, err := get(hc, nodes[1].base+"/nacos/v1/ns/instance/list?serviceName=tls.svc")
		if err != nil {
			return err
		}
		if !strings.Contains(b, `"ip":"10.80.0.1"`) {
			return fmt.Errorf("list: %s", b)
		}
		return nil
	})
	if nodes[0].srv.store.Service(naming.NewServiceKey("", "", "tls.svc"), naming.Query{}).Exists != true {
		t.Fatal("the instance is not on the node the SDK registered with")
	}
	if got := nodes[1].srv.clusterAuth(); got != "secret+mTLS" {
		t.Fatalf("cluster auth %q, want secret+mTLS", got)
	}
}

func TestHTTPErrorLog_FailedTLSHandshakesAreDebugOnly(t *testing.T) {
	var b strings.Builder
	l := httpErrorLog(slog.New(slog.NewTextHandler(&b, &slog.HandlerOptions{Level: slog.LevelInfo})))
	l.Printf("http: TLS handshake error from 127.0.0.1:5555: EOF")
	if b.Len() != 0 {
		t.Fatalf("a failed handshake was logged above debug: %s", b.String())
	}
	l.Printf("http: Accept error: too many open files")
	if !strings.Contains(b.String(), "level=WARN") || !strings.Contains(b.String(), "too many open files") {
		t.Fatalf("other errors are not warnings: %s", b.String())
	}
}
