package push

import (
	"context"
	"encoding/json"
	"fmt"
	"sync"
	"testing"

	"github.com/distrod/distrod/internal/naming"
	"github.com/prometheus/client_golang/prometheus/testutil"
)

// A push is notifyHead followed by notifyTail: one JSON document with
// every field a NotifySubscriberRequest carries, whatever the names hold.
func TestNotifyBody_DecodesAsNotifySubscriberRequest(t *testing.T) {
	for _, svc := range []naming.ServiceKey{
		naming.NewServiceKey("", "", "plain"),
		naming.NewServiceKey("ns-1", "g<&>", "quote\"back\\slash\u00e9\x01"),
	} {
		info := json.RawMessage(`{"name":"x","hosts":[{"ip":"10.0.0.1"}],"valid":true}`)
		body := append(notifyHead(svc, info), notifyTail("12345")...)
		if !json.Valid(body) {
			t.Fatalf("invalid JSON: %s", body)
		}
		var got struct {
			Headers     map[string]string `json:"headers"`
			RequestID   *string           `json:"requestId"`
			Module      string            `json:"module"`
			Namespace   string            `json:"namespace"`
			ServiceName string            `json:"serviceName"`
			GroupName   string            `json:"groupName"`
			ServiceInfo json.RawMessage   `json:"serviceInfo"`
		}
		if err := json.Unmarshal(body, &got); err != nil {
			t.Fatal(err)
		}
		if got.Headers == nil || got.RequestID == nil || *got.RequestID != "12345" || got.Module != "naming" ||
			got.Namespace != svc.Namespace || got.ServiceName != svc.Name || got.GroupName != svc.Group ||
			string(got.ServiceInfo) != string(info) {
			t.Fatalf("decoded %+v from %s", got, body)
		}
	}
}

// sharedTarget records the shared part and the tail of each push.
type sharedTarget struct {
	id string

	mu     sync.Mutex
	shared [][]byte
	tails  []string
}

func (s *sharedTarget) ID() string { return s.id }

func (s *sharedTarget) Request(context.Context, string, string, []byte) error {
	panic("a SharedTarget gets pushes through RequestShared")
}

func (s *sharedTarget) RequestShared(_ context.Context, typ, id string, shared, tail []byte) error {
	var n notification
	body := append(append([]byte(nil), shared...), tail...)
	if err := json.Unmarshal(body, &n); err != nil || typ != TypeNotifySubscriberRequest || n.RequestID == nil || *n.RequestID != id {
		panic("bad push body: " + string(body))
	}
	s.mu.Lock()
	s.shared = append(s.shared, shared)
	s.tails = append(s.tails, string(tail))
	s.mu.Unlock()
	return nil
}

func (s *sharedTarget) got() ([][]byte, []string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([][]byte(nil), s.shared...), append([]string(nil), s.tails...)
}

// One change fanned out to many subscribers of one view is built once:
// every subscriber gets the same shared bytes and its own requestId.
func TestEngine_SharesOneBodyAmongSubscribersOfAView(t *testing.T) {
	e := newEnv(t, Options{})
	targets := make([]*sharedTarget, 50)
	for i := range targets {
		targets[i] = &sharedTarget{id: fmt.Sprint("c", i)}
		e.eng.Subscribe(targets[i], svcA, "")
	}
	e.publish(t, "x", svcA, inst("10.0.0.1", 1, ""))
	waitFor(t, "every subscriber pushed", func() bool {
		for _, tg := range targets {
			if sh, _ := tg.got(); len(sh) == 0 {
				return false
			}
		}
		return true
	})
	if n := testutil.ToFloat64(e.eng.m.built); n != 1 {
		t.Fatalf("%v push bodies built for one change and 50 subscribers", n)
	}
	first, _ := targets[0].got()
	ids := map[string]bool{}
	for _, tg := range targets {
		sh, tails := tg.got()
		if len(sh) != 1 || &sh[0][0] != &first[0][0] {
			t.Fatalf("target %s: %d pushes, shared body not the one built", tg.id, len(sh))
		}
		if ids[tails[0]] {
			t.Fatalf("requestId tail %q pushed twice", tails[0])
		}
		ids[tails[0]] = true
	}
}

// A plain Target (no RequestShared) still gets the whole body.
func TestEngine_PlainTargetsGetTheJoinedBody(t *testing.T) {
	e := newEnv(t, Options{})
	f := &fakeTarget{id: "plain"}
	e.eng.Subscribe(f, svcA, "")
	e.publish(t, "x", svcA, inst("10.0.0.1", 1, ""))
	waitFor(t, "a push", func() bool { return len(f.pushes()) == 1 })
	if p := f.pushes()[0]; len(p.ServiceInfo.Hosts) != 1 || p.ServiceInfo.Hosts[0].IP != "10.0.0.1" {
		t.Fatalf("push %+v", p)
	}
}
