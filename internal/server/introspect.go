package server

import (
	"context"
	"encoding/json"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/distrod/distrod/internal/api/nacoshttp"
	"github.com/distrod/distrod/internal/naming"
	"github.com/distrod/distrod/internal/push"
	"github.com/distrod/distrod/internal/sysload"
)

// introspector implements nacoshttp.Introspector over the push engine and
// the gRPC server.
type introspector struct{ s *Server }

// subscriber describes target sub of svc the way Nacos describes its
// subscribers: a gRPC one by its client IP and version (port 0, as Nacos
// records them), a v1 UDP one by its push address and User-Agent.
func (in introspector) subscriber(svc naming.ServiceKey, target, clusters string, udp string, agent string, conns map[string]nacoshttpConn) nacoshttp.Subscriber {
	sub := nacoshttp.Subscriber{ClientID: target, App: "unknown", Namespace: svc.Namespace, Service: svc.Grouped(), Cluster: clusters}
	if udp != "" {
		host, port, _ := net.SplitHostPort(udp)
		sub.Addr, sub.Agent, sub.IP, sub.Port = udp, agent, host, atoiOr(port, 0)
		sub.ClientID = naming.IPPortClientID(host, sub.Port)
		return sub
	}
	if c, ok := conns[target]; ok {
		sub.Addr, sub.Agent, sub.IP = c.ip, c.version, c.ip
		if c.app != "-" {
			sub.App = c.app
		}
	}
	return sub
}

// nacoshttpConn is what a subscriber row needs of a connection.
type nacoshttpConn struct{ ip, version, app string }

func (in introspector) conns() map[string]nacoshttpConn {
	out := map[string]nacoshttpConn{}
	for _, ci := range in.s.grpc.ConnectionInfos() {
		ip := ci.ClientIP
		if ip == "" {
			ip = ci.Remote.Addr().String()
		}
		out[ci.ID] = nacoshttpConn{ip: ip, version: ci.ClientVersion, app: ci.AppName()}
	}
	return out
}

// Subscribers implements nacoshttp.Introspector.
func (in introspector) Subscribers(svc naming.ServiceKey) []nacoshttp.Subscriber {
	subs := in.s.push.Subscribers(svc)
	if len(subs) == 0 {
		return nil
	}
	conns := in.conns()
	out := make([]nacoshttp.Subscriber, 0, len(subs))
	for _, sb := range subs {
		udp := ""
		if sb.UDP.IsValid() {
			udp = sb.UDP.String()
		}
		out = append(out, in.subscriber(svc, sb.Target, sb.Clusters, udp, sb.UserAgent, conns))
	}
	return out
}

// SubscribedServices implements nacoshttp.Introspector.
func (in introspector) SubscribedServices() []naming.ServiceKey {
	return in.s.push.SubscribedServices()
}

// SubscriptionsOf implements nacoshttp.Introspector. A v1 client's id
// ("ip:port#true") names its UDP target ("udp:ip:port").
func (in introspector) SubscriptionsOf(id string) []nacoshttp.ClientSubscription {
	target := id
	if strings.HasSuffix(id, "#true") {
		target = "udp:" + strings.TrimSuffix(id, "#true")
	}
	subs := in.s.push.SubscriptionsOf(target)
	if len(subs) == 0 {
		return nil
	}
	conns := in.conns()
	out := make([]nacoshttp.ClientSubscription, 0, len(subs))
	for _, sb := range subs {
		udp, agent := "", ""
		if strings.HasPrefix(target, "udp:") {
			udp = strings.TrimPrefix(target, "udp:")
			for _, s := range in.s.push.Subscribers(sb.Service) {
				if s.Target == target {
					agent = s.UserAgent
				}
			}
		}
		out = append(out, nacoshttp.ClientSubscription{Service: sb.Service,
			Subscriber: in.subscriber(sb.Service, target, sb.Clusters, udp, agent, conns)})
	}
	return out
}

// Connection implements nacoshttp.Introspector.
func (in introspector) Connection(id string) (nacoshttp.ConnectionMeta, bool) {
	for _, ci := range in.s.grpc.ConnectionInfos() {
		if ci.ID == id {
			return nacoshttp.ConnectionMeta{ConnectType: "GRPC", AppName: ci.AppName(), Version: ci.ClientVersion, ClientIP: ci.ClientIP}, true
		}
	}
	return nacoshttp.ConnectionMeta{}, false
}

// PushTotals implements nacoshttp.Introspector.
func (in introspector) PushTotals() push.Totals { return in.s.push.Totals() }

// SubscribeCount implements nacoshttp.Introspector.
func (in introspector) SubscribeCount() int { return in.s.push.Stats().Subscriptions }

// SystemLoad implements nacoshttp.Introspector.
func (in introspector) SystemLoad() (float64, float64) {
	return max(in.s.loader.cpu.CPU(), 0), max(sysload.Load(), 0)
}

// PeerSubscribers implements nacoshttp.Introspector: every other member's
// GET /v1/ns/service/subscribers?aggregation=false, asked in parallel with
// the caller's credentials.
func (in introspector) PeerSubscribers(ctx context.Context, r *http.Request, svc naming.ServiceKey) []nacoshttp.Subscriber {
	if in.s.cluster == nil {
		return nil
	}
	ctx, cancel := context.WithTimeout(ctx, 3*time.Second)
	defer cancel()
	q := url.Values{"namespaceId": {svc.Namespace}, "serviceName": {svc.Grouped()}, "aggregation": {"false"},
		"pageNo": {"1"}, "pageSize": {"100000"}}
	if t := r.URL.Query().Get("accessToken"); t != "" {
		q.Set("accessToken", t)
	}
	h := callerCredentials(r)
	peers := in.s.peers(ctx)
	res := make([][]nacoshttp.Subscriber, len(peers))
	var wg sync.WaitGroup
	for i, addr := range peers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			b, err := in.s.peerGet(ctx, addr, in.s.cfg.ContextPath+"/v1/ns/service/subscribers?"+q.Encode(), h)
			if err != nil {
				in.s.log.Debug("subscribers of a member unavailable", "member", addr, "err", err)
				return
			}
			var out struct {
				Subscribers []nacoshttp.Subscriber `json:"subscribers"`
			}
			if json.Unmarshal(b, &out) == nil {
				res[i] = out.Subscribers
			}
		}()
	}
	wg.Wait()
	var all []nacoshttp.Subscriber
	for _, r := range res {
		all = append(all, r...)
	}
	return all
}

// callerCredentials copies the headers that carry a caller's credentials,
// for requests made to other members on the caller's behalf.
func callerCredentials(r *http.Request) http.Header {
	h := http.Header{}
	for _, k := range []string{"Authorization", "AccessToken"} {
		if v := r.Header.Get(k); v != "" {
			h.Set(k, v)
		}
	}
	return h
}
