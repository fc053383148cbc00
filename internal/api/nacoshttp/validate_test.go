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

// TestList_AnswerSizeIsCapped: an answer over MaxAnswerBytes is refused
// with an error that names the limit, instead of being built and sent.
func TestList_AnswerSizeIsCapped(t *testing.T) {
	e := newEnv(t, func(o *Options) { o.MaxAnswerBytes = 600 })
	for _, ip := range []string{"10.0.0.1", "10.0.0.2", "10.0.0.3"} {
		if code, body := e.do(http.MethodPost, "/nacos/v1/ns/instance?serviceName=big&port=80&ip="+ip, ""); code != 200 {
			t.Fatalf("register: %d %s", code, body)
		}
	}
	code, body := e.do(http.MethodGet, "/nacos/v1/ns/instance/list?serviceName=big", "")
	if code != http.StatusInternalServerError || !strings.Contains(body, "max-list-answer-bytes") {
		t.Fatalf("v1 list: %d %s", code, body)
	}
	code, body = e.do(http.MethodGet, "/nacos/v2/ns/instance/list?serviceName=big", "")
	if code != http.StatusInternalServerError || !strings.Contains(body, `"code":30000`) {
		t.Fatalf("v2 list: %d %s", code, body)
	}
	if code, _ := e.do(http.MethodGet, "/nacos/v1/ns/instance/list?serviceName=small", ""); code != http.StatusOK {
		t.Fatalf("small answer refused: %d", code)
	}
}
