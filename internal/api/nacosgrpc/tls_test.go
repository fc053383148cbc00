package nacosgrpc

import (
	"errors"
	"net"
	"testing"
	"time"

	"github.com/distrod/distrod/internal/naming"
	"github.com/distrod/distrod/internal/testutil"
	"github.com/distrod/distrod/internal/tlsfiles"
	"github.com/nacos-group/nacos-sdk-go/v2/clients"
	"github.com/nacos-group/nacos-sdk-go/v2/clients/naming_client"
	"github.com/nacos-group/nacos-sdk-go/v2/common/constant"
	"github.com/nacos-group/nacos-sdk-go/v2/vo"
)

// startTLSEnv serves the SDK port with TLS from files issued by a fresh
// CA; with clientCA, clients must present a certificate of that CA.
func startTLSEnv(t *testing.T, clientCA, compatibility bool) (*testEnv, *testutil.CA) {
	t.Helper()
	ca := testutil.NewCA(t, "test CA")
	leaf := ca.Issue("127.0.0.1", "localhost")
	f := tlsfiles.Files{Cert: leaf.CertFile, Key: leaf.KeyFile}
	if clientCA {
		f.CA = ca.File
	}
	src, err := tlsfiles.New("grpc", f, nil)
	if err != nil {
		t.Fatal(err)
	}
	e := startEnv(t, func(o *Options) {
		o.TLS = src.ServerConfig("h2")
		o.TLSCompatibility = compatibility
	})
	return e, ca
}

// newSDKTLS returns a real nacos-sdk-go v2 naming client for e with the
// given TLS settings (Enable false: plaintext).
func (e *testEnv) newSDKTLS(cfg constant.TLSConfig) naming_client.INamingClient {
	e.t.Helper()
	cfg.Appointed = true // do not read the nacos_remote_client_rpc_tls_* environment
	cc := constant.ClientConfig{
		TimeoutMs:            3000,
		NotLoadCacheAtStart:  true,
		UpdateCacheWhenEmpty: true,
		CacheDir:             e.t.TempDir(),
		LogDir:               sdkLogDir(e.t),
		LogLevel:             "error",
		TLSCfg:               cfg,
	}
	sc := []constant.ServerConfig{{IpAddr: "127.0.0.1", Port: 8848, GrpcPort: uint64(e.port)}}
	c, err := clients.NewNamingClient(vo.NacosClientParam{ClientConfig: &cc, ServerConfigs: sc})
	if err != nil {
		e.t.Fatal(err)
	}
	e.t.Cleanup(c.CloseClient)
	return c
}

// registerAndWatch registers an instance through pub and checks that sub
// receives it in a push.
func registerAndWatch(t *testing.T, e *testEnv, pub, sub naming_client.INamingClient, ip string) {
	t.Helper()
	var log callbackLog
	if err := sub.Subscribe(&vo.SubscribeParam{ServiceName: "secure", SubscribeCallback: log.fn}); err != nil {
		t.Fatalf("Subscribe: %v", err)
	}
	if ok, err := pub.RegisterInstance(reg(ip, 8080, "secure", 1)); err != nil || !ok {
		t.Fatalf("RegisterInstance = %v, %v", ok, err)
	}
	svc := naming.NewServiceKey("", "", "secure")
	waitFor(t, 20*time.Second, "registration in store", func() bool { return len(e.hosts(svc)) == 1 })
	waitFor(t, 20*time.Second, "push to the subscriber", func() bool { return log.saw(ip + ":8080/w1") })
}

func TestTLS_SDKWithClientCertificateRegistersSubscribesAndGetsPushes(t *testing.T) {
	e, ca := startTLSEnv(t, true, false)
	client := ca.Issue("sdk-client")
	cfg := constant.TLSConfig{Enable: true, CaFile: ca.File, CertFile: client.CertFile, KeyFile: client.KeyFile}
	pub, sub := e.newSDKTLS(cfg), e.newSDKTLS(cfg)
	registerAndWatch(t, e, pub, sub, "10.0.0.1")
	if n := e.srv.Connections(); n != 2 {
		t.Fatalf("%d connections registered, want 2", n)
	}
}

func TestTLS_ClientsWithoutTLSOrWithoutCertificateCannotConnect(t *testing.T) {
	e, ca := startTLSEnv(t, true, false)
	plain := e.newSDKTLS(constant.TLSConfig{})
	noCert := e.newSDKTLS(constant.TLSConfig{Enable: true, CaFile: ca.File})
	stranger := testutil.NewCA(t, "stranger").Issue("sdk-client")
	otherCA := e.newSDKTLS(constant.TLSConfig{Enable: true, CaFile: ca.File, CertFile: stranger.CertFile, KeyFile: stranger.KeyFile})
	for name, c := range map[string]naming_client.INamingClient{"plaintext": plain, "no client certificate": noCert, "certificate of another CA": otherCA} {
		if ok, err := c.RegisterInstance(reg("10.0.0.9", 80, "secure", 1)); err == nil || ok {
			t.Errorf("%s client registered: %v, %v", name, ok, err)
		}
	}
	if n := e.srv.Connections(); n != 0 {
		t.Fatalf("%d connections registered, want 0", n)
	}
	if hs := e.hosts(naming.NewServiceKey("", "", "secure")); len(hs) != 0 {
		t.Fatalf("instances stored: %v", hs)
	}
}

func TestTLS_ServerCertificateOfAnotherCAIsRefusedByTheSDK(t *testing.T) {
	e, _ := startTLSEnv(t, false, false)
	other := testutil.NewCA(t, "other")
	c := e.newSDKTLS(constant.TLSConfig{Enable: true, CaFile: other.File})
	if ok, err := c.RegisterInstance(reg("10.0.0.9", 80, "secure", 1)); err == nil || ok {
		t.Fatalf("client trusting another CA registered: %v, %v", ok, err)
	}
}

func TestTLS_CompatibilityServesTLSAndPlaintextOnOnePort(t *testing.T) {
	e, ca := startTLSEnv(t, false, true)
	tlsClient := e.newSDKTLS(constant.TLSConfig{Enable: true, CaFile: ca.File})
	plain := e.newSDKTLS(constant.TLSConfig{})
	registerAndWatch(t, e, plain, tlsClient, "10.0.0.2")
	if n := e.srv.Connections(); n != 2 {
		t.Fatalf("%d connections registered, want 2", n)
	}
}

func TestPrefixConn_ReplaysThePeekedByte(t *testing.T) {
	c := &prefixConn{Conn: eofConn{}, prefix: []byte{0x16}}
	b := make([]byte, 4)
	if n, err := c.Read(b); n != 1 || err != nil || b[0] != 0x16 {
		t.Fatalf("first Read = %d, %v, %x", n, err, b[:n])
	}
	if _, err := c.Read(b); !errors.Is(err, errEOFConn) {
		t.Fatalf("second Read err = %v, want the connection's", err)
	}
}

var errEOFConn = errors.New("eofConn read")

// eofConn is a net.Conn whose reads fail; only Read is used.
type eofConn struct{ net.Conn }

func (eofConn) Read([]byte) (int, error) { return 0, errEOFConn }
