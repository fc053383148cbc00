package nacoshttp

import (
	"testing"

	"github.com/prometheus/client_golang/prometheus/testutil"
)

// TestMetrics_CountByAPIAndCode checks the counter and histogram on the
// injected registry.
func TestMetrics_CountByAPIAndCode(t *testing.T) {
	e := newEnv(t, nil)
	e.do("POST", v1+"/instance", "serviceName=demo&ip=10.0.0.1&port=8080")
	e.do("POST", v1+"/instance", "serviceName=demo&ip=10.0.0.1&port=x")
	e.do("PUT", v1+"/instance/beat?serviceName=demo&ip=10.0.0.1&port=8080", "")
	s := e.srv.Config.Handler.(*server)
	for _, c := range []struct {
		api, code string
		want      float64
	}{{"v1_instance_register", "200", 1}, {"v1_instance_register", "400", 1}, {"v1_instance_beat", "200", 1}} {
		if got := testutil.ToFloat64(s.reqs.WithLabelValues(c.api, c.code)); got != c.want {
			t.Errorf("requests_total{api=%s,code=%s} = %v, want %v", c.api, c.code, got, c.want)
		}
	}
	if n := testutil.CollectAndCount(s.lat, "distrod_http_request_duration_seconds"); n != 3 {
		t.Errorf("latency series = %d, want 3", n)
	}
	if _, err := New(Options{Store: e.store, Registry: e.reg}); err == nil {
		t.Error("registering twice on one registry must fail")
	}
}
