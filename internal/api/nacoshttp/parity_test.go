package nacoshttp

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	"testing"

	"github.com/distrod/distrod/internal/naming"
	"github.com/distrod/distrod/internal/push"
)

// fakeIntrospector stands in for the push engine and the gRPC server.
type fakeIntrospector struct{}

const connID = "1704067200000_10.0.0.9_50000"

func (fakeIntrospector) Subscribers(svc naming.ServiceKey) []Subscriber {
	if svc.Name == "demo2" {
		return []Subscriber{{ClientID: "1704067200000_10.0.0.6_50000", Addr: "10.0.0.6", Agent: "Nacos-Go-Client:v2.3.2", App: "unknown", IP: "10.0.0.6", Namespace: svc.Namespace, Service: svc.Grouped()}}
	}
	if svc.Name != "demo" {
		return nil
	}
	return []Subscriber{
		{ClientID: connID, Addr: "10.0.0.9", Agent: "Nacos-Go-Client:v2.3.2", App: "unknown", IP: "10.0.0.9", Namespace: svc.Namespace, Service: svc.Grouped()},
		{ClientID: "10.0.0.8:53000#true", Addr: "10.0.0.8:53000", Agent: "Nacos-Java-Client:v1.4.1", App: "shop", IP: "10.0.0.8", Port: 53000, Namespace: svc.Namespace, Service: svc.Grouped(), Cluster: "c1"},
	}
}

func (fakeIntrospector) PeerSubscribers(_ context.Context, _ *http.Request, svc naming.ServiceKey) []Subscriber {
	if svc.Name != "demo" || svc.Group != naming.DefaultGroup {
		return nil
	}
	return []Subscriber{{ClientID: "1704067200000_10.0.0.7_50000", Addr: "10.0.0.7", Agent: "Nacos-Java-Client:v2.5.1", App: "pay", IP: "10.0.0.7", Namespace: svc.Namespace, Service: svc.Grouped()}}
}

func (fakeIntrospector) SubscribedServices() []naming.ServiceKey {
	return []naming.ServiceKey{naming.NewServiceKey("", "", "demo"), naming.NewServiceKey("", "", "demo2")}
}

func (f fakeIntrospector) SubscriptionsOf(id string) []ClientSubscription {
	if id != connID {
		return nil
	}
	k := naming.NewServiceKey("", "", "demo")
	return []ClientSubscription{{Service: k, Subscriber: f.Subscribers(k)[0]}}
}

func (fakeIntrospector) Connection(id string) (ConnectionMeta, bool) {
	if id != connID {
		return ConnectionMeta{}, false
	}
	return ConnectionMeta{ConnectType: "GRPC", AppName: "shop", Version: "Nacos-Go-Client:v2.3.2", ClientIP: "10.0.0.9"}, true
}

func (fakeIntrospector) PushTotals() push.Totals {
	return push.Totals{Acked: 9, Failed: 1, AckTimeSum: 90 * time.Millisecond, MaxAckTime: 30 * time.Millisecond}
}

func (fakeIntrospector) SubscribeCount() int { return 2 }

func (fakeIntrospector) SystemLoad() (float64, float64) { return 0.25, 1.5 }

// fakeLoader records what the loader endpoints asked for.
type fakeLoader struct{ calls []string }

func (l *fakeLoader) Current() any {
	return map[string]any{connID: map[string]any{"metaInfo": map[string]any{"connectionId": connID}}}
}
func (l *fakeLoader) ReloadCount(_ context.Context, n int, redirect string) {
	l.calls = append(l.calls, fmt.Sprintf("reloadCount %d %q", n, redirect))
}
func (l *fakeLoader) ReloadClient(_ context.Context, id, redirect string) {
	l.calls = append(l.calls, fmt.Sprintf("reloadClient %s %q", id, redirect))
}
func (l *fakeLoader) Cluster(context.Context, *http.Request) any {
	return map[string]any{"total": 1, "detail": []any{}}
}
func (l *fakeLoader) SmartReload(_ context.Context, _ *http.Request, f float64) bool {
	l.calls = append(l.calls, fmt.Sprintf("smartReload %v", f))
	return f < 0.5
}

