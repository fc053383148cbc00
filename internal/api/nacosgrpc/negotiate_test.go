package nacosgrpc

import (
	"context"
	"encoding/json"
	"regexp"
	"testing"
	"time"

	"github.com/distrod/distrod/internal/nacospb"
	"github.com/distrod/distrod/internal/naming"
	"github.com/nacos-group/nacos-sdk-go/v2/vo"
)

// setupWith opens the bi-stream and sends a ConnectionSetupRequest with the
// given JSON tail after the labels (for example an abilityTable).
func (r *rawClient) setupWith(extra string) {
	r.t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	r.cancel = cancel
	st, err := nacospb.OpenBiStream(ctx, r.cc)
	if err != nil {
		r.t.Fatal(err)
	}
	r.st = st
	r.send(typeConnectionSetupRequest, `{"requestId":"","module":"internal","clientVersion":"Nacos-Java-Client:v2.5.1","tenant":"","labels":{"module":"naming","source":"sdk"}`+extra+`}`)
}

// TestServer_NegotiatesAbilitiesLikeNacos23: ServerCheckResponse offers
// negotiation, and a client whose ConnectionSetupRequest carries an ability
// table (as Nacos 2.3+ Java clients send) gets SetupAckRequest with the
// server's abilities as its first server request, then works as usual.
func TestServer_NegotiatesAbilitiesLikeNacos23(t *testing.T) {
	e := startEnv(t, nil)
	r := dialRaw(t, e.addr)
	m := r.mustCall(typeServerCheckRequest, `{"requestId":"","module":"internal"}`, typeServerCheckResponse, 200)
	if m["supportAbilityNegotiation"] != true {
		t.Fatalf("ServerCheckResponse = %v, want supportAbilityNegotiation true", m)
	}
	r.setupWith(`,"abilityTable":{"fuzzyWatch":false}`)
	p, err := r.st.Recv()
	if err != nil {
		t.Fatal(err)
	}
	var ack struct {
		RequestID    string          `json:"requestId"`
		Module       string          `json:"module"`
		AbilityTable map[string]bool `json:"abilityTable"`
	}
	if err := json.Unmarshal(p.Body, &ack); err != nil || p.Type != typeSetupAckRequest {
		t.Fatalf("first server request %s %s (%v), want SetupAckRequest", p.Type, p.Body, err)
	}
	if v, ok := ack.AbilityTable["supportPersistentInstanceByGrpc"]; !ok || v || ack.Module != moduleInternal || ack.RequestID == "" {
		t.Fatalf("SetupAckRequest = %s", p.Body)
	}
	// The Java client answers SetupAckResponse; nothing waits for it.
	r.send("SetupAckResponse", `{"resultCode":200,"errorCode":0,"success":true,"requestId":"`+ack.RequestID+`"}`)
	r.waitRegistered()
	r.mustCall(typeInstanceRequest, instanceBody, typeInstanceResponse, 200)
}

// TestServer_NoSetupAckWithoutAbilityTable: a client that sends no ability
// table (nacos-sdk-go, Java clients before 2.3) gets no SetupAckRequest:
// the first thing on its stream is the next real server request.
func TestServer_NoSetupAckWithoutAbilityTable(t *testing.T) {
	e := startEnv(t, nil)
	r := dialRaw(t, e.addr)
	r.setup()
	r.waitRegistered()
	id := e.srv.ConnectionInfos()[0].ID
	done := make(chan error, 1)
	go func() { done <- e.srv.ResetConnection(context.Background(), id, "", 0) }()
	p, err := r.st.Recv()
	if err != nil || p.Type != typeConnectResetRequest {
		t.Fatalf("first server request %v, %v; want ConnectResetRequest", p, err)
	}
	var m map[string]any
	_ = json.Unmarshal(p.Body, &m)
	r.send(typeConnectResetResponse, `{"resultCode":200,"requestId":"`+m["requestId"].(string)+`"}`)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}

