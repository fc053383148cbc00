package nacoshttp

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"sort"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/distrod/distrod/internal/cp"
	"github.com/distrod/distrod/internal/naming"
	"github.com/distrod/distrod/internal/push"
)

// Introspector reads this node's connections, subscriptions and push
// counts for the operator endpoints. The server package implements it over
// the push engine and the gRPC server; nil answers as if there were no
// subscribers and no connections.
type Introspector interface {
	// Subscribers lists the subscribers of svc on this node.
	Subscribers(svc naming.ServiceKey) []Subscriber
	// SubscribedServices lists the services with subscribers on this node.
	SubscribedServices() []naming.ServiceKey
	// PeerSubscribers lists the subscribers of svc on the other members,
	// asked with r's credentials; members that do not answer are left out.
	PeerSubscribers(ctx context.Context, r *http.Request, svc naming.ServiceKey) []Subscriber
	// SubscriptionsOf lists the services client id subscribes to here.
	SubscriptionsOf(id string) []ClientSubscription
	// Connection describes the gRPC connection id held by this node.
	Connection(id string) (ConnectionMeta, bool)
	// PushTotals are this node's push counts since it started.
	PushTotals() push.Totals
	// SubscribeCount counts this node's subscriptions (gRPC and UDP).
	SubscribeCount() int
	// SystemLoad is the host's CPU use (0..1) and one-minute load average.
	SystemLoad() (cpu, load float64)
}

// Subscriber is one subscriber in Nacos's shape (pojo.Subscriber).
type Subscriber struct {
	// ClientID is the subscribing client: a connection id, or the
	// "ip:port#true" id of a v1 client's UDP target.
	ClientID  string `json:"-"`
	Addr      string `json:"addrStr"`
	Agent     string `json:"agent"`
	App       string `json:"app"`
	IP        string `json:"ip"`
	Port      int    `json:"port"`
	Namespace string `json:"namespaceId"`
	Service   string `json:"serviceName"`
	Cluster   string `json:"cluster"`
}

// ClientSubscription is one service a client subscribes to.
type ClientSubscription struct {
	Service    naming.ServiceKey
	Subscriber Subscriber
}

// ConnectionMeta describes a gRPC connection for /v2/ns/client.
type ConnectionMeta struct {
	ConnectType string
	AppName     string
	Version     string
	ClientIP    string
}

// pushBase is the push totals at the last /operator/push/state?reset=true.
type pushBase struct{ acked, failed atomic.Int64 }

