package nacoshttp

import (
	"fmt"
	"strings"
	"testing"
)

// TestCurl_ReadmeWalkThrough mirrors the README's curl commands with plain
// net/http and checks their exact outputs (testdata/curl.golden).
func TestCurl_ReadmeWalkThrough(t *testing.T) {
	e := newEnv(t, nil)
	var b strings.Builder
	for _, c := range []struct{ method, path string }{
		{"POST", "/nacos/v1/ns/instance?serviceName=demo&ip=10.0.0.1&port=8080"},
		{"GET", "/nacos/v1/ns/instance/list?serviceName=demo"},
		{"PUT", "/nacos/v1/ns/instance/beat?serviceName=demo&ip=10.0.0.1&port=8080"},
		{"DELETE", "/nacos/v1/ns/instance?serviceName=demo&ip=10.0.0.1&port=8080"},
		{"GET", "/nacos/v1/ns/instance/list?serviceName=demo"},
	} {
		code, body := e.do(c.method, c.path, "")
		if code != 200 {
			t.Fatalf("%s %s: %d %s", c.method, c.path, code, body)
		}
		flag := ""
		if c.method != "GET" {
			flag = "-X " + c.method + " "
		}
		fmt.Fprintf(&b, "$ curl %s'http://127.0.0.1:8848%s'\n%s\n", flag, c.path, body)
	}
	compareGolden(t, "curl", b.String())
}
