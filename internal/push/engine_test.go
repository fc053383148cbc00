package push

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net"
	"net/netip"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/distrod/distrod/internal/api/nacoswire"
	"github.com/distrod/distrod/internal/hlc"
	"github.com/distrod/distrod/internal/naming"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
)

// fakeTarget records pushes; fail makes the first N requests fail.
type fakeTarget struct {
	id     string
	fail   atomic.Int32
	closed atomic.Bool
	block  bool

	mu    sync.Mutex
	got   []notification
	tries int
}

type notification struct {
	RequestID   *string               `json:"requestId"`
	Module      string                `json:"module"`
	ServiceInfo nacoswire.ServiceInfo `json:"serviceInfo"`
}

func (f *fakeTarget) ID() string { return f.id }

func (f *fakeTarget) Request(ctx context.Context, typ, id string, body []byte) error {
	f.mu.Lock()
	f.tries++
	f.mu.Unlock()
	if f.closed.Load() {
		return ErrTargetClosed
	}
	if f.block {
		<-ctx.Done()
		return ctx.Err()
	}
	if f.fail.Add(-1) >= 0 {
		return errors.New("no ack")
	}
	var n notification
	if err := json.Unmarshal(body, &n); err != nil || typ != TypeNotifySubscriberRequest || n.RequestID == nil || *n.RequestID != id {
		panic("bad push body: " + string(body))
	}
	f.mu.Lock()
	f.got = append(f.got, n)
	f.mu.Unlock()
	return nil
}

func (f *fakeTarget) pushes() []notification {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]notification(nil), f.got...)
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(2 * time.Millisecond)
	}
}

type env struct {
	store *naming.Store
	eng   *Engine
	reg   *prometheus.Registry
}

func newEnv(t *testing.T, o Options) *env {
	t.Helper()
	store := naming.NewStore("n1", hlc.NewClock("n1"))
	reg := prometheus.NewRegistry()
	o.Store, o.Registry = store, reg
	if o.UDPAddr == "" {
		o.UDPAddr = "127.0.0.1:0"
	}
	eng := New(o)
	store.OnChange(eng.OnChange)
	if err := eng.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(eng.Stop)
	return &env{store: store, eng: eng, reg: reg}
}

func inst(ip string, port int, cluster string) naming.Instance {
	return naming.Instance{IP: ip, Port: port, Weight: 1, Healthy: true, Enabled: true, Ephemeral: true, ClusterName: cluster}
}

func (e *env) publish(t *testing.T, client string, svc naming.ServiceKey, ins ...naming.Instance) {
	t.Helper()
	if err := e.store.Publish(time.Now().UnixMilli(), client, svc, naming.Publication{Batch: len(ins) > 1, Instances: ins}); err != nil {
		t.Fatal(err)
	}
}

var svcA = naming.NewServiceKey("", "", "a")

func TestEngine_MergesRapidChangesIntoOnePush(t *testing.T) {
	e := newEnv(t, Options{Delay: 100 * time.Millisecond})
	f := &fakeTarget{id: "c1"}
	e.eng.Subscribe(f, svcA, "")
	for i := range 10 {
		e.publish(t, "client"+string(rune('a'+i)), svcA, inst("10.0.0.1", 100+i, ""))
	}
	waitFor(t, "a push with all 10 hosts", func() bool {
		p := f.pushes()
		return len(p) > 0 && len(p[len(p)-1].ServiceInfo.Hosts) == 10
	})
	if n := len(f.pushes()); n > 2 {
		t.Fatalf("%d pushes for 10 changes inside one delay", n)
	}
	p := f.pushes()[0]
	if p.Module != "naming" || *p.RequestID == "" || p.ServiceInfo.Name != "a" || p.ServiceInfo.GroupName != naming.DefaultGroup ||
		p.ServiceInfo.CacheMillis != nacoswire.DefaultCacheMillis || !p.ServiceInfo.Valid {
		t.Fatalf("push %+v", p)
	}
}

func TestEngine_FiltersBySubscriberClustersAndHidesDisabled(t *testing.T) {
	e := newEnv(t, Options{})
	all, c1 := &fakeTarget{id: "all"}, &fakeTarget{id: "c1"}
	e.eng.Subscribe(all, svcA, "")
	e.eng.Subscribe(c1, svcA, "c1")
	off := inst("10.0.0.9", 9, "c1")
	off.Enabled = false
	e.publish(t, "x", svcA, inst("10.0.0.1", 1, "c1"), inst("10.0.0.2", 2, "c2"), off)
	waitFor(t, "both pushed", func() bool { return len(all.pushes()) > 0 && len(c1.pushes()) > 0 })
	if h := all.pushes()[0].ServiceInfo.Hosts; len(h) != 2 {
		t.Fatalf("all-clusters subscriber got %+v", h)
	}
	si := c1.pushes()[0].ServiceInfo
	if si.Clusters != "c1" || len(si.Hosts) != 1 || si.Hosts[0].IP != "10.0.0.1" || si.Hosts[0].ServiceName != "DEFAULT_GROUP@@a" ||
		si.Hosts[0].InstanceID != "10.0.0.1#1#c1#DEFAULT_GROUP@@a" {
		t.Fatalf("c1 subscriber got %+v", si)
	}
}