// registerParity mounts the operator and introspection endpoints that
// complete Nacos 2.5's naming API (docs/nacos-parity.md lists them).
func (s *server) registerParity() {
	v1 := func(path string, methods []string, api string, fn func(*call) (any, error)) {
		s.handle("/v1/ns"+path, methods, endpoint{api: api, naming: true, fn: fn})
	}
	v1("/service/subscribers", ms(get), "v1_service_subscribers", (*call).subscribers)
	s.handle("/v1/ns/service/selector/types", ms(get), endpoint{api: "v1_selector_types", fn: func(*call) (any, error) {
		return restResult{Code: 200, Data: []string{"none", "label"}}, nil
	}})
	for _, base := range []string{"/operator", "/ops"} {
		s.handle("/v1/ns"+base+"/push/state", ms(get, post, put), endpoint{api: "v1_operator_push_state", fn: (*call).pushState})
		s.handle("/v1/ns"+base+"/log", ms(put), endpoint{api: "v1_operator_log", fn: (*call).setLogLevel})
	}
	for _, base := range []string{"/v2/ns/ops"} {
		o := func(path string, methods []string, api string, fn func(*call) (any, error)) {
			s.handle(base+path, methods, endpoint{api: api, v2: true, fn: fn})
		}
		o("/metrics", ms(get), "v2_operator_metrics", (*call).metrics)
		o("/switches", ms(get), "v2_operator_switches", (*call).getSwitches)
		o("/switches", ms(put), "v2_operator_switches_update", (*call).putSwitch)
	}
	s.handle("/v1/ns/health/server", ms(get, post, put), endpoint{api: "v1_health_server", fn: (*call).healthServer})
	s.handle("/v1/ns/health/checkers", ms(get), endpoint{api: "v1_health_checkers", fn: func(*call) (any, error) { return healthCheckers(), nil }})
	for _, p := range []string{"/v1/ns/health", "/v1/ns/health/instance"} {
		s.handle(p, ms(put), endpoint{api: "v1_health_update", naming: true, tag: tagIPPort, fn: (*call).updateHealth})
	}
	for _, p := range []string{"/v2/ns/health", "/v2/ns/health/instance"} {
		s.handle(p, ms(put), endpoint{api: "v2_health_update", v2: true, naming: true, tag: tagIPPort, fn: (*call).updateHealth})
	}

	// v2 instance additions: PATCH answers a bare "ok" as Nacos's does.
	s.handle("/v2/ns/instance", ms(patch), endpoint{api: "v2_instance_patch", v2: true, raw: true, naming: true, tag: tagIPPort, fn: (*call).patch})
	s.handle(statusesPath, ms(get, post, put), endpoint{api: "v2_instance_statuses", v2: true, raw: true, naming: true, fn: (*call).statuses})

	c := func(path, api string, fn func(*call) (any, error)) {
		s.handle("/v2/ns/client"+path, ms(get), endpoint{api: api, v2: true, fn: fn})
	}
	c("/publish/list", "v2_client_publish_list", (*call).clientPublishList)
	c("/subscribe/list", "v2_client_subscribe_list", (*call).clientSubscribeList)
	c("/service/publisher/list", "v2_client_service_publishers", (*call).servicePublishers)
	c("/service/subscriber/list", "v2_client_service_subscribers", (*call).serviceSubscribers)

	for _, base := range []string{"/v2/console/health"} {
		s.handle(base+"/liveness", ms(get), endpoint{api: "v2_console_liveness", v2: true, fn: func(*call) (any, error) { return "ok", nil }})
		s.handle(base+"/readiness", ms(get), endpoint{api: "v2_console_readiness", v2: true, fn: func(c *call) (any, error) {
			if c.s.o.Ready != nil && !c.s.o.Ready() {
				return nil, newErr(http.StatusServiceUnavailable, codeServerError, "server is not ready: snapshot load has not finished")
			}
			return "ok", nil
		}})
	}
}

// statusesPath is /v2/ns/instance/statuses/{key}; serve maps the path
// variable to the key parameter.
const statusesPath = "/v2/ns/instance/statuses"

// subscribers is v1 GET /service/subscribers: the subscribers of every
// service of the namespace whose name and group contain those asked for
// (Nacos matches fuzzily), on every member (aggregation=true, the default,
// without duplicates) or on this node, paged.
func (c *call) subscribers() (any, error) {
	k, err := c.serviceKey()
	if err != nil {
		return nil, err
	}
	pageNo := atoiDefault(c.optional("pageNo", "1"), 0)
	pageSize := atoiDefault(c.optional("pageSize", "1000"), 0)
	var subs []Subscriber
	if c.s.o.Introspect != nil {
		for _, sk := range c.s.o.Introspect.SubscribedServices() {
			if sk.Namespace == k.Namespace && strings.Contains(sk.Name, k.Name) && strings.Contains(sk.Group, k.Group) {
				subs = append(subs, c.s.o.Introspect.Subscribers(sk)...)
			}
		}
		if javaBool(c.optional("aggregation", "true")) {
			// Nacos keeps one subscriber per toString(): address, agent,
			// app, ip, namespace and service (not port or cluster), so
			// clients that look alike from the server collapse into one.
			type key struct{ addr, agent, app, ip, ns, svc string }
			seen := map[key]bool{}
			all := append(subs, c.s.o.Introspect.PeerSubscribers(c.r.Context(), c.r, k)...)
			subs = nil
			for _, s := range all {
				kk := key{s.Addr, s.Agent, s.App, s.IP, s.Namespace, s.Service}
				if !seen[kk] {
					seen[kk] = true
					subs = append(subs, s)
				}
			}
		}
	}
	start := max((pageNo-1)*pageSize, 0)
	end := min(start+pageSize, len(subs))
	start = min(start, end)
	page := make([]Subscriber, 0, end-start)
	page = append(page, subs[start:end]...)
	return struct {
		Subscribers []Subscriber `json:"subscribers"`
		Count       int          `json:"count"`
	}{page, len(subs)}, nil
}

