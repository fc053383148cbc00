package distro_test

import (
	"math/rand/v2"
	"testing"
	"time"

	"github.com/distrod/distrod/internal/distro"
	"github.com/distrod/distrod/internal/distro/distrotest"
	"github.com/distrod/distrod/internal/hlc"
)

var t0 = time.Unix(1_700_000_000, 0).UTC()

func ms(n int) time.Time { return t0.Add(time.Duration(n) * time.Millisecond) }

// ver builds a version with a given clock; node breaks ties.
func ver(clock uint64) hlc.Version { return hlc.Version{Clock: clock, Node: 1} }

type tnode struct {
	addr  string
	node  *distro.Node
	store *distrotest.MemStore
}

// tnet is a tiny synchronous cluster for unit tests: Pump delivers every
// queued message immediately, unless drop says otherwise.
type tnet struct {
	t     *testing.T
	nodes map[string]*tnode
	order []string
	drop  func(from, to string, m distro.Message) bool
	sent  []distro.Envelope // everything sent, for assertions
}

func newNet(t *testing.T, mut func(*distro.Config), addrs ...string) *tnet {
	t.Helper()
	nw := &tnet{t: t, nodes: map[string]*tnode{}, order: addrs}
	for i, a := range addrs {
		cfg := distro.DefaultConfig(a)
		if mut != nil {
			mut(&cfg)
		}
		st := distrotest.NewMemStore()
		n, err := distro.New(cfg, st, rand.New(rand.NewPCG(uint64(i), 99)))
		if err != nil {
			t.Fatal(err)
		}
		nw.nodes[a] = &tnode{addr: a, node: n, store: st}
	}
	return nw
}

func (nw *tnet) members(down ...string) []distro.Member {
	var out []distro.Member
	for _, a := range nw.order {
		st := distro.StateUp
		for _, d := range down {
			if d == a {
				st = distro.StateDown
			}
		}
		out = append(out, distro.Member{Addr: a, State: st})
	}
	return out
}

// setMembers gives every node the same view.
func (nw *tnet) setMembers(now time.Time, down ...string) {
	for _, a := range nw.order {
		nw.nodes[a].node.SetMembers(now, nw.members(down...))
	}
}

// observe feeds storage changes to Observe, as the shell does.
func (x *tnode) observe(now time.Time) {
	for _, m := range x.store.TakeChanges() {
		x.node.Observe(now, m)
	}
}

// write is an owner write on x.
func (x *tnode) write(now time.Time, key, tag string, v hlc.Version, tomb bool) {
	x.writeAs(now, x.addr, key, tag, v, tomb)
}

// writeAs stores a record that owner wrote as if x had learned it (from a
// peer that is gone since) and lets x observe it.
func (x *tnode) writeAs(now time.Time, owner, key, tag string, v hlc.Version, tomb bool) {
	r := distro.Record{Key: key, Version: v, Owner: owner, Tag: tag, Tombstone: tomb}
	if !tomb {
		r.Data = []byte(key + "@" + v.String())
	}
	x.store.Put(r)
	x.observe(now)
}

// pump delivers messages until every outbox is empty.
func (nw *tnet) pump(now time.Time) {
	for round := 0; ; round++ {
		if round > 1000 {
			nw.t.Fatal("pump: message storm")
		}
		moved := false
		for _, a := range nw.order {
			x := nw.nodes[a]
			x.observe(now)
			for _, env := range x.node.Outbox() {
				moved = true
				nw.sent = append(nw.sent, env)
				dst := nw.nodes[env.To]
				if dst == nil || (nw.drop != nil && nw.drop(a, env.To, env.Msg)) {
					continue
				}
				dst.node.Step(now, a, env.Msg)
				dst.observe(now)
			}
		}
		if !moved {
			return
		}
	}
}

// tick ticks every node then pumps.
func (nw *tnet) tick(now time.Time) {
	for _, a := range nw.order {
		nw.nodes[a].node.Tick(now)
	}
	nw.pump(now)
}

// run ticks every step from 'from' to 'to' (inclusive).
func (nw *tnet) run(from, to time.Time, step time.Duration) {
	for now := from; !now.After(to); now = now.Add(step) {
		nw.tick(now)
	}
}

func (nw *tnet) count(typ distro.MsgType) int {
	c := 0
	for _, e := range nw.sent {
		if e.Msg.Type() == typ {
			c++
		}
	}
	return c
}

func get(t *testing.T, x *tnode, key string) (distro.Record, bool) {
	t.Helper()
	return x.store.Get(key)
}