func TestEngine_RetriesFailedPushesAndTreatsClosedTargetsAsDone(t *testing.T) {
	e := newEnv(t, Options{RetryDelay: 10 * time.Millisecond, Timeout: time.Second})
	flaky, gone := &fakeTarget{id: "flaky"}, &fakeTarget{id: "gone"}
	flaky.fail.Store(2)
	gone.closed.Store(true)
	e.eng.Subscribe(flaky, svcA, "")
	e.eng.Subscribe(gone, svcA, "")
	e.publish(t, "x", svcA, inst("10.0.0.1", 1, ""))
	waitFor(t, "push after two failures", func() bool { return len(flaky.pushes()) == 1 })
	if f := testutil.ToFloat64(e.eng.m.failed.WithLabelValues("grpc")); f != 2 {
		t.Fatalf("failed = %v, want 2", f)
	}
	if r := testutil.ToFloat64(e.eng.m.retried.WithLabelValues("grpc")); r != 2 {
		t.Fatalf("retried = %v, want 2", r)
	}
	gone.mu.Lock()
	tries := gone.tries
	gone.mu.Unlock()
	if tries != 1 {
		t.Fatalf("closed target tried %d times", tries)
	}
}

func TestEngine_QueueIsBoundedAndMergedForABlockedTarget(t *testing.T) {
	e := newEnv(t, Options{QueueSize: 3, Timeout: time.Hour})
	f := &fakeTarget{id: "stuck", block: true}
	var svcs []naming.ServiceKey
	for _, n := range []string{"s1", "s2", "s3", "s4", "s5", "s6"} {
		k := naming.NewServiceKey("", "", n)
		svcs = append(svcs, k)
		e.eng.Subscribe(f, k, "")
	}
	for round := range 50 {
		for _, k := range svcs {
			e.publish(t, "x", k, inst("10.0.0.1", round+1, ""))
		}
	}
	waitFor(t, "drops counted", func() bool { return testutil.ToFloat64(e.eng.m.dropped.WithLabelValues("queue_full")) > 0 })
	if p := e.eng.Stats().Pending; p > 3 {
		t.Fatalf("pending = %d, want <= QueueSize 3", p)
	}
	e.eng.DropTarget("stuck")
	if st := e.eng.Stats(); st.Pending != 0 || st.Subscriptions != 0 || st.Targets != 0 {
		t.Fatalf("after DropTarget: %+v", st)
	}
}

func TestEngine_UnsubscribeStopsPushes(t *testing.T) {
	e := newEnv(t, Options{})
	f := &fakeTarget{id: "c"}
	e.eng.Subscribe(f, svcA, "")
	e.eng.Subscribe(f, svcA, "") // idempotent
	if subs := e.eng.Subscribers(svcA); len(subs) != 1 || subs[0].Target != "c" {
		t.Fatalf("Subscribers = %+v", subs)
	}
	e.eng.Unsubscribe("c", svcA, "")
	e.publish(t, "x", svcA, inst("10.0.0.1", 1, ""))
	other := &fakeTarget{id: "other"}
	e.eng.Subscribe(other, naming.NewServiceKey("", "", "b"), "")
	e.publish(t, "x", naming.NewServiceKey("", "", "b"), inst("10.0.0.1", 1, ""))
	waitFor(t, "other pushed", func() bool { return len(other.pushes()) == 1 })
	if n := len(f.pushes()); n != 0 {
		t.Fatalf("unsubscribed target got %d pushes", n)
	}
}