// atoiDefault is Apache's NumberUtils.toInt: def for anything not a
// number.
func atoiDefault(s string, def int) int {
	n, err := strconv.Atoi(s)
	if err != nil {
		return def
	}
	return n
}

// pushState is /operator/push/state?detail&reset.
func (c *call) pushState() (any, error) {
	var t push.Totals
	if c.s.o.Introspect != nil {
		t = c.s.o.Introspect.PushTotals()
	}
	total := t.Acked + t.Failed - c.s.pushBase.acked.Load() - c.s.pushBase.failed.Load()
	failed := t.Failed - c.s.pushBase.failed.Load()
	out := map[string]any{"succeed": total - failed, "total": total, "ratio": 0}
	if total > 0 {
		out["ratio"] = jfloat(float32(total-failed) / float32(total))
	}
	if c.optBool("detail", false) {
		avg := int64(0)
		if t.Acked > 0 {
			avg = (t.AckTimeSum / time.Duration(t.Acked)).Milliseconds()
		}
		out["detail"] = map[string]int64{"avgPushCost": avg, "maxPushCost": t.MaxAckTime.Milliseconds()}
	}
	reset := c.optBool("reset", false)
	if reset {
		c.s.pushBase.acked.Store(t.Acked)
		c.s.pushBase.failed.Store(t.Failed)
	}
	out["reset"] = reset
	return out, nil
}

// setLogLevel is PUT /operator/log?logName&logLevel. Nacos changes a
// logback logger; distrod's single slog level is changed through
// Options.SetLogLevel, and logName is accepted as any name.
func (c *call) setLogLevel() (any, error) {
	name := c.optional("logName", "")
	if name == "" {
		return nil, missingRequestParam("logName")
	}
	level := c.optional("logLevel", "")
	if level == "" {
		return nil, missingRequestParam("logLevel")
	}
	if c.s.o.SetLogLevel != nil {
		if err := c.s.o.SetLogLevel(level); err != nil {
			return nil, newErr(http.StatusBadRequest, codeParameterValidate, "%v", err)
		}
	}
	c.s.log.Info("log level changed", "logName", name, "logLevel", level)
	return text("ok"), nil
}

// healthServer is /health/server: Nacos's greeting with the service count.
func (c *call) healthServer() (any, error) {
	port := 0
	if c.s.o.LocalPort != nil {
		port = c.s.o.LocalPort()
	}
	return map[string]string{"msg": "Hello! I am Nacos-Naming and healthy! total services: " +
		strconv.Itoa(c.s.store.Stats().Services) + ", local port:" + strconv.Itoa(port)}, nil
}

// healthCheckers is /health/checkers: the checker types Nacos loads, in
// the shape of their default objects.
func healthCheckers() map[string]any {
	return map[string]any{
		"HTTP":  map[string]any{"type": "HTTP", "path": "", "headers": "", "expectedResponseCode": 200},
		"TCP":   map[string]any{"type": "TCP"},
		"MYSQL": map[string]any{"type": "MYSQL", "user": nil, "pwd": nil, "cmd": nil},
		"NONE":  map[string]any{"type": "NONE"},
	}
}

