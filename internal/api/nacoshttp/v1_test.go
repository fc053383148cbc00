package nacoshttp

import (
	"fmt"
	"testing"
	"time"
)

const (
	v1 = "/nacos/v1/ns"
	v2 = "/nacos/v2/ns"
)

// TestV1_GoldenWalkThrough exercises every v1 endpoint in one story and
// compares the exact answers with testdata/v1.golden.
func TestV1_GoldenWalkThrough(t *testing.T) {
	e := newEnv(t, nil)
	runScript(t, e, "v1", []step{
		{Name: "register default instance", Method: "POST", Path: v1 + "/instance", Body: "serviceName=demo&ip=10.0.0.1&port=8080"},
		{Name: "register grouped name, cluster alias, weight, JSON metadata", Method: "POST", Path: v1 + "/instance",
			Body: "serviceName=DEFAULT_GROUP%40%40demo&ip=10.0.0.2&port=8080&cluster=c1&weight=2.5&metadata=%7B%22env%22%3A%22prod%22%2C%22preserved.heart.beat.interval%22%3A%222000%22%7D"},
		{Name: "register disabled via enable alias (hidden from lists)", Method: "POST", Path: v1 + "/instance",
			Body: "serviceName=demo&ip=10.0.0.3&port=8080&enable=false&metadata=a%3D1%2Cb%3D2"},
		{Name: "register unhealthy", Method: "POST", Path: v1 + "/instance", Body: "serviceName=demo&ip=10.0.0.4&port=8080&healthy=false&clusterName=c1"},
		{Name: "list all (grouped name, enabled only)", Method: "GET", Path: v1 + "/instance/list?serviceName=demo"},
		{Name: "list clusters filter", Method: "GET", Path: v1 + "/instance/list?serviceName=demo&clusters=c1"},
		{Name: "list healthyOnly", Method: "GET", Path: v1 + "/instance/list?serviceName=demo&healthyOnly=true"},
		{Name: "list unknown namespace is empty", Method: "GET", Path: v1 + "/instance/list?serviceName=demo&namespaceId=nope"},
		{Name: "instance detail", Method: "GET", Path: v1 + "/instance?serviceName=demo&ip=10.0.0.2&port=8080&cluster=c1"},
		{Name: "light beat of a known instance", Method: "PUT", Path: v1 + "/instance/beat?serviceName=demo&ip=10.0.0.1&port=8080"},
		{Name: "beat answers the instance's own interval", Method: "PUT", Path: v1 + "/instance/beat", Body: "serviceName=DEFAULT_GROUP@@demo&ip=10.0.0.2&port=8080&clusterName=c1"},
		{Name: "light beat of an unknown instance", Method: "PUT", Path: v1 + "/instance/beat?serviceName=demo&ip=10.9.9.9&port=1"},
		{Name: "full raw beat of an unknown instance re-creates it", Method: "PUT", Path: v1 + "/instance/beat",
			Body: `serviceName=DEFAULT_GROUP@@demo&beat={"ip":"10.0.0.5","port":9090,"weight":3,"serviceName":"DEFAULT_GROUP@@demo","cluster":"","metadata":{"q":"a+b %41 c\u0026d=e"},"scheduled":false}`},
		{Name: "the re-created instance keeps + % & and spaces", Method: "GET", Path: v1 + "/instance?serviceName=demo&ip=10.0.0.5&port=9090"},
		{Name: "update weight and metadata", Method: "PUT", Path: v1 + "/instance", Body: "serviceName=demo&ip=10.0.0.1&port=8080&weight=5&metadata=k%3Dv"},
		{Name: "patch enabled=false", Method: "PATCH", Path: v1 + "/instance", Body: "serviceName=demo&ip=10.0.0.5&port=9090&enabled=false"},
		{Name: "statuses", Method: "GET", Path: v1 + "/instance/statuses?key=public%23%23DEFAULT_GROUP%40%40demo"},
		{Name: "metadata batch update", Method: "PUT", Path: v1 + "/instance/metadata/batch",
			Body: "serviceName=demo&consistencyType=ephemeral&instances=%5B%7B%22ip%22%3A%2210.0.0.1%22%2C%22port%22%3A8080%2C%22clusterName%22%3A%22DEFAULT%22%7D%2C%7B%22ip%22%3A%2210.8.8.8%22%2C%22port%22%3A1%7D%5D&metadata=%7B%22zone%22%3A%22z1%22%7D"},
		{Name: "metadata batch delete", Method: "DELETE", Path: v1 + "/instance/metadata/batch?serviceName=demo&instances=%5B%7B%22ip%22%3A%2210.0.0.1%22%2C%22port%22%3A8080%7D%5D&metadata=%7B%22k%22%3A%22%22%7D"},
		{Name: "detail after updates", Method: "GET", Path: v1 + "/instance?serviceName=demo&ip=10.0.0.1&port=8080"},
		{Name: "create service", Method: "POST", Path: v1 + "/service", Body: "serviceName=guarded&protectThreshold=0.5&metadata=owner%3Dteam"},
		{Name: "get service", Method: "GET", Path: v1 + "/service?serviceName=guarded"},
		{Name: "register healthy into guarded", Method: "POST", Path: v1 + "/instance", Body: "serviceName=guarded&ip=10.1.0.1&port=80"},
		{Name: "register unhealthy into guarded", Method: "POST", Path: v1 + "/instance", Body: "serviceName=guarded&ip=10.1.0.2&port=80&healthy=false"},
		{Name: "protect threshold reached: all returned healthy", Method: "GET", Path: v1 + "/instance/list?serviceName=guarded&healthyOnly=true"},
		{Name: "update service threshold", Method: "PUT", Path: v1 + "/service", Body: "serviceName=guarded&protectThreshold=0.1"},
		{Name: "threshold no longer reached", Method: "GET", Path: v1 + "/instance/list?serviceName=guarded&healthyOnly=true"},
		{Name: "service list", Method: "GET", Path: v1 + "/service/list?pageNo=1&pageSize=10"},
		{Name: "service list page 2", Method: "GET", Path: v1 + "/service/list?pageNo=2&pageSize=1"},
		{Name: "service names", Method: "GET", Path: v1 + "/service/names?expr=guard"},
		{Name: "catalog services", Method: "GET", Path: v1 + "/catalog/services?pageNo=1&pageSize=10&withInstances=false"},
		{Name: "catalog instances (disabled included)", Method: "GET", Path: v1 + "/catalog/instances?serviceName=demo&clusterName=DEFAULT&pageNo=1&pageSize=10"},
		{Name: "catalog service", Method: "GET", Path: v1 + "/catalog/service?serviceName=demo"},
		{Name: "metrics onlyStatus", Method: "GET", Path: v1 + "/operator/metrics"},
		{Name: "metrics full (ops alias)", Method: "GET", Path: v1 + "/ops/metrics?onlyStatus=false",
			Run: func(e *env) string {
				code, body := e.do("GET", v1+"/ops/metrics?onlyStatus=false", "")
				return fmt.Sprintf("< %d\n%s", code, maskFloats(body, "cpu", "load", "mem"))
			}},
		{Name: "switches", Method: "GET", Path: v1 + "/operator/switches"},
		{Name: "switch clientBeatInterval", Method: "PUT", Path: v1 + "/operator/switches?entry=clientBeatInterval&value=7000"},
		{Name: "beat advertises the new interval", Method: "PUT", Path: v1 + "/instance/beat?serviceName=demo&ip=10.0.0.1&port=8080"},
		{Name: "switch defaultPushCacheMillis", Method: "PUT", Path: v1 + "/ops/switches?entry=defaultPushCacheMillis&value=2000"},
		{Name: "distro client (standalone: self)", Method: "GET", Path: v1 + "/operator/distro/client?ip=10.0.0.1&port=8080"},
		{Name: "deregister", Method: "DELETE", Path: v1 + "/instance?serviceName=demo&ip=10.0.0.1&port=8080"},
		{Name: "deregister unknown is ok", Method: "DELETE", Path: v1 + "/instance?serviceName=demo&ip=10.0.0.1&port=8080"},
		{Name: "list after deregister (cacheMillis from switch)", Method: "GET", Path: v1 + "/instance/list?serviceName=demo&clusters=DEFAULT", Advance: time.Second},
		{Name: "delete service with instances", Method: "DELETE", Path: v1 + "/service?serviceName=guarded"},
		{Name: "create then delete empty service", Method: "POST", Path: v1 + "/service", Body: "serviceName=empty"},
		{Name: "delete empty service", Method: "DELETE", Path: v1 + "/service?serviceName=empty"},
		{Name: "liveness", Method: "GET", Path: "/nacos/v1/console/health/liveness"},
		{Name: "readiness", Method: "GET", Path: "/nacos/v1/console/health/readiness"},
	})
	if st := e.store.Stats(); st.Instances != 6 {
		t.Fatalf("instances = %d, want 6", st.Instances)
	}
}

// maskFloats replaces the numeric value of each named JSON key with "X".
func maskFloats(body string, keys ...string) string {
	for _, k := range keys {
		i := indexOf(body, `"`+k+`":`)
		if i < 0 {
			continue
		}
		j := i + len(k) + 3
		end := j
		for end < len(body) && body[end] != ',' && body[end] != '}' {
			end++
		}
		body = body[:j] + "X" + body[end:]
	}
	return body
}

func indexOf(s, sub string) int {
	for i := 0; i+len(sub) <= len(s); i++ {
		if s[i:i+len(sub)] == sub {
			return i
		}
	}
	return -1
}
