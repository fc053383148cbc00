package e2e

import (
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/nacos-group/nacos-sdk-go/v2/clients"
	"github.com/nacos-group/nacos-sdk-go/v2/common/constant"
	"github.com/nacos-group/nacos-sdk-go/v2/vo"

	"github.com/distrod/distrod/internal/testutil"
)

// TestTLS_ClusterOfProcessesWithTLSOnEveryPort starts two distrod
// processes configured through the environment names Nacos and Spring Boot
// users know (and DISTROD_ ones for the cluster port): probes answer over
// HTTPS, an SDK registers over TLS on one node, and the other node serves
// the replicated instance over HTTPS.
func TestTLS_ClusterOfProcessesWithTLSOnEveryPort(t *testing.T) {
	if testing.Short() {
		t.Skip("starts processes")
	}
	ca := testutil.NewCA(t, "e2e CA")
	leaf := ca.Issue("127.0.0.1", "localhost")
	pem, err := os.ReadFile(ca.File)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(pem)
	hc := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}
	getTLS := func(u string) (int, string, error) {
		resp, err := hc.Get(u)
		if err != nil {
			return 0, "", err
		}
		defer resp.Body.Close()
		b, err := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b), err
	}

	bin := testutil.BuildDistrod(t)
	nodes := []*node{{port: testutil.PortBlock(t)}, {port: testutil.PortBlock(t)}}
	members := []string{nodes[0].addr(), nodes[1].addr()}
	for _, nd := range nodes {
		env := append(clusterEnv(nd.port, members),
			"SERVER_SSL_CERTIFICATE="+leaf.CertFile,
			"SERVER_SSL_CERTIFICATE_PRIVATE_KEY="+leaf.KeyFile,
			"NACOS_REMOTE_SERVER_RPC_TLS_CERTCHAINFILE="+leaf.CertFile,
			"NACOS_REMOTE_SERVER_RPC_TLS_CERTPRIVATEKEY="+leaf.KeyFile,
			"DISTROD_CLUSTER_TLS_CERT_FILE="+leaf.CertFile,
			"DISTROD_CLUSTER_TLS_KEY_FILE="+leaf.KeyFile,
			"DISTROD_CLUSTER_TLS_CA_FILE="+ca.File,
		)
		nd.proc = testutil.StartProcess(t, bin, nd.port, env)
	}
	https := func(nd *node) string { return strings.Replace(nd.base(), "http://", "https://", 1) }
	for _, nd := range nodes {
		testutil.Eventually(t, 60*time.Second, "node "+nd.addr()+" ready over HTTPS", func() error {
			code, body, err := getTLS(https(nd) + "/nacos/v1/console/health/readiness")
			if err != nil {
				return err
			}
			if code != 200 {
				return fmt.Errorf("readiness %d %s", code, body)
			}
			return nil
		})
	}
	if code, _, err := get(nodes[0].base() + "/nacos/v1/console/health/liveness"); err == nil && code == 200 {
		t.Fatal("plain HTTP is served on a port configured for HTTPS")
	}
	if !nodes[0].proc.LogContains("cluster_auth=secret+mTLS") || !nodes[0].proc.LogContains("grpc_tls=on") {
		t.Fatal("the startup line does not report TLS on the gRPC and cluster ports")
	}

	cc := constant.NewClientConfig(constant.WithTimeoutMs(5000), constant.WithNotLoadCacheAtStart(true),
		constant.WithCacheDir(t.TempDir()), constant.WithLogDir(t.TempDir()), constant.WithLogLevel("error"),
		constant.WithTLS(constant.TLSConfig{Enable: true, CaFile: ca.File}))
	cli, err := clients.NewNamingClient(vo.NacosClientParam{ClientConfig: cc,
		ServerConfigs: []constant.ServerConfig{*constant.NewServerConfig("127.0.0.1", uint64(nodes[0].port))}})
	if err != nil {
		t.Fatal(err)
	}
	defer cli.CloseClient()
	if ok, err := cli.RegisterInstance(vo.RegisterInstanceParam{Ip: "10.90.0.1", Port: 80, ServiceName: "e2e.tls",
		Weight: 1, Enable: true, Healthy: true, Ephemeral: true}); err != nil || !ok {
		t.Fatalf("register over TLS: %v %v", ok, err)
	}
	testutil.Eventually(t, 20*time.Second, "instance replicated over the TLS cluster channel", func() error {
		_, body, err := getTLS(https(nodes[1]) + "/nacos/v1/ns/instance/list?serviceName=e2e.tls")
		if err != nil {
			return err
		}
		if !strings.Contains(body, `"ip":"10.90.0.1"`) {
			return fmt.Errorf("list: %s", body)
		}
		return nil
	})
	// The Raft port runs in mutual TLS too: a control plane write through
	// one node reaches the other.
	testutil.Eventually(t, 20*time.Second, "namespace written over the TLS Raft port", func() error {
		req, _ := http.NewRequest("POST", https(nodes[1])+"/nacos/v2/console/namespace?namespaceId=tls&namespaceName=tls", nil)
		resp, err := hc.Do(req)
		if err != nil {
			return err
		}
		resp.Body.Close()
		_, body, err := getTLS(https(nodes[0]) + "/nacos/v2/console/namespace/list")
		if err != nil {
			return err
		}
		if !strings.Contains(body, `"namespace":"tls"`) {
			return fmt.Errorf("list: %s", body)
		}
		return nil
	})
}