// updateHealth is PUT /health and /health/instance: an operator sets the
// health of a persistent instance in a cluster whose checker is NONE (set
// with PUT /v1/ns/cluster), as in Nacos. The change is a control plane
// write, as the prober's (probe.go). Any other cluster, or a node without
// a control plane, gets Nacos's 400 "health check is still working"; an
// address with no persistent instance in that cluster is answered ok and
// changes nothing, as Nacos does.
func (c *call) updateHealth() (any, error) {
	hv := c.optional("healthy", "")
	if hv == "" && !c.ep.v2 {
		hv = c.optional("valid", "")
	}
	if hv == "" {
		if c.ep.v2 {
			return nil, newErr(http.StatusBadRequest, codeParameterMissing, "Required parameter 'healthy' type Boolean is not present")
		}
		return nil, newErr(http.StatusBadRequest, codeParameterMissing, "Param 'healthy' is required.")
	}
	k, err := c.serviceKey()
	if err != nil {
		return nil, err
	}
	ip, port, err := c.ipPort()
	if err != nil {
		return nil, err
	}
	cluster := c.clusterParam(naming.DefaultCluster)
	// v1 names the service as it was given, v2 as group@@name.
	shown := k.Grouped()
	if !c.ep.v2 {
		shown = c.optional("serviceName", "")
	}
	refused := newErr(http.StatusBadRequest, codeParameterValidate,
		"health check is still working, service: %s, cluster: %s", shown, cluster)
	if c.s.o.Control == nil {
		return nil, refused
	}
	f, err := c.fsm()
	if err != nil {
		return nil, err
	}
	cs, ok := f.Clusters(k)[cluster]
	if !ok || checkerType(cs.HealthChecker) != "NONE" {
		return nil, refused
	}
	// Whether the instance exists is decided when the write applies, on
	// the committed state: this node may not have applied its register
	// yet.
	key := cp.InstanceKey{Service: k, Cluster: cluster, IP: ip, Port: port}
	healthy := javaBool(hv)
	err = c.s.o.Control.Apply(c.r.Context(), cp.Command{Op: cp.OpPersistentHealth, Instance: &key, Healthy: healthy})
	if errors.Is(err, cp.ErrNotFound) {
		return text("ok"), nil
	}
	if err != nil {
		return nil, controlError(err, codeInstanceNotFound)
	}
	c.s.log.Info("persistent instance health set by an operator", "instance", key.String(), "healthy", healthy)
	return text("ok"), nil
}

// checkerType is the upper-cased type of a cluster's health checker JSON;
// TCP (the default) when it has none.
func checkerType(raw json.RawMessage) string {
	var hc struct {
		Type string `json:"type"`
	}
	if len(raw) == 0 || json.Unmarshal(raw, &hc) != nil || hc.Type == "" {
		return "TCP"
	}
	return strings.ToUpper(hc.Type)
}

// clientOrNotFound loads client id or answers Nacos's 404.
func (c *call) clientOrNotFound() (naming.ClientView, string, error) {
	id, err := c.required("clientId", "String")
	if err != nil {
		return naming.ClientView{}, "", err
	}
	cv, ok := c.s.store.Client(id)
	if !ok || cv.Meta.Tombstone {
		return cv, id, newErr(http.StatusNotFound, codeResourceNotFound, "clientId [ %s ] not exist", id)
	}
	return cv, id, nil
}

type publishedInstance struct {
	IP      string `json:"ip"`
	Port    int    `json:"port"`
	Cluster string `json:"cluster"`
}

// clientPublishList is v2 GET /client/publish/list?clientId.
func (c *call) clientPublishList() (any, error) {
	cv, _, err := c.clientOrNotFound()
	if err != nil {
		return nil, err
	}
	type item struct {
		Namespace  string            `json:"namespace"`
		Group      string            `json:"group"`
		Service    string            `json:"serviceName"`
		Registered publishedInstance `json:"registeredInstance"`
	}
	out := []item{}
	for _, k := range sortedKeys(cv.Services) {
		for _, in := range cv.Services[k].Instances {
			out = append(out, item{k.Namespace, k.Group, k.Name, publishedInstance{in.IP, in.Port, in.ClusterName}})
		}
	}
	return out, nil
}

