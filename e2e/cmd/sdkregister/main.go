// Command sdkregister registers one instance with the published Go v2
// Nacos SDK (gRPC) and keeps it registered — the SDK reconnects and
// registers again when its server restarts — until its standard input
// closes. Tests run it as a separate process so that the SDK's own
// reconnect logic runs outside the race detector.
//
//	sdkregister -server 127.0.0.1:8848 -service demo -ip 10.0.0.1 -port 8080 -meta zone=a
package main

import (
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"strconv"
	"strings"

	"github.com/nacos-group/nacos-sdk-go/v2/clients"
	"github.com/nacos-group/nacos-sdk-go/v2/common/constant"
	"github.com/nacos-group/nacos-sdk-go/v2/vo"
)

func main() {
	server := flag.String("server", "127.0.0.1:8848", "distrod HTTP address (the SDK derives the gRPC port)")
	service := flag.String("service", "demo", "service name")
	ip := flag.String("ip", "10.0.0.1", "instance ip")
	port := flag.Uint64("port", 8080, "instance port")
	meta := flag.String("meta", "", "metadata, k=v,k2=v2")
	dir := flag.String("dir", os.TempDir(), "SDK cache and log directory")
	flag.Parse()
	if err := run(*server, *service, *ip, *port, *meta, *dir); err != nil {
		slog.Error("sdkregister failed", "err", err)
		os.Exit(1)
	}
}

func run(server, service, ip string, port uint64, meta, dir string) error {
	host, p, err := net.SplitHostPort(server)
	if err != nil {
		return fmt.Errorf("server: %w", err)
	}
	sp, err := strconv.ParseUint(p, 10, 64)
	if err != nil {
		return fmt.Errorf("server port: %w", err)
	}
	md := map[string]string{}
	for _, kv := range strings.Split(meta, ",") {
		if k, v, ok := strings.Cut(kv, "="); ok {
			md[k] = v
		}
	}
	cc := constant.NewClientConfig(constant.WithTimeoutMs(5000), constant.WithNotLoadCacheAtStart(true),
		constant.WithCacheDir(dir), constant.WithLogDir(dir), constant.WithLogLevel("error"))
	c, err := clients.NewNamingClient(vo.NacosClientParam{ClientConfig: cc,
		ServerConfigs: []constant.ServerConfig{*constant.NewServerConfig(host, sp)}})
	if err != nil {
		return fmt.Errorf("client: %w", err)
	}
	defer c.CloseClient()
	ok, err := c.RegisterInstance(vo.RegisterInstanceParam{Ip: ip, Port: port, Weight: 1, Enable: true, Healthy: true,
		Ephemeral: true, ServiceName: service, Metadata: md})
	if err != nil || !ok {
		return fmt.Errorf("register: %v %w", ok, err)
	}
	fmt.Println("registered")
	_, _ = io.Copy(io.Discard, os.Stdin)
	return nil
}
