package server

import (
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"net/http"
	"os"
	"testing"
	"time"

	v1clients "github.com/nacos-group/nacos-sdk-go/clients"
	v1constant "github.com/nacos-group/nacos-sdk-go/common/constant"
	v1vo "github.com/nacos-group/nacos-sdk-go/vo"

	"github.com/distrod/distrod/internal/config"
	"github.com/distrod/distrod/internal/naming"
	"github.com/distrod/distrod/internal/testutil"
)

// The Go v1 SDK over HTTPS (ServerConfig.Scheme "https"): it sends its
// requests through http.DefaultTransport, so an application makes it trust
// a private CA there (or through the system trust store); this test does
// the former for its duration.
func TestServer_HTTPSServesTheV1SDK(t *testing.T) {
	ca := testutil.NewCA(t, "test CA")
	leaf := ca.Issue("127.0.0.1")
	cfg := config.DefaultLocalConfig()
	cfg.Port = testutil.PortBlock(t)
	cfg.HTTPTLSCertFile, cfg.HTTPTLSKeyFile = leaf.CertFile, leaf.KeyFile
	n := runTLSNode(t, cfg, httpsClient(t, ca, nil))

	pem, err := os.ReadFile(ca.File)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(pem)
	// The v1 SDK dials through http.DefaultTransport and cannot be closed:
	// its beat goroutine outlives the test, so the transport's TLS config
	// is set once and never restored (restoring it raced with that
	// goroutine's dials). Other tests reach HTTPS with their own clients.
	tr := http.DefaultTransport.(*http.Transport)
	tr.TLSClientConfig = &tls.Config{RootCAs: pool}
	t.Cleanup(tr.CloseIdleConnections)

	cc := v1constant.ClientConfig{TimeoutMs: 3000, CacheDir: t.TempDir(), LogDir: t.TempDir(), LogLevel: "error",
		NotLoadCacheAtStart: true, UpdateThreadNum: 2}
	c, err := v1clients.NewNamingClient(v1vo.NacosClientParam{ClientConfig: &cc,
		ServerConfigs: []v1constant.ServerConfig{{Scheme: "https", IpAddr: "127.0.0.1", Port: uint64(cfg.Port), ContextPath: "/nacos"}}})
	if err != nil {
		t.Fatal(err)
	}
	if ok, err := c.RegisterInstance(v1vo.RegisterInstanceParam{Ip: "10.6.0.9", Port: 80, Weight: 1, Enable: true, Healthy: true,
		Ephemeral: true, ServiceName: "tls.v1"}); err != nil || !ok {
		t.Fatalf("register over HTTPS: %v %v", ok, err)
	}
	svc := naming.NewServiceKey("", "", "tls.v1")
	if v := n.srv.store.Service(svc, naming.Query{}); len(v.Hosts) != 1 {
		t.Fatalf("the registration did not arrive: %+v", v)
	}
	testutil.Eventually(t, 10*time.Second, "the v1 SDK to read it back over HTTPS", func() error {
		ins, err := c.SelectAllInstances(v1vo.SelectAllInstancesParam{ServiceName: "tls.v1"})
		if err != nil {
			return err
		}
		if len(ins) != 1 || ins[0].Ip != "10.6.0.9" {
			return fmt.Errorf("instances %+v", ins)
		}
		return nil
	})
	// No DeregisterInstance through the SDK: v1.0.8 copies a BeatInfo
	// without synchronisation while DeregisterInstance stores its state
	// atomically, a data race -race reports when the two overlap.
}
