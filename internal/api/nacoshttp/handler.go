package nacoshttp

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/netip"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/distrod/distrod/internal/auth"
	"github.com/distrod/distrod/internal/naming"
)

// Options configures the handler returned by New. Zero values take the
// defaults documented on each field.
type Options struct {
	// Store is the naming store every endpoint reads and writes. Required.
	Store *naming.Store
	// Now is the clock; tests inject a fake one. Default time.Now.
	Now func() time.Time
	// Router decides which node handles a write. nil means standalone: every
	// write is handled locally.
	Router Router
	// UDP registers v1 UDP push subscriptions from GET /v1/ns/instance/list.
	// nil means UDP push is not supported and udpPort is ignored.
	UDP UDPSubscriber
	// Registry receives the request counter and latency histogram. nil means
	// no metrics.
	Registry prometheus.Registerer
	// Logger receives structured logs. Default slog.Default().
	Logger *slog.Logger
	// ContextPath prefixes every route. Default "/nacos".
	ContextPath string
	// BeatIntervalMs is the clientBeatInterval advertised to HTTP clients,
	// in milliseconds. Default 5000.
	BeatIntervalMs int64
	// CacheMillis is the cacheMillis of HTTP ServiceInfo answers, which v1
	// clients use as their polling period, in milliseconds. Default 10000.
	CacheMillis int64
	// MaxBodyBytes bounds request bodies; larger ones get 413. Default 1 MiB.
	MaxBodyBytes int64
	// Forwarder carries a write that Router assigns to another node to that
	// node. Required when Router is set.
	Forwarder Forwarder
	// MaxParams bounds the parameters of one request, query and form body
	// together; more get 400. Default DefaultMaxParams.
	MaxParams int
	// MaxAnswerBytes bounds one encoded success answer; a larger one is
	// answered with a server error. 0 means no limit.
	MaxAnswerBytes int
	// UDPTrustedNets are the networks whose requests may name a clientIP
	// other than their own address as their UDP push target. Empty means
	// every request is pushed to its own address.
	UDPTrustedNets []netip.Prefix
	// Ready reports readiness (snapshot loaded). nil means always ready.
	// While it returns false the readiness probe and every naming read
	// answer 503 and the operator metrics report status STARTING; writes,
	// liveness and the operator endpoints keep serving.
	Ready func() bool
	// Auth checks every request against its route's access rule (auth.go)
	// and serves /v1/auth/*. nil means no auth API and no checks.
	Auth *auth.Guard
	// Extra holds additional handlers mounted under ContextPath (for example
	// "/v1/core/cluster/nodes"). A key ending in "/" matches every path below
	// it. May be nil.
	Extra map[string]http.Handler
	// Control, when set, is the durable control plane: namespaces and
	// instance overrides (control.go). nil keeps instance edits in the
	// instances' own records and serves no namespace API.
	Control ControlPlane
	// Loader serves /v2/core/loader/*; nil leaves them unmounted.
	Loader Loader
	// Introspect reads subscribers, connections and push counts for the
	// operator endpoints. May be nil.
	Introspect Introspector
	// SetLogLevel applies PUT /operator/log's logLevel (Nacos's names:
	// DEBUG, INFO, WARN, ERROR, ...). nil accepts and ignores it.
	SetLogLevel func(level string) error
	// LocalPort reports the HTTP port for /health/server. May be nil.
	LocalPort func() int
}

// Router decides who handles a write for an ownership tag: "ip:port" for
// instance writes and beats, naming.ServiceRecordKey(key) for service
// writes. It is called on the request goroutine for every write, must be
// safe for concurrent use and must not block.
type Router interface {
	// Route returns the owner's address ("ip:port" of its HTTP listener)
	// and whether this node is the owner.
	Route(tag string) (owner string, local bool)
}

// UDPSubscriber registers a v1 client's UDP push target, from GET
// /v1/ns/instance/list?udpPort=..&clientIP=... It is called on the request
// goroutine and must not block.
type UDPSubscriber interface {
	// SubscribeUDP subscribes addr to pushes of svc filtered by clusters
	// (Nacos's comma-separated list, "" = all).
	SubscribeUDP(svc naming.ServiceKey, clusters string, addr netip.AddrPort, userAgent string)
}

