package server

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/distrod/distrod/internal/api/nacoshttp"
	"github.com/distrod/distrod/internal/distro"
	"github.com/distrod/distrod/internal/naming"
	"github.com/distrod/distrod/internal/replica"
	"github.com/distrod/distrod/internal/transport"
)

// forwarder carries HTTP writes between nodes over the cluster transport,
// in both roles. As the entry node (nacoshttp.Forwarder) it sends a write
// to its owner with an absolute deadline, its clock plus ForwardTimeout,
// and waits at most that long; it installs the records the owner sends
// back before the client gets its answer, so a client reads its own write
// on the node it wrote through. As the owner (transport.ForwardHandler)
// it refuses a write whose deadline has passed by its own clock
// (replica.ForwardExpired) and otherwise runs it through the HTTP API in
// process, marked as forwarded so it is never forwarded again.
type forwarder struct {
	self    string
	timeout time.Duration
	store   *naming.Store
	log     *slog.Logger
	total   *prometheus.CounterVec
	// tr and api are set by New once built, before any goroutine starts.
	tr  ownerCaller
	api http.Handler
	// maxClockOffset bounds the versions of the records an owner sends
	// back, as for replicated ones; future counts those refused. Set by
	// New.
	maxClockOffset time.Duration
	future         *atomic.Uint64
}

func newForwarder(self string, timeout time.Duration, store *naming.Store, log *slog.Logger, reg prometheus.Registerer) *forwarder {
	f := &forwarder{self: self, timeout: timeout, store: store, log: log.With("component", "forward"),
		total: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "distrod_forwarded_writes_total",
			Help: "HTTP writes forwarded to their owner, by role (entry: sent by this node; owner: run for a peer) and result (ok, expired: refused past its deadline, error).",
		}, []string{"role", "result"}),
	}
	reg.MustRegister(f.total)
	return f
}

// Forward implements nacoshttp.Forwarder.
func (f *forwarder) Forward(ctx context.Context, owner string, req nacoshttp.ForwardedRequest) (nacoshttp.ForwardedAnswer, error) {
	deadline := replica.ForwardDeadline(time.Now().UnixMilli(), f.timeout)
	ctx, cancel := context.WithDeadline(ctx, time.UnixMilli(deadline))
	defer cancel()
	resp, err := f.tr.Forward(ctx, owner, transport.ForwardRequest{
		Method: req.Method, RequestURI: req.RequestURI, Header: req.Header, Body: req.Body,
		RemoteAddr: req.RemoteAddr, Entry: f.self, DeadlineMs: deadline,
	})
	if err != nil {
		result := "error"
		if errors.Is(err, transport.ErrForwardExpired) {
			result = "expired"
		}
		f.total.WithLabelValues("entry", result).Inc()
		return nacoshttp.ForwardedAnswer{}, err
	}
	// Versions decide: a record the Distro sync already brought, or a newer
	// one, is left as it is.
	apply := replica.Storage{Store: f.store, Now: time.Now, MaxClockOffset: f.maxClockOffset, OnReject: func(r distro.Record, err error) {
		if errors.Is(err, replica.ErrFutureVersion) && f.future != nil {
			f.future.Add(1)
		}
		f.log.Warn("cannot install a record a forwarded write's owner sent", "key", r.Key, "owner", owner, "err", err)
	}}
	for _, r := range resp.Records {
		apply.Apply(r)
	}
	f.total.WithLabelValues("entry", "ok").Inc()
	return nacoshttp.ForwardedAnswer{Status: resp.Status, ContentType: resp.ContentType, Body: resp.Body}, nil
}

// serve implements transport.ForwardHandler.
func (f *forwarder) serve(ctx context.Context, req transport.ForwardRequest) (transport.ForwardResponse, error) {
	if now := time.Now().UnixMilli(); replica.ForwardExpired(req.DeadlineMs, now) {
		f.total.WithLabelValues("owner", "expired").Inc()
		f.log.Debug("refused a forwarded write past its deadline", "entry", req.Entry, "method", req.Method,
			"uri", req.RequestURI, "late_ms", now-req.DeadlineMs)
		return transport.ForwardResponse{}, transport.ErrForwardExpired
	}
	ans, err := nacoshttp.ServeForwarded(ctx, f.api, nacoshttp.ForwardedRequest{
		Method: req.Method, RequestURI: req.RequestURI, Header: req.Header, Body: req.Body, RemoteAddr: req.RemoteAddr,
	})
	if err != nil {
		f.total.WithLabelValues("owner", "error").Inc()
		return transport.ForwardResponse{}, err
	}
	resp := transport.ForwardResponse{Status: ans.Status, ContentType: ans.ContentType, Body: ans.Body}
	seen := make(map[string]bool, len(ans.Keys))
	for _, k := range ans.Keys {
		if seen[k] {
			continue
		}
		seen[k] = true
		if r, ok := f.store.Get(k); ok {
			resp.Records = append(resp.Records, replica.ToDistro(r))
		}
	}
	f.total.WithLabelValues("owner", "ok").Inc()
	return resp, nil
}
