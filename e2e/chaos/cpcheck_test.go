package chaos

import (
	"cmp"
	"fmt"
	"maps"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/anishathalye/porcupine"
)

// The control plane check: the CP clients' operations form a history of
// registers, one per CPKeys key (a namespace's description, a persistent
// instance's metadata, its override's metadata), that must be
// linearizable. It is judged with porcupine once the run is over.

// cpInput is one register operation: a create (sets CPInit when the
// namespace does not exist), a write (sets Val; a namespace's only when it
// exists) or a read.
type cpInput struct {
	Op, Key, Val string
}

// cpOutput is its outcome: OK an acknowledged create or write (a write
// without acknowledgement may or may not have happened, and may still
// happen: its return is left open), Val what a read saw ("" absent).
type cpOutput struct {
	OK  bool
	Val string
}

// cpModel is a register per key whose state is its value, "" while the
// namespace, instance or override does not exist.
var cpModel = porcupine.Model{
	Partition: func(h []porcupine.Operation) [][]porcupine.Operation {
		by := map[string][]porcupine.Operation{}
		for _, op := range h {
			k := op.Input.(cpInput).Key
			by[k] = append(by[k], op)
		}
		var out [][]porcupine.Operation
		for _, k := range slices.Sorted(maps.Keys(by)) {
			out = append(out, by[k])
		}
		return out
	},
	Init: func() any { return "" },
	Step: func(state, input, output any) (bool, any) {
		s, in, out := state.(string), input.(cpInput), output.(cpOutput)
		switch in.Op {
		case OpCPCreate:
			if s != "" {
				// Refused: it exists. An acknowledged create cannot be.
				return !out.OK, s
			}
			return true, in.Val
		case OpCPWrite:
			if s == "" && slices.Contains(CPNamespaces, in.Key) {
				// Refused: it does not exist.
				return !out.OK, s
			}
			return true, in.Val
		default:
			return out.Val == s, s
		}
	},
	DescribeOperation: func(input, output any) string {
		in, out := input.(cpInput), output.(cpOutput)
		switch in.Op {
		case OpCPRead:
			return fmt.Sprintf("read %s -> %q", in.Key, out.Val)
		default:
			ack := "unacknowledged"
			if out.OK {
				ack = "ok"
			}
			return fmt.Sprintf("%s %s %q (%s)", strings.TrimPrefix(in.Op, "cp."), in.Key, in.Val, ack)
		}
	},
	DescribeState: func(state any) string {
		if state.(string) == "" {
			return "(absent)"
		}
		return state.(string)
	},
}

// cpOp is one CP operation of the client: its invocation and its outcome
// (nil while unanswered).
type cpOp struct {
	inv, done *Event
}

// cpStats counts the CP operations for the report.
type cpStats struct {
	writes, writesOK, reads, readsOK, creates, createsOK int
	finalOK                                              map[string]bool
	// last is the time of the latest CP event.
	last time.Time
}

// cpFeed records a CP event; called with c.mu held.
func (c *checker) cpFeed(ev Event) {
	switch ev.Kind {
	case KindCPInvoke:
		e := ev
		c.cpOps[ev.ID] = &cpOp{inv: &e}
		c.cpOrder = append(c.cpOrder, ev.ID)
	case KindCPDone:
		if op := c.cpOps[ev.ID]; op != nil {
			e := ev
			op.done = &e
		}
	case KindCPEnd:
		c.cpEnded = true
		c.timeline = append(c.timeline, c.rel(ts(ev.T))+" the final control plane reads are over")
	}
}

// cpEnd reports whether the client finished its final CP reads.
func (c *checker) cpEnd() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.cpEnded
}