// New returns the Nacos HTTP open API (v1 and v2 naming, console health)
// as an http.Handler.
func New(o Options) (http.Handler, error) {
	if o.Store == nil {
		return nil, errors.New("nacoshttp: Options.Store is required")
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	if o.ContextPath == "" {
		o.ContextPath = "/nacos"
	}
	o.ContextPath = "/" + strings.Trim(o.ContextPath, "/")
	if o.ContextPath == "/" {
		o.ContextPath = ""
	}
	if o.BeatIntervalMs <= 0 {
		o.BeatIntervalMs = naming.DefaultBeatIntervalMs
	}
	if o.CacheMillis <= 0 {
		o.CacheMillis = 10000
	}
	if o.MaxBodyBytes <= 0 {
		o.MaxBodyBytes = 1 << 20
	}
	if o.Router != nil && o.Forwarder == nil {
		return nil, errors.New("nacoshttp: Options.Forwarder is required with a Router")
	}
	if o.MaxParams <= 0 {
		o.MaxParams = DefaultMaxParams
	}
	s := &server{
		o:     o,
		ids:   naming.SnowflakeFor(o.Store.Self()),
		store: o.Store,
		log:   o.Logger.With("component", "nacoshttp"),
		sw:    defaultSwitches(o.BeatIntervalMs, o.CacheMillis),
	}
	if err := s.initMetrics(o.Registry); err != nil {
		return nil, err
	}
	s.routes = map[string]map[string]*endpoint{}
	s.registerV1()
	s.registerV2()
	s.registerConsole()
	s.registerLoader()
	s.registerParity()
	s.registerAuth()
	s.registerControl()
	return s, nil
}

// endpoint is one method on one path.
type endpoint struct {
	// api labels metrics and logs, e.g. "v1_instance_register".
	api string
	// v2 selects the {code,message,data} envelope.
	v2 bool
	// raw answers v2 success values without the envelope (v2 beat).
	raw bool
	// naming marks the naming API (the /v1/ns and /v2/ns routes). It is
	// read in one place, server.serve's readiness gate: a naming read
	// (tag == nil) answers 503 while Options.Ready reports false, so that
	// a node still loading its startup snapshot sends clients elsewhere
	// (TestErrors_NotReady). Naming writes carry it too but are served;
	// auth, console and operator endpoints leave it false.
	naming bool
	// tag returns the ownership tag of a write; nil for reads. ok=false
	// means the request is malformed: it is handled locally so that the
	// handler reports the error.
	tag func(c *call) (tag string, ok bool)
	fn  func(c *call) (any, error)
}

type server struct {
	o      Options
	store  *naming.Store
	log    *slog.Logger
	routes map[string]map[string]*endpoint

	swMu sync.Mutex
	sw   switches

	// ids assigns snowflake instance ids at registration.
	ids *naming.Snowflake

	// pushBase is subtracted from the push totals (push/state?reset).
	pushBase pushBase

	reqs *prometheus.CounterVec
	lat  *prometheus.HistogramVec
}

// call is one request in flight.
type call struct {
	s    *server
	r    *http.Request
	p    params
	body []byte
	now  time.Time
	ep   *endpoint
	// beatParse caches the parse of the "beat" parameter (see parsedBeat):
	// routing and the beat handler both read it.
	beatParse *parsedBeat
}

type parsedBeat struct {
	b   *beatInfo
	err error
}

// parsedBeat parses the "beat" parameter once per request.
func (c *call) parsedBeat() (*beatInfo, error) {
	if c.beatParse == nil {
		b, err := parseBeat(c.p.get("beat"))
		c.beatParse = &parsedBeat{b, err}
	}
	return c.beatParse.b, c.beatParse.err
}

func (c *call) nowMs() int64 { return c.now.UnixMilli() }

// text is a plain-text answer.
type text string

func (s *server) handle(path string, methods []string, ep endpoint) {
	m := s.routes[path]
	if m == nil {
		m = map[string]*endpoint{}
		s.routes[path] = m
	}
	for _, meth := range methods {
		e := ep
		m[meth] = &e
	}
}

// ServeHTTP implements http.Handler.
func (s *server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	start := time.Now()
	rec := &statusRecorder{ResponseWriter: w, status: http.StatusOK}
	api := s.serve(rec, r)
	s.observe(api, rec.status, time.Since(start))
}

func (s *server) serve(w *statusRecorder, r *http.Request) (api string) {
	path, ok := strings.CutPrefix(r.URL.Path, s.o.ContextPath)
	if !ok || (path != "" && path[0] != '/') {
		http.Error(w, "no such api: "+r.URL.Path, http.StatusNotFound)
		return "unknown"
	}
	if h := s.extra(path); h != nil {
		if !s.authorizeExtra(w, r) {
			return "extra"
		}
		h.ServeHTTP(w, r)
		return "extra"
	}
	path, pathKey := statusesKey(path)
	byMethod := s.routes[strings.TrimSuffix(path, "/")]
	if byMethod == nil {
		http.Error(w, "no such api: "+r.URL.Path, http.StatusNotFound)
		return "unknown"
	}
	ep := byMethod[r.Method]
	if ep == nil {
		http.Error(w, fmt.Sprintf("Request method '%s' is not supported", r.Method), http.StatusMethodNotAllowed)
		return "unknown"
	}
	c := &call{s: s, r: r, ep: ep, now: s.o.Now(), p: params{}}
	if err := c.readBody(w); err != nil {
		s.writeError(w, c, err)
		return ep.api
	}
	if pathKey != "" {
		c.p["key"] = []string{pathKey}
	}
	if !s.authorize(w, c) {
		return ep.api
	}
	// A node that has not finished its startup snapshot load holds only
	// part of the data: its naming reads answer 503 so that clients ask
	// another node (invariant I5). Writes are served: they are versioned,
	// so a load that finishes later cannot roll them back.
	if ep.naming && ep.tag == nil && s.o.Ready != nil && !s.o.Ready() {
		s.writeError(w, c, errNotReady)
		return ep.api
	}
	// A write that a peer forwarded here is never forwarded again (the loop
	// guard): the mark is in the context, set only by ServeForwarded, so no
	// client can forge it.
	if ep.tag != nil && s.o.Router != nil && !isForwarded(r.Context()) {
		if tag, ok := ep.tag(c); ok && tag != "" {
			if owner, local := s.o.Router.Route(tag); !local {
				s.forward(w, c, owner, tag)
				return ep.api
			}
		}
	}
	v, err := ep.fn(c)
	if err != nil {
		s.writeError(w, c, err)
		return ep.api
	}
	s.writeOK(w, c, v)
	return ep.api
}

func (s *server) extra(path string) http.Handler {
	if len(s.o.Extra) == 0 {
		return nil
	}
	if h, ok := s.o.Extra[path]; ok {
		return h
	}
	best := ""
	for k := range s.o.Extra {
		if strings.HasSuffix(k, "/") && strings.HasPrefix(path, k) && len(k) > len(best) {
			best = k
		}
	}
	if best == "" {
		return nil
	}
	return s.o.Extra[best]
}

// readBody reads the bounded body and merges query and form parameters.
func (c *call) readBody(w http.ResponseWriter) error {
	if err := c.parse(c.r.URL.RawQuery); err != nil {
		return err
	}
	if c.r.Body == nil || c.r.Body == http.NoBody {
		return nil
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, c.r.Body, c.s.o.MaxBodyBytes))
	if err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			return newErr(http.StatusRequestEntityTooLarge, codeParameterValidate,
				"request body is larger than %d bytes", c.s.o.MaxBodyBytes)
		}
		return newErr(http.StatusBadRequest, codeParameterValidate, "cannot read request body: %v", err)
	}
	c.body = body
	ct := c.r.Header.Get("Content-Type")
	if strings.Contains(ct, "json") || strings.Contains(ct, "multipart") {
		return nil
	}
	return c.parse(string(body))
}

