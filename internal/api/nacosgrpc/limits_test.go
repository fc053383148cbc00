package nacosgrpc

import (
	"strings"
	"testing"
)

// TestServer_RefusesWhatHTTPRefuses: persistent instances, names carrying
// key separators, bad IPs and oversize metadata get ErrorResponse 400 with
// a message that says why, as their HTTP equivalents get 400.
func TestServer_RefusesWhatHTTPRefuses(t *testing.T) {
	e := startEnv(t, nil)
	r := dialRaw(t, e.addr)
	r.setup()
	r.waitRegistered()
	reg := func(ns, svc, group, inst string) string {
		return `{"namespace":"` + ns + `","serviceName":"` + svc + `","groupName":"` + group + `","type":"registerInstance","instance":` + inst + `}`
	}
	good := `{"ip":"10.0.0.1","port":1,"ephemeral":true}`
	for _, c := range []struct{ body, msg string }{
		{reg("public", "s", "G", `{"ip":"10.0.0.1","port":1,"ephemeral":false}`), "ephemeral=false"},
		{reg("public", "s", "G", `{"ip":"10.0.0.1","port":1}`), "ephemeral=false"},
		{`{"serviceName":"s","type":"batchRegisterInstance","instances":[` + good + `,{"ip":"10.0.0.2","port":1}]}`, "ephemeral=false"},
		{reg("a##b", "s", "G", good), "Param 'namespaceId/tenant' is illegal"},
		{reg("public", "s|t", "G", good), "Param 'serviceName' is illegal"},
		{reg("public", "s", "G@@H", good), "Param 'group' is illegal"},
		{reg("public", "s", "G", `{"ip":"10.0.0.1|x","port":1,"ephemeral":true}`), "Param 'ip' is illegal"},
		{reg("public", "s", "G", `{"ip":"256.0.0.1","port":1,"ephemeral":true}`), "Param 'ip' is illegal"},
		{reg("public", strings.Repeat("s", 513), "G", good), "should not exceed 512"},
		{reg("public", "s", "G", `{"ip":"10.0.0.1","port":1,"ephemeral":true,"metadata":{"k":"`+strings.Repeat("v", 70<<10)+`"}}`), "Param 'Metadata"},
	} {
		typ := typeInstanceRequest
		if strings.Contains(c.body, "batchRegisterInstance") {
			typ = typeBatchInstanceRequest
		}
		m := r.mustCall(typ, c.body, typeErrorResponse, CodeInvalidParam)
		if msg, _ := m["message"].(string); !strings.Contains(msg, c.msg) {
			t.Errorf("%.80s: message %q, want %q", c.body, msg, c.msg)
		}
	}
	if n := e.store.Stats().Instances; n != 0 {
		t.Fatalf("%d instances stored from refused requests", n)
	}
}
