package server

import (
	"context"
	"log/slog"
	"strconv"
	"testing"
	"testing/synctest"
	"time"

	"github.com/distrod/distrod/internal/config"
	"github.com/distrod/distrod/internal/hlc"
	"github.com/distrod/distrod/internal/naming"
	"github.com/distrod/distrod/internal/transport"
)

// memClusterNode is one cluster loop on a memNet, without the APIs.
type memClusterNode struct {
	addr  string
	c     *cluster
	store *naming.Store
}

// runMemLoops builds n cluster loops joined by a memNet and runs them
// until ctx ends. Inside a synctest bubble everything they start is in
// the bubble, so the test fails if any goroutine outlives them.
func runMemLoops(t *testing.T, ctx context.Context, n int) []*memClusterNode {
	t.Helper()
	mn := newMemNet()
	members := make([]string, n)
	for i := range members {
		members[i] = "10.77.0." + strconv.Itoa(i+1) + ":8848"
	}
	nodes := make([]*memClusterNode, n)
	for i, addr := range members {
		cfg := config.DefaultConfig()
		cfg.Mode, cfg.IP, cfg.Members, cfg.ClusterSecret = config.ModeCluster, "10.77.0."+strconv.Itoa(i+1), members, "s"
		if err := cfg.Normalize(); err != nil {
			t.Fatal(err)
		}
		opts, err := optionsFor(cfg)
		if err != nil {
			t.Fatal(err)
		}
		store := naming.NewStore(addr, hlc.NewClock(addr))
		c, _, err := newCluster(cfg, opts, slog.New(slog.DiscardHandler), store, mn.link,
			func(context.Context, transport.ForwardRequest) (transport.ForwardResponse, error) {
				return transport.ForwardResponse{}, nil
			})
		if err != nil {
			t.Fatal(err)
		}
		nodes[i] = &memClusterNode{addr: addr, c: c, store: store}
		go c.run(ctx)
	}
	return nodes
}

// TestCluster_LoopsReplicateAndJoinEveryGoroutine runs three cluster loops
// on virtual time: a write on its owner reaches the others within the
// sync delay, and once the context ends every goroutine the loops started
// (member watch, probes, the network's deliveries) has returned, or
// synctest reports it.
func TestCluster_LoopsReplicateAndJoinEveryGoroutine(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ctx, cancel := context.WithCancel(t.Context())
		nodes := runMemLoops(t, ctx, 3)
		// Virtual time: the snapshot load and the first probes settle.
		time.Sleep(2 * time.Second)
		for _, nd := range nodes {
			if !nd.c.Ready() {
				t.Fatalf("%s not ready after 2s", nd.addr)
			}
		}
		ip, port := "10.66.0.9", 8080
		owner, _ := nodes[0].c.Route(ip + ":" + strconv.Itoa(port))
		var on *memClusterNode
		for _, nd := range nodes {
			if nd.addr == owner {
				on = nd
			}
		}
		if on == nil {
			t.Fatalf("owner %q of the instance is no node", owner)
		}
		svc := naming.NewServiceKey("", "", "loops")
		client := naming.IPPortClientID(ip, port)
		pub := naming.Publication{Instances: []naming.Instance{{IP: ip, Port: port, Weight: 1, Healthy: true, Enabled: true, Ephemeral: true}}}
		if err := on.store.Publish(time.Now().UnixMilli(), client, svc, pub); err != nil {
			t.Fatal(err)
		}
		time.Sleep(100 * time.Millisecond)
		key := naming.PubKey(client, svc)
		for _, nd := range nodes {
			if r, ok := nd.store.Get(key); !ok || r.Owner != owner {
				t.Errorf("%s holds %+v %v 100ms after the write, want the owner's record", nd.addr, r, ok)
			}
		}

		// Shutdown: the loops stop, and flushFor on a stopped loop returns
		// at once instead of waiting out its bound.
		cancel()
		for _, nd := range nodes {
			<-nd.c.done
		}
		start := time.Now()
		nodes[0].c.flushFor(time.Minute)
		nodes[0].c.onMessage(context.Background(), nodes[1].addr, nil) // returns: the loop stopped
		if d := time.Since(start); d != 0 {
			t.Errorf("flushFor on a stopped loop took %v", d)
		}
	})
}

func TestCluster_OnMessageGivesUpWhenItsStreamEnds(t *testing.T) {
	// A full inbox and a running loop: only the delivering stream's end
	// can release the handler.
	c := &cluster{inbox: make(chan event), stopping: make(chan struct{})}
	ctx, cancel := context.WithCancel(context.Background())
	returned := make(chan struct{})
	go func() {
		c.onMessage(ctx, "127.0.0.1:8848", nil)
		close(returned)
	}()
	select {
	case <-returned:
		t.Fatal("onMessage returned while the inbox was full and its stream alive")
	case <-time.After(50 * time.Millisecond):
	}
	cancel()
	select {
	case <-returned:
	case <-time.After(5 * time.Second):
		t.Fatal("onMessage still blocked after its stream's context ended")
	}
	select {
	case <-c.inbox:
		t.Fatal("a message of an ended stream was queued")
	default:
	}
}