func (c *call) parse(s string) error {
	if err := parseParams(c.p, s, c.s.o.MaxParams); err != nil {
		return newErr(http.StatusBadRequest, codeParameterValidate, "%v", err)
	}
	return nil
}

// writeOK writes a success value: v1 as is (text or JSON), v2 wrapped in
// the envelope unless the endpoint is raw.
func (s *server) writeOK(w http.ResponseWriter, c *call, v any) {
	if t, ok := v.(text); ok && !(c.ep.v2 && !c.ep.raw) {
		w.Header().Set("Content-Type", "text/plain;charset=UTF-8")
		w.WriteHeader(http.StatusOK)
		_, _ = io.WriteString(w, string(t))
		return
	}
	if c.ep.v2 && !c.ep.raw {
		v = envelope{Code: codeSuccess, Message: codeMessages[codeSuccess], Data: v}
	}
	status, b := encodeJSON(http.StatusOK, v)
	if max := s.o.MaxAnswerBytes; max > 0 && len(b) > max {
		s.writeError(w, c, newErr(http.StatusInternalServerError, codeServerError,
			"answer of %d bytes exceeds the limit of %d bytes (max-list-answer-bytes): narrow the query", len(b), max))
		return
	}
	writeRawJSON(w, status, b)
}

func (s *server) writeError(w http.ResponseWriter, c *call, err error) {
	ae := toAPIError(err)
	lvl := slog.LevelDebug
	// A node that is not ready is expected during every startup.
	if ae.Status >= 500 && ae != errNotReady && c.ep.api != "console_readiness" {
		lvl = slog.LevelWarn
	}
	s.log.Log(c.r.Context(), lvl, "request failed", "api", c.ep.api, "method", c.r.Method,
		"path", c.r.URL.Path, "status", ae.Status, "code", ae.Code, "err", ae.Msg)
	if c.ep.v2 {
		writeJSON(w, ae.Status, envelope{Code: ae.Code, Message: codeMessages[ae.Code], Data: ae.Msg})
		return
	}
	w.Header().Set("Content-Type", "text/plain;charset=UTF-8")
	w.WriteHeader(ae.Status)
	_, _ = io.WriteString(w, ae.Msg)
}

