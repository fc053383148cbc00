package nacoshttp

import (
	"net/http"
	"net/url"
	"strings"
	"testing"
)

// TestRegister_RefusesSeparatorsAndBadIPs checks the v1 and v2 answers to
// names carrying record key separators and to IPs that are neither an
// address nor a host name.
func TestRegister_RefusesSeparatorsAndBadIPs(t *testing.T) {
	e := newEnv(t, nil)
	for _, c := range []struct {
		q      url.Values
		msg    string
		v2code string
	}{
		{url.Values{"namespaceId": {"a##b"}}, "Param 'namespaceId/tenant' is illegal, illegal characters should not appear in the param.", `"code":21000`},
		{url.Values{"groupName": {"g|h"}}, "Param 'group' is illegal, illegal characters should not appear in the param.", `"code":21000`},
		{url.Values{"serviceName": {"s##t"}}, "Param 'serviceName' is illegal, illegal characters should not appear in the param.", `"code":21000`},
		{url.Values{"ip": {"10.0.0.1|x"}}, "Param 'ip' is illegal", `"code":21004`},
		{url.Values{"ip": {"169.254.1.999"}}, "Param 'ip' is illegal", `"code":21004`},
		{url.Values{"clusterName": {"a|b"}}, "Param 'cluster' is illegal", `"code":21004`},
		{url.Values{"serviceName": {strings.Repeat("s", 600)}}, "the param length should not exceed 512.", `"code":21004`},
	} {
		q := url.Values{"serviceName": {"svc"}, "ip": {"10.0.0.1"}, "port": {"80"}}
		for k, v := range c.q {
			q[k] = v
		}
		code, body := e.do(http.MethodPost, "/nacos/v1/ns/instance?"+q.Encode(), "")
		if code != http.StatusBadRequest || !strings.Contains(body, c.msg) {
			t.Errorf("v1 %v: %d %s", c.q, code, body)
		}
		code, body = e.do(http.MethodPost, "/nacos/v2/ns/instance?"+q.Encode(), "")
		if code != http.StatusBadRequest || !strings.Contains(body, c.v2code) || !strings.Contains(body, c.msg) {
			t.Errorf("v2 %v: %d %s", c.q, code, body)
		}
	}
	if n := e.store.Stats().Instances; n != 0 {
		t.Fatalf("%d instances stored", n)
	}
}
