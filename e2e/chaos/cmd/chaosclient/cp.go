package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/distrod/distrod/e2e/chaos"
)

// The control plane workload. Every CP client writes the description of a
// random chaos.CPKeys namespace through a random node, or reads them all.
// Nodes serve control plane reads from their locally applied state, which
// may lag the leader, so a plain read is not linearizable; a read here is
// a barrier write of a fresh value to the client's own namespace through
// the node, acknowledged (so committed), followed by reads of the node's
// namespace list until it shows the barrier value: the state it then
// shows includes every write committed before the read began.

// cpHTTP runs one control plane request and returns the status and body.
func cpHTTP(ctx context.Context, hc *http.Client, method, node, path string, q url.Values) (int, string, error) {
	req, err := http.NewRequestWithContext(ctx, method, "http://"+node+path+"?"+q.Encode(), nil)
	if err != nil {
		return 0, "", err
	}
	resp, err := hc.Do(req)
	if err != nil {
		return 0, "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	return resp.StatusCode, strings.TrimSpace(string(b)), err
}

const nsPath = "/nacos/v1/console/namespaces"

// cpSetNamespace sets namespace id's description through node; it reports
// an acknowledgement ("true") and the answer.
func cpSetNamespace(ctx context.Context, hc *http.Client, node, id, desc string) (bool, string) {
	code, body, err := cpHTTP(ctx, hc, http.MethodPut, node, nsPath,
		url.Values{"namespace": {id}, "namespaceShowName": {id}, "namespaceDesc": {desc}})
	if err != nil {
		return false, err.Error()
	}
	return code == http.StatusOK && body == "true", fmt.Sprintf("%d %s", code, clipStr(body, 200))
}

// cpList reads node's namespace list: id to description.
func cpList(ctx context.Context, hc *http.Client, node string) (map[string]string, error) {
	code, body, err := cpHTTP(ctx, hc, http.MethodGet, node, nsPath, url.Values{})
	if err != nil {
		return nil, err
	}
	if code != http.StatusOK {
		return nil, fmt.Errorf("list: %d %s", code, clipStr(body, 200))
	}
	var r struct {
		Data []struct {
			Namespace     string `json:"namespace"`
			NamespaceDesc string `json:"namespaceDesc"`
		} `json:"data"`
	}
	if err := json.Unmarshal([]byte(body), &r); err != nil {
		return nil, fmt.Errorf("list: %w", err)
	}
	m := map[string]string{}
	for _, ns := range r.Data {
		m[ns.Namespace] = ns.NamespaceDesc
	}
	return m, nil
}

func clipStr(s string, n int) string {
	if len(s) > n {
		return s[:n] + "…"
	}
	return s
}

// cpWorkload is the control plane part of the client process.
type cpWorkload struct {
	o  options
	em *emitter
	hc *http.Client
}

// record runs one operation between its invoke and done events.
func (w *cpWorkload) record(inv chaos.Event, fn func(*chaos.Event)) bool {
	inv.Kind, inv.T, inv.ID = chaos.KindCPInvoke, now(), w.em.ids.Add(1)
	w.em.emit(inv)
	done := inv
	done.Kind = chaos.KindCPDone
	fn(&done)
	done.T = now()
	w.em.emit(done)
	return done.OK
}

// create makes every CPKeys namespace and the barrier namespaces exist,
// through random nodes, until done or ctx ends.
func (w *cpWorkload) create(ctx context.Context, rnd *rand.Rand, barriers []string) bool {
	for _, id := range append(slices.Clone(chaos.CPKeys), barriers...) {
		for {
			if ctx.Err() != nil {
				return false
			}
			node := w.o.nodes[rnd.IntN(len(w.o.nodes))]
			var answer string
			ok := w.record(chaos.Event{Client: "setup", Op: chaos.OpCPCreate, Node: node, Key: id, Val: chaos.CPInit}, func(d *chaos.Event) {
				rctx, cancel := context.WithTimeout(ctx, w.o.timeout)
				defer cancel()
				code, body, err := cpHTTP(rctx, w.hc, http.MethodPost, node, nsPath,
					url.Values{"customNamespaceId": {id}, "namespaceName": {id}, "namespaceDesc": {chaos.CPInit}})
				switch {
				case err != nil:
					d.Res = err.Error()
				default:
					d.Res, d.OK = fmt.Sprintf("%d %s", code, clipStr(body, 200)), code == http.StatusOK && body == "true"
					answer = body
				}
			})
			if ok {
				break
			}
			if answer == "false" {
				// Refused: it exists already (a retry of a create that
				// landed) if the node lists it.
				rctx, cancel := context.WithTimeout(ctx, w.o.timeout)
				m, err := cpList(rctx, w.hc, node)
				cancel()
				if _, there := m[id]; err == nil && there {
					break
				}
			}
			if !wait(ctx, between(rnd, 200*time.Millisecond, 600*time.Millisecond)) {
				return false
			}
		}
	}
	return true
}

// write sets key's description to val through node.
func (w *cpWorkload) write(ctx context.Context, client, node, key, val string) {
	w.record(chaos.Event{Client: client, Op: chaos.OpCPWrite, Node: node, Key: key, Val: val}, func(d *chaos.Event) {
		rctx, cancel := context.WithTimeout(ctx, w.o.timeout)
		defer cancel()
		d.OK, d.Res = cpSetNamespace(rctx, w.hc, node, key, val)
	})
}

// read is a linearizable read of every CPKeys namespace through node: the
// barrier write of barrierVal to namespace barrier, then the node's list
// until it shows it, all within the client timeout.
func (w *cpWorkload) read(ctx context.Context, client, node, barrier, barrierVal string, final bool) bool {
	return w.record(chaos.Event{Client: client, Op: chaos.OpCPRead, Node: node, Key: barrier, Val: barrierVal, Final: final}, func(d *chaos.Event) {
		rctx, cancel := context.WithTimeout(ctx, w.o.timeout)
		defer cancel()
		ok, res := cpSetNamespace(rctx, w.hc, node, barrier, barrierVal)
		if !ok {
			d.Res = "barrier: " + res
			return
		}
		for {
			m, err := cpList(rctx, w.hc, node)
			if err == nil && m[barrier] == barrierVal {
				d.OK, d.Vals = true, map[string]string{}
				for _, k := range chaos.CPKeys {
					if v, there := m[k]; there {
						d.Vals[k] = v
					}
				}
				return
			}
			if err != nil {
				d.Res = err.Error()
			} else {
				d.Res = "the node did not show the barrier"
			}
			if !wait(rctx, 50*time.Millisecond) {
				return
			}
		}
	})
}

// run drives n CP clients until quiet, then, once they all stopped, reads
// every node (retrying until each answers, within finalBound) and emits
// KindCPEnd.
func (w *cpWorkload) run(ctx context.Context, quiet <-chan struct{}, n int, finalBound time.Duration) {
	setupRnd := rand.New(rand.NewPCG(w.o.seed, 3000))
	var barriers []string
	for i := range n {
		barriers = append(barriers, fmt.Sprintf("%sc%d", chaos.CPBarrierPrefix, i+1))
	}
	for i := range w.o.nodes {
		barriers = append(barriers, fmt.Sprintf("%sfinal-n%d", chaos.CPBarrierPrefix, i+1))
	}
	setupCtx, stopSetup := context.WithCancel(ctx)
	go func() {
		select {
		case <-quiet:
		case <-ctx.Done():
		}
		stopSetup()
	}()
	created := w.create(setupCtx, setupRnd, barriers)
	stopSetup()
	var wg sync.WaitGroup
	if created {
		for i := range n {
			name := fmt.Sprintf("c%d", i+1)
			rnd := rand.New(rand.NewPCG(w.o.seed, uint64(3001+i)))
			wg.Go(func() {
				for seq := 1; ctx.Err() == nil && !quieted(quiet); seq++ {
					node := w.o.nodes[rnd.IntN(len(w.o.nodes))]
					if rnd.IntN(2) == 0 {
						key := chaos.CPKeys[rnd.IntN(len(chaos.CPKeys))]
						w.write(ctx, name, node, key, fmt.Sprintf("%s-w%d", name, seq))
					} else {
						w.read(ctx, name, node, barriers[i], fmt.Sprintf("%s-r%d", name, seq), false)
					}
					if !wait(ctx, between(rnd, 100*time.Millisecond, 400*time.Millisecond)) {
						return
					}
				}
			})
		}
	}
	wg.Wait()
	select {
	case <-quiet:
	case <-ctx.Done():
		return
	}
	// The final reads: every node, after every CP client stopped.
	for i, node := range w.o.nodes {
		wg.Go(func() {
			deadline := time.Now().Add(finalBound)
			for try := 1; ctx.Err() == nil && time.Now().Before(deadline); try++ {
				if w.read(ctx, "final", node, barriers[n+i], fmt.Sprintf("final-n%d-%d", i+1, try), true) {
					return
				}
				if !wait(ctx, 300*time.Millisecond) {
					return
				}
			}
		})
	}
	wg.Wait()
	if ctx.Err() == nil {
		w.em.emit(chaos.Event{Kind: chaos.KindCPEnd, T: now()})
	}
}
