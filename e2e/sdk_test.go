package e2e

import (
	"fmt"
	"testing"

	"github.com/nacos-group/nacos-sdk-go/v2/clients"
	"github.com/nacos-group/nacos-sdk-go/v2/clients/naming_client"
	"github.com/nacos-group/nacos-sdk-go/v2/common/constant"
	"github.com/nacos-group/nacos-sdk-go/v2/vo"
)

// sdkClient returns a published Go v2 SDK naming client connected (over
// gRPC) to nd only. It is closed when the test ends.
func sdkClient(t *testing.T, nd *node) naming_client.INamingClient {
	t.Helper()
	cc := constant.NewClientConfig(
		constant.WithTimeoutMs(5000),
		constant.WithNotLoadCacheAtStart(true),
		constant.WithUpdateCacheWhenEmpty(true),
		constant.WithCacheDir(t.TempDir()),
		constant.WithLogDir(t.TempDir()),
		constant.WithLogLevel("error"),
	)
	sc := []constant.ServerConfig{*constant.NewServerConfig("127.0.0.1", uint64(nd.port))}
	c, err := clients.NewNamingClient(vo.NacosClientParam{ClientConfig: cc, ServerConfigs: sc})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.CloseClient)
	return c
}

// registerSDK batch-registers three instances of service through nd with
// the v2 SDK and returns their "ip:port" set.
func registerSDK(t *testing.T, nd *node, service string) map[string]bool {
	t.Helper()
	c := sdkClient(t, nd)
	want := map[string]bool{}
	var ins []vo.RegisterInstanceParam
	for i := 0; i < 3; i++ {
		ip := fmt.Sprintf("10.2.0.%d", i+1)
		ins = append(ins, vo.RegisterInstanceParam{Ip: ip, Port: 9090, Weight: 1, Enable: true, Healthy: true, Ephemeral: true, ServiceName: service})
		want[fmt.Sprintf("%s:9090", ip)] = true
	}
	ok, err := c.BatchRegisterInstance(vo.BatchRegisterInstanceParam{ServiceName: service, Instances: ins})
	if err != nil || !ok {
		t.Fatalf("SDK batch register via %s: %v %v", nd.addr(), ok, err)
	}
	return want
}
