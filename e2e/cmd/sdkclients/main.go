// Command sdkclients runs published nacos-sdk-go v2 naming clients in a
// process of their own, for e2e tests whose clients reconnect (the SDK's
// reconnect path has data races that would trip a -race test binary).
//
// Each client knows the servers given, registers one instance of
// the service and subscribes to it. The command writes JSON lines to
// stdout: {"event":"ready"} once every client registered and subscribed,
// then {"event":"push","client":i,"hosts":n} for every push a client
// receives. It exits when stdin closes.
//
// The SDK honours a ConnectResetRequest only towards a server in its list,
// and matches it by IP alone: give each server its own IP (127.0.0.2 is
// loopback too).
//
//	sdkclients -servers 127.0.0.1:8848,127.0.0.2:8858 -n 4 -service demo
package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"strconv"
	"strings"
	"sync"

	"github.com/nacos-group/nacos-sdk-go/v2/clients"
	"github.com/nacos-group/nacos-sdk-go/v2/common/constant"
	"github.com/nacos-group/nacos-sdk-go/v2/model"
	"github.com/nacos-group/nacos-sdk-go/v2/vo"
)

type event struct {
	Event  string `json:"event"`
	Client int    `json:"client,omitempty"`
	Hosts  int    `json:"hosts,omitempty"`
}

func main() {
	servers := flag.String("servers", "127.0.0.1:8848", "comma-separated distrod HTTP addresses (the SDK adds 1000 for gRPC)")
	n := flag.Int("n", 4, "number of clients")
	service := flag.String("service", "sdkclients", "service every client registers in and subscribes to")
	prefix := flag.String("ip-prefix", "10.81.0.", "client i registers <prefix><i+1>:80")
	dir := flag.String("dir", os.TempDir(), "directory for the SDKs' logs and caches")
	flag.Parse()
	if err := run(strings.Split(*servers, ","), *n, *service, *prefix, *dir); err != nil {
		slog.Error("sdkclients failed", "err", err)
		os.Exit(1)
	}
}

func run(servers []string, n int, service, prefix, dir string) error {
	var scs []constant.ServerConfig
	for _, s := range servers {
		host, p, err := net.SplitHostPort(s)
		if err != nil {
			return fmt.Errorf("-servers: %w", err)
		}
		port, err := strconv.ParseUint(p, 10, 64)
		if err != nil {
			return fmt.Errorf("-servers port: %w", err)
		}
		scs = append(scs, *constant.NewServerConfig(host, port))
	}
	var mu sync.Mutex
	enc := json.NewEncoder(os.Stdout)
	emit := func(e event) {
		mu.Lock()
		defer mu.Unlock()
		_ = enc.Encode(e)
	}
	for i := 0; i < n; i++ {
		cli, err := clients.NewNamingClient(vo.NacosClientParam{
			ClientConfig: constant.NewClientConfig(constant.WithTimeoutMs(5000), constant.WithNotLoadCacheAtStart(true),
				constant.WithUpdateCacheWhenEmpty(true), constant.WithCacheDir(dir), constant.WithLogDir(dir),
				constant.WithLogLevel("error"), constant.WithAppName(fmt.Sprintf("sdkclients-%d", i))),
			ServerConfigs: scs,
		})
		if err != nil {
			return fmt.Errorf("client %d: %w", i, err)
		}
		defer cli.CloseClient()
		ok, err := cli.RegisterInstance(vo.RegisterInstanceParam{Ip: prefix + strconv.Itoa(i+1), Port: 80,
			ServiceName: service, Weight: 1, Enable: true, Healthy: true, Ephemeral: true})
		if err != nil || !ok {
			return fmt.Errorf("client %d register: %v, %w", i, ok, err)
		}
		err = cli.Subscribe(&vo.SubscribeParam{ServiceName: service, SubscribeCallback: func(hosts []model.Instance, err error) {
			if err == nil {
				emit(event{Event: "push", Client: i, Hosts: len(hosts)})
			}
		}})
		if err != nil {
			return fmt.Errorf("client %d subscribe: %w", i, err)
		}
	}
	emit(event{Event: "ready"})
	_, _ = io.Copy(io.Discard, os.Stdin)
	return nil
}