// TestParity_GoldenWalkThrough exercises the endpoints that complete
// Nacos 2.5's naming API (docs/nacos-parity.md), their error paths, and
// the semantics the parity table promises, against testdata/parity.golden.
func TestParity_GoldenWalkThrough(t *testing.T) {
	ld := &fakeLoader{}
	e := newEnv(t, func(o *Options) {
		o.Introspect = fakeIntrospector{}
		o.Loader = ld
		o.LocalPort = func() int { return 8848 }
		o.SetLogLevel = func(l string) error {
			if l == "LOUD" {
				return errors.New("unknown logLevel \"LOUD\"")
			}
			return nil
		}
	})
	const v1, v2 = "/nacos/v1/ns", "/nacos/v2/ns"
	runScript(t, e, "parity", []step{
		{Name: "setup: healthy instance", Method: "POST", Path: v1 + "/instance", Body: "serviceName=demo&ip=10.0.0.1&port=8080"},
		{Name: "setup: unhealthy instance in c1", Method: "POST", Path: v1 + "/instance", Body: "serviceName=demo&ip=10.0.0.2&port=8080&clusterName=c1&healthy=false"},
		{Name: "setup: disabled instance", Method: "POST", Path: v1 + "/instance", Body: "serviceName=demo&ip=10.0.0.3&port=8080&enabled=false"},
		{Name: "setup: a gRPC connection's instance", Run: func(e *env) string {
			err := e.store.Publish(t0.UnixMilli(), connID, naming.NewServiceKey("", "", "demo"),
				naming.Publication{Instances: []naming.Instance{{IP: "10.0.0.9", Port: 9000, Weight: 1, Healthy: true, Enabled: true, Ephemeral: true, ClusterName: "DEFAULT"}}})
			return fmt.Sprint("publish: ", err)
		}},
		{Name: "snowflake id generator", Method: "POST", Path: v1 + "/instance", Body: "serviceName=snow&ip=10.0.5.1&port=80&metadata=%7B%22preserved.instance.id.generator%22%3A%22snowflake%22%7D"},
		{Name: "snowflake id is assigned at registration", Run: func(e *env) string {
			v := e.store.Service(naming.NewServiceKey("", "", "snow"), naming.Query{})
			id := v.Hosts[0].InstanceID
			head, tail, _ := strings.Cut(id, "#")
			return fmt.Sprintf("numeric=%v rest=%s", head != "" && strings.Trim(head, "0123456789") == "", tail)
		}},

		{Name: "v1 subscribers", Method: "GET", Path: v1 + "/service/subscribers?serviceName=demo"},
		{Name: "v1 subscribers paged", Method: "GET", Path: v1 + "/service/subscribers?serviceName=demo&pageNo=2&pageSize=1"},
		{Name: "v1 subscribers of this node only", Method: "GET", Path: v1 + "/service/subscribers?serviceName=demo&aggregation=false"},
		{Name: "v1 subscribers match fuzzily", Method: "GET", Path: v1 + "/service/subscribers?serviceName=emo2&aggregation=false"},
		{Name: "v1 subscribers of another group", Method: "GET", Path: v1 + "/service/subscribers?serviceName=demo&groupName=other"},
		{Name: "v1 subscribers missing serviceName", Method: "GET", Path: v1 + "/service/subscribers"},
		{Name: "v1 selector types", Method: "GET", Path: v1 + "/service/selector/types"},
		{Name: "v1 push state", Method: "GET", Path: v1 + "/operator/push/state?detail=true"},
		{Name: "v1 push state reset", Method: "GET", Path: v1 + "/ops/push/state?reset=true"},
		{Name: "v1 push state after reset", Method: "GET", Path: v1 + "/operator/push/state"},
		{Name: "v1 log missing logName", Method: "PUT", Path: v1 + "/operator/log?logLevel=INFO"},
		{Name: "v1 log unknown level", Method: "PUT", Path: v1 + "/operator/log?logName=naming-server&logLevel=LOUD"},
		{Name: "v1 log", Method: "PUT", Path: v1 + "/operator/log?logName=naming-server&logLevel=DEBUG"},

		{Name: "v1 health server", Method: "GET", Path: v1 + "/health/server"},
		{Name: "v1 health checkers", Method: "GET", Path: v1 + "/health/checkers"},
		{Name: "v1 health update missing healthy", Method: "PUT", Path: v1 + "/health", Body: "serviceName=demo&ip=10.0.0.1&port=8080"},
		{Name: "v1 health update without a control plane is refused", Method: "PUT", Path: v1 + "/health/instance", Body: "serviceName=demo&ip=10.0.0.1&port=8080&healthy=false"},
		{Name: "v2 health update missing healthy", Method: "PUT", Path: v2 + "/health", Body: "serviceName=demo&ip=10.0.0.1&port=8080"},
		{Name: "v2 health update without a control plane is refused", Method: "PUT", Path: v2 + "/health/instance", Body: "serviceName=demo&groupName=DEFAULT_GROUP&ip=10.0.0.2&port=8080&clusterName=c1&healthy=true"},

		{Name: "v2 patch answers a bare ok", Method: "PATCH", Path: v2 + "/instance", Body: "serviceName=demo&ip=10.0.0.1&port=8080&weight=3&metadata=%7B%22k%22%3A%22v%22%7D"},
		{Name: "v2 patch unknown instance", Method: "PATCH", Path: v2 + "/instance", Body: "serviceName=demo&ip=10.9.9.9&port=1&enabled=false"},
		{Name: "v2 statuses by path key", Method: "GET", Path: v2 + "/instance/statuses/public%23%23DEFAULT_GROUP%40%40demo"},
		{Name: "v2 statuses without namespace", Method: "GET", Path: v2 + "/instance/statuses/DEFAULT_GROUP%40%40demo"},
		{Name: "v2 statuses bad key", Method: "GET", Path: v2 + "/instance/statuses/a%7Cb"},

		{Name: "admin reads show real health: GET of the unhealthy instance", Method: "GET", Path: v1 + "/instance?serviceName=demo&ip=10.0.0.2&port=8080&clusterName=c1"},
		{Name: "GET of a disabled instance returns it", Method: "GET", Path: v2 + "/instance?serviceName=demo&ip=10.0.0.3&port=8080"},

		{Name: "v2 client detail of an ip-port client", Method: "GET", Path: v2 + "/client?clientId=10.0.0.1:8080%23true"},
		{Name: "v2 client detail of a connection", Method: "GET", Path: v2 + "/client?clientId=" + connID},
		{Name: "v2 client publish list", Method: "GET", Path: v2 + "/client/publish/list?clientId=10.0.0.2:8080%23true"},
		{Name: "v2 client publish list unknown client", Method: "GET", Path: v2 + "/client/publish/list?clientId=nope"},
		{Name: "v2 client publish list missing clientId", Method: "GET", Path: v2 + "/client/publish/list"},
		{Name: "v2 client subscribe list", Method: "GET", Path: v2 + "/client/subscribe/list?clientId=" + connID},
		{Name: "v2 service publishers", Method: "GET", Path: v2 + "/client/service/publisher/list?serviceName=demo"},
		{Name: "v2 service publishers by ip and port", Method: "GET", Path: v2 + "/client/service/publisher/list?serviceName=demo&ip=10.0.0.9&port=9000"},
		{Name: "v2 service publishers bad port", Method: "GET", Path: v2 + "/client/service/publisher/list?serviceName=demo&port=x"},
		{Name: "v2 service subscribers", Method: "GET", Path: v2 + "/client/service/subscriber/list?serviceName=demo&groupName=DEFAULT_GROUP"},
		{Name: "v2 service subscribers by ip", Method: "GET", Path: v2 + "/client/service/subscriber/list?serviceName=demo&ip=10.0.0.8"},

		{Name: "v1 catalog instances of one cluster (real health)", Method: "GET", Path: v1 + "/catalog/instances?serviceName=demo&clusterName=c1&pageNo=1&pageSize=10"},
		{Name: "v1 catalog instances unknown cluster", Method: "GET", Path: v1 + "/catalog/instances?serviceName=demo&clusterName=nope&pageNo=1&pageSize=10"},
		{Name: "v1 catalog instances unknown service", Method: "GET", Path: v1 + "/catalog/instances?serviceName=nope&clusterName=DEFAULT&pageNo=1&pageSize=10"},
		{Name: "v2 catalog instances healthyOnly=false", Method: "GET", Path: v2 + "/catalog/instances?serviceName=demo&healthyOnly=false&pageNo=1&pageSize=10"},
		{Name: "v2 catalog instances enabledOnly=false", Method: "GET", Path: v2 + "/catalog/instances?serviceName=demo&enabledOnly=false&pageNo=1&pageSize=10"},
		{Name: "v1 catalog services instance filter", Method: "GET", Path: v1 + "/catalog/services?pageNo=1&pageSize=10&instance=10.0.5.1"},
		{Name: "v1 catalog services instance filter, no match", Method: "GET", Path: v1 + "/catalog/services?pageNo=1&pageSize=10&instance=10.7."},

		{Name: "v2 ops alias metrics", Method: "GET", Path: v2 + "/ops/metrics?onlyStatus=true"},
		{Name: "v1 metrics with subscribeCount, cpu and load", Run: func(e *env) string {
			code, body := e.do("GET", v1+"/operator/metrics?onlyStatus=false", "")
			var m struct {
				SubscribeCount int     `json:"subscribeCount"`
				CPU            float64 `json:"cpu"`
				Load           float64 `json:"load"`
			}
			err := json.Unmarshal([]byte(body), &m)
			return fmt.Sprintf("%d subscribeCount=%d cpu=%v load=%v %v", code, m.SubscribeCount, m.CPU, m.Load, err)
		}},
		{Name: "v2 console liveness", Method: "GET", Path: "/nacos/v2/console/health/liveness"},
		{Name: "v2 console readiness", Method: "GET", Path: "/nacos/v2/console/health/readiness"},

		{Name: "loader current", Method: "GET", Path: "/nacos/v2/core/loader/current"},
		{Name: "loader reloadCurrent missing count", Method: "GET", Path: "/nacos/v2/core/loader/reloadCurrent"},
		{Name: "loader reloadCurrent bad count", Method: "GET", Path: "/nacos/v2/core/loader/reloadCurrent?count=x"},
		{Name: "loader reloadCurrent", Method: "GET", Path: "/nacos/v2/core/loader/reloadCurrent?count=2&redirectAddress=10.0.0.2:8848"},
		{Name: "loader reloadCurrent redirect without port is ignored", Method: "GET", Path: "/nacos/v2/core/loader/reloadCurrent?count=2&redirectAddress=10.0.0.2"},
		{Name: "loader reloadClient missing connectionId", Method: "GET", Path: "/nacos/v2/core/loader/reloadClient"},
		{Name: "loader reloadClient", Method: "GET", Path: "/nacos/v2/core/loader/reloadClient?connectionId=" + connID},
		{Name: "loader cluster", Method: "GET", Path: "/nacos/v2/core/loader/cluster"},
		{Name: "loader smartReloadCluster", Method: "GET", Path: "/nacos/v2/core/loader/smartReloadCluster"},
		{Name: "loader smartReloadCluster that fails", Method: "GET", Path: "/nacos/v2/core/loader/smartReloadCluster?loaderFactor=0.6"},
		{Name: "loader smartReloadCluster bad factor", Method: "GET", Path: "/nacos/v2/core/loader/smartReloadCluster?loaderFactor=2"},
		{Name: "loader is GET only", Method: "POST", Path: "/nacos/v2/core/loader/reloadCurrent?count=1"},
		{Name: "what the loader was asked", Run: func(*env) string { return strings.Join(ld.calls, "\n") }},
	})
}