// clientSubscribeList is v2 GET /client/subscribe/list?clientId.
func (c *call) clientSubscribeList() (any, error) {
	id, err := c.required("clientId", "String")
	if err != nil {
		return nil, err
	}
	var subs []ClientSubscription
	if c.s.o.Introspect != nil {
		subs = c.s.o.Introspect.SubscriptionsOf(id)
	}
	if _, ok := c.s.store.Client(id); !ok && len(subs) == 0 {
		return nil, newErr(http.StatusNotFound, codeResourceNotFound, "clientId [ %s ] not exist", id)
	}
	type info struct {
		App   string `json:"app"`
		Agent string `json:"agent"`
		Addr  string `json:"addr"`
	}
	type item struct {
		Namespace string `json:"namespace"`
		Group     string `json:"group"`
		Service   string `json:"serviceName"`
		Info      info   `json:"subscriberInfo"`
	}
	out := []item{}
	for _, s := range subs {
		out = append(out, item{s.Service.Namespace, s.Service.Group, s.Service.Name, info{s.Subscriber.App, s.Subscriber.Agent, s.Subscriber.Addr}})
	}
	return out, nil
}

// ipPortFilter reads the optional ip and port filters of the
// /client/service/* lists.
func (c *call) ipPortFilter() (string, int, bool, error) {
	ip := c.optional("ip", "")
	ps := c.optional("port", "")
	if ps == "" {
		return ip, 0, false, nil
	}
	p, err := strconv.Atoi(ps)
	if err != nil {
		return "", 0, false, badNumber(ps)
	}
	return ip, p, true, nil
}

// servicePublishers is v2 GET /client/service/publisher/list: the
// clients registering instances of a service, one row per instance.
func (c *call) servicePublishers() (any, error) {
	k, err := c.serviceKey()
	if err != nil {
		return nil, err
	}
	ip, port, hasPort, err := c.ipPortFilter()
	if err != nil {
		return nil, err
	}
	type row struct {
		publishedInstance
		ClientID string `json:"clientId"`
	}
	out := []row{}
	for _, id := range c.s.store.ClientIDs() {
		cv, ok := c.s.store.Client(id)
		if !ok {
			continue
		}
		for _, in := range cv.Services[k].Instances {
			if (ip != "" && in.IP != ip) || (hasPort && in.Port != port) {
				continue
			}
			out = append(out, row{publishedInstance{in.IP, in.Port, in.ClusterName}, id})
		}
	}
	return out, nil
}

// serviceSubscribers is v2 GET /client/service/subscriber/list.
func (c *call) serviceSubscribers() (any, error) {
	k, err := c.serviceKey()
	if err != nil {
		return nil, err
	}
	ip, port, hasPort, err := c.ipPortFilter()
	if err != nil {
		return nil, err
	}
	type row struct {
		ClientID string `json:"clientId"`
		IP       string `json:"ip"`
		Port     int    `json:"port"`
	}
	out := []row{}
	if c.s.o.Introspect != nil {
		for _, s := range c.s.o.Introspect.Subscribers(k) {
			if (ip != "" && s.IP != ip) || (hasPort && s.Port != port) {
				continue
			}
			out = append(out, row{s.ClientID, s.IP, s.Port})
		}
	}
	return out, nil
}

func sortedKeys(m map[naming.ServiceKey]naming.Publication) []naming.ServiceKey {
	keys := make([]naming.ServiceKey, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Slice(keys, func(i, j int) bool { return keys[i].Less(keys[j]) })
	return keys
}

// statusesKey maps /v2/ns/instance/statuses/{key} to statusesPath and
// the key.
func statusesKey(path string) (string, string) {
	if rest, ok := strings.CutPrefix(path, statusesPath+"/"); ok && rest != "" {
		return statusesPath, rest
	}
	return path, ""
}