// cpHistory turns the recorded operations into porcupine's history:
// acknowledged creates and writes, unacknowledged ones whose value some
// read saw or that are creates (open-ended: they may take effect any time
// after their invocation), and every key of every read that saw its
// barrier. An unacknowledged write whose value nobody read can always be
// linearized after everything else, so it is left out, as is a write the
// server refused (it had no effect). Called with c.mu
// held.
func (c *checker) cpHistory() ([]porcupine.Operation, cpStats) {
	st := cpStats{finalOK: map[string]bool{}, last: c.start}
	var end int64
	read := map[string]bool{} // key + " " + value seen by a read
	for _, id := range c.cpOrder {
		op := c.cpOps[id]
		end = max(end, op.inv.T)
		if op.done != nil {
			end = max(end, op.done.T)
			if op.inv.Op == OpCPRead && op.done.OK {
				for k, v := range op.done.Vals {
					read[k+" "+v] = true
				}
			}
		}
	}
	if end > 0 {
		st.last = ts(end)
	}
	end++
	clients := map[string]int{}
	clientID := func(name string) int {
		if _, ok := clients[name]; !ok {
			clients[name] = len(clients)
		}
		return clients[name]
	}
	var h []porcupine.Operation
	for _, id := range c.cpOrder {
		op := c.cpOps[id]
		inv, ok := op.inv, op.done != nil && op.done.OK
		ret := end
		if ok {
			ret = op.done.T
		}
		switch inv.Op {
		case OpCPCreate, OpCPWrite:
			if inv.Op == OpCPCreate {
				st.creates++
				if ok {
					st.createsOK++
				}
			} else {
				st.writes++
				if ok {
					st.writesOK++
				}
				if !ok && (!read[inv.Key+" "+inv.Val] || op.done != nil && op.done.Refused) {
					continue
				}
			}
			h = append(h, porcupine.Operation{ClientId: clientID(inv.Client), Input: cpInput{Op: inv.Op, Key: inv.Key, Val: inv.Val},
				Call: inv.T, Output: cpOutput{OK: ok}, Return: ret, Metadata: fmt.Sprintf("op %d of %s via %s", inv.ID, inv.Client, inv.Node)})
		case OpCPRead:
			if inv.Final {
				if ok {
					st.finalOK[inv.Node] = true
				}
			} else {
				st.reads++
				if ok {
					st.readsOK++
				}
			}
			if !ok {
				continue
			}
			who, what := inv.Client, "read"
			if inv.Final {
				who, what = who+" "+inv.Node, "final read"
			}
			for _, k := range CPKeys {
				h = append(h, porcupine.Operation{ClientId: clientID(who), Input: cpInput{Op: OpCPRead, Key: k},
					Call: inv.T, Output: cpOutput{Val: op.done.Vals[k]}, Return: ret, Metadata: fmt.Sprintf("op %d, %s of %s via %s", inv.ID, what, inv.Client, inv.Node)})
			}
		}
	}
	return h, st
}

// checkCP judges the CP history with porcupine: a non-linearizable key is
// a "CP" violation, as is a node without a final read or a client that did
// not finish its final reads. With visualize set, porcupine's HTML view of
// the history goes to visualize. It returns a summary for the report.
func (c *checker) checkCP(visualize string, timeout time.Duration) string {
	c.mu.Lock()
	defer c.mu.Unlock()
	h, st := c.cpHistory()
	now := st.last
	if !c.cpEnded {
		c.report("CP", now, "", "", "the client did not finish its final control plane reads (every node, after the quiet period began)")
	} else {
		for _, n := range c.order {
			if !st.finalOK[n] {
				c.report("CP", now, n, "", "no final control plane read of %s saw its barrier: the node did not catch up with the committed writes after the faults stopped", n)
			}
		}
	}
	res, info := porcupine.CheckOperationsVerbose(cpModel, h, timeout)
	vis := ""
	if visualize != "" {
		if err := porcupine.VisualizePath(cpModel, info, visualize); err == nil {
			vis = "; porcupine's view: " + visualize
		}
	}
	if res == porcupine.Illegal {
		for _, part := range cpModel.Partition(h) {
			if porcupine.CheckOperations(cpModel, part) {
				continue
			}
			key := part[0].Input.(cpInput).Key
			c.report("CP", now, "", "", "the history of %s is not linearizable: an acknowledged write was lost or reordered, or a read saw a value it could not%s\n%s",
				key, vis, c.cpDescribe(part))
		}
	}
	summary := fmt.Sprintf("control plane: %d writes (%d acknowledged, %d not), %d reads (%d saw their barrier, %d not), %d creates (%d acknowledged), final reads from %d of %d nodes; porcupine: %s over %d operations%s",
		st.writes, st.writesOK, st.writes-st.writesOK, st.reads, st.readsOK, st.reads-st.readsOK, st.creates, st.createsOK,
		len(st.finalOK), len(c.order), res, len(h), vis)
	return summary
}

// cpDescribe renders one key's history, by invocation, for the report.
func (c *checker) cpDescribe(part []porcupine.Operation) string {
	ops := slices.Clone(part)
	slices.SortStableFunc(ops, func(a, b porcupine.Operation) int { return cmp.Compare(a.Call, b.Call) })
	var b strings.Builder
	const most = 60
	if len(ops) > most {
		fmt.Fprintf(&b, "    (the last %d of %d operations)\n", most, len(ops))
		ops = ops[len(ops)-most:]
	}
	for _, op := range ops {
		ret := c.rel(ts(op.Return))
		if op.Input.(cpInput).Op != OpCPRead && !op.Output.(cpOutput).OK {
			ret = "(open: unacknowledged)"
		}
		fmt.Fprintf(&b, "      %s .. %s %s (%v)\n", c.rel(ts(op.Call)), ret, cpModel.DescribeOperation(op.Input, op.Output), op.Metadata)
	}
	return b.String()
}

// cpVisualizePath is where checkCP writes porcupine's view under dir.
func cpVisualizePath(dir string) string { return filepath.Join(dir, "cp-linearizability.html") }