func TestUDP_EncodeDatagramGroupsNameGzipsAndRejectsOversize(t *testing.T) {
	si := nacoswire.ServiceInfo{Name: "a", GroupName: "G", Hosts: []nacoswire.Host{{IP: "1.1.1.1", Port: 1}}}.Grouped()
	b, err := EncodeDatagram(si, 42)
	if err != nil {
		t.Fatal(err)
	}
	var d struct {
		Type        string `json:"type"`
		Data        string `json:"data"`
		LastRefTime int64  `json:"lastRefTime"`
	}
	if err := json.Unmarshal(b, &d); err != nil || d.Type != "dom" || d.LastRefTime != 42 || !strings.Contains(d.Data, `"name":"G@@a"`) {
		t.Fatalf("datagram %s: %v", b, err)
	}
	many := si
	for i := range 30 {
		many.Hosts = append(many.Hosts, nacoswire.Host{IP: "10.0.0.1", Port: i, Metadata: map[string]string{"k": "v"}})
	}
	b, err = EncodeDatagram(many, 1)
	if err != nil || !bytes.HasPrefix(b, []byte{0x1f, 0x8b}) || len(b) >= UDPMaxDatagram {
		t.Fatalf("large datagram not gzipped under the limit: %d bytes, %v", len(b), err)
	}
	zr, _ := gzip.NewReader(bytes.NewReader(b))
	if raw, err := io.ReadAll(zr); err != nil || !bytes.Contains(raw, []byte(`"type":"dom"`)) {
		t.Fatalf("gunzip: %v", err)
	}
	huge := si
	for i := range 2000 {
		huge.Hosts = append(huge.Hosts, nacoswire.Host{IP: "10.0.0." + string(rune('0'+i%10)), Port: i * 7919, InstanceID: strings.Repeat("x", i%97)})
	}
	if _, err := EncodeDatagram(huge, 1); !errors.Is(err, ErrDatagramTooLarge) {
		t.Fatalf("oversize: %v", err)
	}
}

func TestUDP_ParseAckAcceptsStringOrNumber(t *testing.T) {
	for _, in := range []string{
		`{"type":"push-ack","lastRefTime":"123","data":""}`,
		`{"type":"push-ack","lastRefTime":123,"data":""}`,
	} {
		if n, err := ParseAck([]byte(in)); err != nil || n != 123 {
			t.Errorf("ParseAck(%s) = %d, %v", in, n, err)
		}
	}
	for _, in := range []string{`{}`, `{"lastRefTime":"x"}`, `nope`, `{"lastRefTime":true}`} {
		if _, err := ParseAck([]byte(in)); err == nil {
			t.Errorf("ParseAck(%s) accepted", in)
		}
	}
}

func TestEngine_UDPSubscriptionExpiresUnlessRenewed(t *testing.T) {
	var now atomic.Int64
	now.Store(time.Now().UnixMilli())
	clock := func() time.Time { return time.UnixMilli(now.Load()) }
	e := newEnv(t, Options{Now: clock, UDPIdle: 30 * time.Second})
	addr := netip.MustParseAddrPort("127.0.0.1:55000")
	e.eng.SubscribeUDP(svcA, "", addr, "Nacos-Go-Client:v1.0.1")
	now.Add(29_000)
	e.eng.expireUDP(clock())
	e.eng.SubscribeUDP(svcA, "", addr, "Nacos-Go-Client:v1.0.1") // the client's poll renews it
	now.Add(29_000)
	e.eng.expireUDP(clock())
	subs := e.eng.Subscribers(svcA)
	if len(subs) != 1 || subs[0].UDP != addr || subs[0].UserAgent != "Nacos-Go-Client:v1.0.1" {
		t.Fatalf("renewed subscription lost: %+v", subs)
	}
	now.Add(30_000)
	e.eng.expireUDP(clock())
	if subs := e.eng.Subscribers(svcA); len(subs) != 0 {
		t.Fatalf("idle subscription kept: %+v", subs)
	}
}

func TestEngine_UDPPushResendsOnceAfterTimeout(t *testing.T) {
	e := newEnv(t, Options{Timeout: 100 * time.Millisecond})
	pc, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	defer pc.Close()
	got := make(chan int64, 10)
	go func() {
		buf := make([]byte, UDPMaxDatagram)
		for i := 0; ; i++ {
			n, from, err := pc.ReadFromUDP(buf)
			if err != nil {
				return
			}
			var d udpPush
			if json.Unmarshal(buf[:n], &d) != nil {
				continue
			}
			got <- d.LastRefTime
			if i == 0 {
				continue // lose the first ack
			}
			pc.WriteToUDP([]byte(`{"type":"push-ack","lastRefTime":"`+itoa(d.LastRefTime)+`","data":""}`), from)
		}
	}()
	e.eng.SubscribeUDP(svcA, "", pc.LocalAddr().(*net.UDPAddr).AddrPort(), "test")
	e.publish(t, "x", svcA, inst("10.0.0.1", 1, ""))
	waitFor(t, "UDP push acked", func() bool { return testutil.ToFloat64(e.eng.m.sent.WithLabelValues("udp")) == 1 })
	if r := testutil.ToFloat64(e.eng.m.retried.WithLabelValues("udp")); r != 1 {
		t.Fatalf("udp retried = %v", r)
	}
	a, b := <-got, <-got
	if a != b {
		t.Fatalf("resend changed lastRefTime: %d vs %d", a, b)
	}
}

func itoa(n int64) string { b, _ := json.Marshal(n); return string(b) }