// TestServer_InstanceRequestForcesEphemeral: InstanceRequest and
// BatchInstanceRequest with ephemeral:false (or no ephemeral field)
// register ephemeral instances, as Nacos's gRPC handlers do.
func TestServer_InstanceRequestForcesEphemeral(t *testing.T) {
	e := startEnv(t, nil)
	r := dialRaw(t, e.addr)
	r.setup()
	r.waitRegistered()
	r.mustCall(typeInstanceRequest, `{"namespace":"public","serviceName":"p","groupName":"G","type":"registerInstance","instance":{"ip":"10.0.0.1","port":1,"ephemeral":false,"enabled":true,"healthy":true,"weight":1}}`, typeInstanceResponse, 200)
	r.mustCall(typeBatchInstanceRequest, `{"namespace":"public","serviceName":"b","groupName":"G","type":"batchRegisterInstance","instances":[{"ip":"10.0.0.2","port":1},{"ip":"10.0.0.3","port":1,"ephemeral":false}]}`, typeBatchInstanceResponse, 200)
	for _, c := range []struct {
		svc string
		n   int
	}{{"p", 1}, {"b", 2}} {
		v := e.store.Service(naming.ServiceKey{Namespace: "public", Group: "G", Name: c.svc}, naming.Query{})
		if len(v.Hosts) != c.n {
			t.Fatalf("%s: %d instances, want %d", c.svc, len(v.Hosts), c.n)
		}
		for _, in := range v.Hosts {
			if !in.Ephemeral {
				t.Fatalf("%s: instance %s:%d stored persistent", c.svc, in.IP, in.Port)
			}
		}
	}
}

// TestSDK_GoClientWorksWithANegotiatingServer runs the published Go SDK
// (v2.3.2) against a server that offers ability negotiation. The Go SDK
// does not negotiate (it sends no ability table, so it gets no
// SetupAckRequest) and must work as before: register, with a snowflake
// instance id the server assigns, and subscribe.
func TestSDK_GoClientWorksWithANegotiatingServer(t *testing.T) {
	e := startEnv(t, nil)
	r := dialRaw(t, e.addr)
	if m := r.mustCall(typeServerCheckRequest, `{}`, typeServerCheckResponse, 200); m["supportAbilityNegotiation"] != true {
		t.Fatalf("ServerCheckResponse = %v", m)
	}
	cli := e.newSDK("")
	p := reg("10.0.7.1", 80, "negotiated", 1)
	p.Metadata = map[string]string{naming.MetaIDGenerator: naming.IDGeneratorSnowflake}
	if ok, err := cli.RegisterInstance(p); err != nil || !ok {
		t.Fatalf("RegisterInstance = %v, %v", ok, err)
	}
	infos := e.srv.ConnectionInfos()
	if len(infos) != 1 || infos[0].AbilityTable != nil || !infos[0].SDKSource() {
		t.Fatalf("connections %+v: want one SDK connection without an ability table", infos)
	}
	svc := naming.NewServiceKey("", "", "negotiated")
	in, _, found := e.store.FindInstance(svc, "10.0.7.1", 80, "")
	if !found || !regexp.MustCompile(`^\d+#DEFAULT#DEFAULT_GROUP@@negotiated$`).MatchString(in.InstanceID) {
		t.Fatalf("stored instance %+v, want a snowflake id", in)
	}
	var log callbackLog
	if err := cli.Subscribe(&vo.SubscribeParam{ServiceName: "negotiated", SubscribeCallback: log.fn}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 20*time.Second, "subscription push", func() bool { return log.saw("10.0.7.1:80/w1") })
	s, err := cli.GetService(vo.GetServiceParam{ServiceName: "negotiated"})
	if err != nil || len(s.Hosts) != 1 || s.Hosts[0].InstanceId != in.InstanceID {
		t.Fatalf("GetService = %+v, %v; want the snowflake id %s", s.Hosts, err, in.InstanceID)
	}
}