// envelope is the v2 Result.
type envelope struct {
	Code    int    `json:"code"`
	Message string `json:"message"`
	Data    any    `json:"data"`
}

// writeJSON writes v as Jackson would: no HTML escaping of '&', '<', '>'.
func writeJSON(w http.ResponseWriter, status int, v any) {
	status, b := encodeJSON(status, v)
	writeRawJSON(w, status, b)
}

// encodeJSON encodes v as Jackson would; an encoding failure becomes a 500
// answer.
func encodeJSON(status int, v any) (int, []byte) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	b := []byte(`{"code":30000,"message":"server error","data":"cannot encode answer"}`)
	if err := enc.Encode(v); err != nil {
		status = http.StatusInternalServerError
	} else {
		b = bytes.TrimSuffix(buf.Bytes(), []byte("\n"))
	}
	return status, b
}

func writeRawJSON(w http.ResponseWriter, status int, b []byte) {
	w.Header().Set("Content-Type", "application/json;charset=UTF-8")
	w.WriteHeader(status)
	_, _ = w.Write(b)
}

// statusRecorder remembers the status code for metrics.
type statusRecorder struct {
	http.ResponseWriter
	status int
	wrote  bool
}

func (r *statusRecorder) WriteHeader(code int) {
	if !r.wrote {
		r.status, r.wrote = code, true
	}
	r.ResponseWriter.WriteHeader(code)
}

func (r *statusRecorder) Write(b []byte) (int, error) {
	r.wrote = true
	return r.ResponseWriter.Write(b)
}

// Unwrap lets http.ResponseController reach the underlying writer.
func (r *statusRecorder) Unwrap() http.ResponseWriter { return r.ResponseWriter }
