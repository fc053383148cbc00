package server

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"
	"unicode"

	"github.com/distrod/distrod/internal/bench"
	"github.com/distrod/distrod/internal/naming"
	"github.com/distrod/distrod/internal/testutil"
)

// startMemCluster runs n cluster nodes in this process, joined by an
// in-memory cluster network instead of the gRPC transport, and waits until
// all are ready. Their HTTP and SDK gRPC ports are real loopback sockets.
func startMemCluster(t *testing.T, n int) ([]*testNode, *memNet) {
	t.Helper()
	mn := newMemNet()
	ports, members := clusterPorts(t, n)
	nodes := make([]*testNode, n)
	for i := range nodes {
		cfg := clusterConfig(t, ports[i], members)
		if err := cfg.Normalize(); err != nil {
			t.Fatal(err)
		}
		srv, err := newServer(cfg, slog.New(slog.DiscardHandler), mn.link)
		if err != nil {
			t.Fatal(err)
		}
		nodes[i] = serveNode(t, srv, ports[i], "http", http.DefaultClient)
	}
	for _, nd := range nodes {
		waitNodeReady(t, nd)
	}
	return nodes, mn
}

// TestInProcessCluster_WriteReplicatesAndPushes follows one HTTP write
// through a 3-node cluster in one process: registered on B, forwarded to
// its owner A, replicated to C, pushed to a gRPC subscriber of C.
func TestInProcessCluster_WriteReplicatesAndPushes(t *testing.T) {
	nodes, mn := startMemCluster(t, 3)
	b := nodes[0]
	// Pick an instance address B does not own, once every node agrees on
	// its owner; the owner is A, the remaining node C.
	var a, c *testNode
	ip, port := "10.66.0.1", 0
	testutil.Eventually(t, 10*time.Second, "an instance owned by another node, on every ring", func() error {
		for p := 1; p < 200; p++ {
			tag := ip + ":" + strconv.Itoa(p)
			owner, local := b.srv.cluster.Route(tag)
			if local {
				continue
			}
			for _, nd := range nodes {
				if o, _ := nd.srv.cluster.Route(tag); o != owner {
					return fmt.Errorf("%s sees owner %s of %s, B sees %s", nd.addr(), o, tag, owner)
				}
			}
			port = p
			for _, nd := range nodes {
				switch nd.addr() {
				case owner:
					a = nd
				case b.addr():
				default:
					c = nd
				}
			}
			return nil
		}
		return fmt.Errorf("B owns every candidate")
	})

	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	const service = "inproc-svc"
	pushes := make(chan bench.Push, 16)
	sub, err := bench.DialGRPC(ctx, c.addr(), bench.GRPCOptions{SetupWait: -1, HealthInterval: -1,
		OnPush: func(p bench.Push) {
			select {
			case pushes <- p:
			default:
			}
		}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = sub.Close() })
	// The server registers a connection just after its setup request: the
	// SDK waits 100ms, we retry instead.
	testutil.Eventually(t, 10*time.Second, "subscribed on C", func() error {
		info, err := sub.Subscribe(ctx, "", service)
		if err == nil && len(info.Hosts) != 0 {
			t.Fatalf("subscribe on C: hosts before any write: %+v", info)
		}
		return err
	})

	q := url.Values{"serviceName": {service}, "ip": {ip}, "port": {strconv.Itoa(port)}, "ephemeral": {"true"}}
	if code, body := body(t, "POST", b.base+"/nacos/v1/ns/instance?"+q.Encode()); code != 200 || strings.TrimSpace(body) != "ok" {
		t.Fatalf("register on B: %d %s", code, body)
	}
	if n := mn.Forwards(b.addr(), a.addr()); n != 1 {
		t.Fatalf("B forwarded %d writes to the owner A, want 1", n)
	}
	key := naming.PubKey(naming.IPPortClientID(ip, port), naming.NewServiceKey("", "", service))
	if r, ok := a.srv.store.Get(key); !ok || r.Owner != a.addr() {
		t.Fatalf("A's record %s: %+v %v, want it written by A", key, r, ok)
	}
	if _, ok := b.srv.store.Get(key); !ok {
		t.Fatalf("B does not hold %s after the forwarded write returned", key)
	}

	for {
		select {
		case p := <-pushes:
			for _, h := range p.Info.Hosts {
				if h.IP == ip && h.Port == uint64(port) {
					if r, ok := c.srv.store.Get(key); !ok || r.Owner != a.addr() {
						t.Fatalf("C pushed without A's record: %+v %v", r, ok)
					}
					return
				}
			}
		case <-ctx.Done():
			t.Fatal("C's subscriber got no push with the instance registered on B")
		}
	}
}

// TestStatus_ClusterJSONIsTyped checks /distrod/status's format in
// cluster mode: camelCase keys throughout, states as words, durations in
// milliseconds.
func TestStatus_ClusterJSONIsTyped(t *testing.T) {
	nodes, _ := startMemCluster(t, 2)
	code, b := body(t, "GET", nodes[0].base+"/distrod/status")
	if code != 200 {
		t.Fatalf("status: %d %s", code, b)
	}
	var raw map[string]any
	if err := json.Unmarshal([]byte(b), &raw); err != nil {
		t.Fatal(err)
	}
	var walk func(path string, v any)
	walk = func(path string, v any) {
		switch x := v.(type) {
		case map[string]any:
			for k, e := range x { // order-independent: each key checked alone
				if k == "" || unicode.IsUpper(rune(k[0])) {
					t.Errorf("%s: key %q is not camelCase", path, k)
				}
				walk(path+"."+k, e)
			}
		case []any:
			for i, e := range x {
				walk(path+"["+strconv.Itoa(i)+"]", e)
			}
		}
	}
	walk("status", raw)

	var st NodeStatus
	if err := json.Unmarshal([]byte(b), &st); err != nil {
		t.Fatal(err)
	}
	d := st.Distro
	if d == nil || len(d.Peers) != 1 || d.Peers[0].Address != nodes[1].addr() || d.ReadyAt == "" || !d.Snapshot.Started {
		t.Fatalf("distro status: %s", b)
	}
	if s := d.Peers[0].State; s != "UP" && s != "SUSPICIOUS" {
		t.Errorf("peer state %q, want a word", s)
	}
	if _, err := time.Parse(time.RFC3339Nano, d.ReadyAt); err != nil {
		t.Errorf("readyAt: %v", err)
	}
	peer := raw["distro"].(map[string]any)["peers"].([]any)[0].(map[string]any)
	for _, k := range []string{"oldestPendingMs", "backoffMs", "pending", "snapshot"} {
		if _, ok := peer[k]; !ok {
			t.Errorf("peer status lacks %q: %v", k, peer)
		}
	}
}
