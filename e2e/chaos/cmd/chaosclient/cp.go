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
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/distrod/distrod/e2e/chaos"
)

// The control plane workload. Every CP client writes a random register
// of chaos.CPKeys (a namespace's description, a persistent instance's
// metadata, that instance's override) through a random node, or reads
// them all. Nodes serve control plane reads from their locally applied
// state, which may lag the leader, so a plain read is not linearizable; a
// read here is a barrier write of a fresh value to the client's own
// namespace through the node, acknowledged (so committed), followed by
// reads of the node's namespace list until it shows the barrier value: the
// state it then shows includes every write committed before the read
// began.

// cpHTTP runs one control plane request and returns the status and body.
func cpHTTP(ctx context.Context, hc *http.Client, method, node, path string, q url.Values) (int, string, error) {
	var body io.Reader
	u := "http://" + node + path
	if method == http.MethodPost {
		body = strings.NewReader(q.Encode())
	} else {
		u += "?" + q.Encode()
	}
	req, err := http.NewRequestWithContext(ctx, method, u, body)
	if err != nil {
		return 0, "", err
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	resp, err := hc.Do(req)
	if err != nil {
		return 0, "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	return resp.StatusCode, strings.TrimSpace(string(b)), err
}

const (
	nsPath   = "/nacos/v1/console/namespaces"
	instPath = "/nacos/v1/ns/instance"
)

// cpPut writes val to register key through node.
func cpPut(ctx context.Context, hc *http.Client, node, key, val string) cpAnswer {
	inst := func(method, meta string) cpAnswer {
		m, _ := json.Marshal(map[string]string{meta: val})
		code, body, err := cpHTTP(ctx, hc, method, node, instPath, url.Values{"serviceName": {chaos.CPService},
			"ip": {chaos.CPInstanceIP}, "port": {strconv.Itoa(chaos.CPInstancePort)}, "ephemeral": {"false"},
			"weight": {"1"}, "enabled": {"true"}, "metadata": {string(m)}})
		return answer(code, body, err, "ok")
	}
	switch key {
	case chaos.CPKeyPersistent:
		return inst(http.MethodPost, chaos.MetaCPValue)
	case chaos.CPKeyOverride:
		return inst(http.MethodPut, chaos.MetaCPOverride)
	default:
		return cpSetNamespace(ctx, hc, node, key, val)
	}
}

// cpInstance reads the persistent instance's registered and override
// metadata from node's instance list ("" when absent).
func cpInstance(ctx context.Context, hc *http.Client, node string) (value, override string, present bool, err error) {
	code, body, err := cpHTTP(ctx, hc, http.MethodGet, node, instPath+"/list", url.Values{"serviceName": {chaos.CPService}})
	if err != nil {
		return "", "", false, err
	}
	if code != http.StatusOK {
		return "", "", false, fmt.Errorf("instance list: %d %s", code, clipStr(body, 200))
	}
	var r struct {
		Hosts []struct {
			IP       string            `json:"ip"`
			Port     int               `json:"port"`
			Metadata map[string]string `json:"metadata"`
		} `json:"hosts"`
	}
	if err := json.Unmarshal([]byte(body), &r); err != nil {
		return "", "", false, fmt.Errorf("instance list: %w", err)
	}
	for _, h := range r.Hosts {
		if h.IP == chaos.CPInstanceIP && h.Port == chaos.CPInstancePort {
			return h.Metadata[chaos.MetaCPValue], h.Metadata[chaos.MetaCPOverride], true, nil
		}
	}
	return "", "", false, nil
}

// cpAnswer is a write's outcome: acknowledged, refused (the server said
// it did not do it), or neither (it may have happened).
type cpAnswer struct {
	ok, refused bool
	res         string
}

// answer judges an HTTP answer: ok when 200 with the body okBody; refused
// when 400, or 200 with "false" (a namespace write the state machine
// refused).
func answer(code int, body string, err error, okBody string) cpAnswer {
	if err != nil {
		return cpAnswer{res: err.Error()}
	}
	return cpAnswer{ok: code == http.StatusOK && body == okBody,
		refused: code == http.StatusBadRequest || (code == http.StatusOK && body == "false"),
		res:     fmt.Sprintf("%d %s", code, clipStr(body, 200))}
}

// cpSetNamespace sets namespace id's description through node.
func cpSetNamespace(ctx context.Context, hc *http.Client, node, id, desc string) cpAnswer {
	code, body, err := cpHTTP(ctx, hc, http.MethodPut, node, nsPath,
		url.Values{"namespace": {id}, "namespaceShowName": {id}, "namespaceDesc": {desc}})
	return answer(code, body, err, "true")
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

// create makes every CPNamespaces namespace and the barrier namespaces
// exist, then registers the persistent instance and sets its override
// with the value CPInit, through random nodes, until done or ctx ends.
func (w *cpWorkload) create(ctx context.Context, rnd *rand.Rand, barriers []string) bool {
	for _, id := range append(slices.Clone(chaos.CPNamespaces), barriers...) {
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
	for _, key := range []string{chaos.CPKeyPersistent, chaos.CPKeyOverride} {
		for !w.write(ctx, "setup", w.o.nodes[rnd.IntN(len(w.o.nodes))], key, chaos.CPInit) {
			if !wait(ctx, between(rnd, 200*time.Millisecond, 600*time.Millisecond)) {
				return false
			}
		}
	}
	return true
}

// write sets register key to val through node.
func (w *cpWorkload) write(ctx context.Context, client, node, key, val string) bool {
	return w.record(chaos.Event{Client: client, Op: chaos.OpCPWrite, Node: node, Key: key, Val: val}, func(d *chaos.Event) {
		rctx, cancel := context.WithTimeout(ctx, w.o.timeout)
		defer cancel()
		a := cpPut(rctx, w.hc, node, key, val)
		d.OK, d.Refused, d.Res = a.ok, a.refused, a.res
	})
}

// read is a linearizable read of every CPKeys register through node: the
// barrier write of barrierVal to namespace barrier, the node's namespace
// list until it shows it, then the node's instance list of CPService, all
// within the client timeout. The node's applied state only grows, so the
// instance list read after the barrier showed includes it too.
func (w *cpWorkload) read(ctx context.Context, client, node, barrier, barrierVal string, final bool) bool {
	return w.record(chaos.Event{Client: client, Op: chaos.OpCPRead, Node: node, Key: barrier, Val: barrierVal, Final: final}, func(d *chaos.Event) {
		rctx, cancel := context.WithTimeout(ctx, w.o.timeout)
		defer cancel()
		if a := cpSetNamespace(rctx, w.hc, node, barrier, barrierVal); !a.ok {
			d.Res = "barrier: " + a.res
			return
		}
		var vals map[string]string
		for vals == nil {
			m, err := cpList(rctx, w.hc, node)
			if err == nil && m[barrier] == barrierVal {
				vals = map[string]string{}
				for _, k := range chaos.CPNamespaces {
					if v, there := m[k]; there {
						vals[k] = v
					}
				}
				break
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
		v, o, present, err := cpInstance(rctx, w.hc, node)
		if err != nil {
			d.Res = "after the barrier: " + err.Error()
			return
		}
		if present && v != "" {
			vals[chaos.CPKeyPersistent] = v
		}
		if present && o != "" {
			vals[chaos.CPKeyOverride] = o
		}
		d.OK, d.Vals, d.Res = true, vals, ""
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
