package nacoshttp

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
)

// Write forwarding. A write whose ownership tag belongs to another node is
// handed to Options.Forwarder, which carries it to the owner (in distrod,
// over the authenticated cluster channel with an absolute deadline) and
// returns the owner's answer; the handler relays it as it is. Nacos does
// this only for /v1/ns/* and synchronously on a servlet thread; here every
// write API (v1 and v2) is forwarded, each on its own request goroutine,
// and no lock is held while waiting.
//
// On the owner, ServeForwarded runs the write through the same handler, in
// process, with a context mark meaning "forwarded: never forward again" (the
// loop guard: when two nodes briefly disagree on the owner, the receiving
// node applies the write as owner and record versions resolve the
// disagreement once views converge) and with the original client's remote
// address. It also collects the keys of the records the handlers touched,
// so that the owner can send those records back with its answer and the
// entry node can install them before it answers: a client that wrote
// through any node reads its write on that node right after.
//
// Nothing a client sends marks a request as forwarded: a header such as
// the X-Distrod-Forwarded that older versions trusted is ignored.

// Forwarder carries writes to the nodes that own them.
type Forwarder interface {
	// Forward runs req on owner and returns the owner's answer. It is
	// called on the request goroutine, must return once ctx ends or its own
	// timeout passes, and should return only after this node holds the
	// records the write changed on the owner. An error means the write was
	// not answered by the owner; the client gets 503.
	Forward(ctx context.Context, owner string, req ForwardedRequest) (ForwardedAnswer, error)
}

// ForwardedRequest is an HTTP write to run on the node that owns it.
type ForwardedRequest struct {
	// Method and RequestURI (path and query) are the client's.
	Method     string
	RequestURI string
	// Header holds the client's headers that matter to the handler
	// (forwardHeaders).
	Header http.Header
	// Body is the client's request body.
	Body []byte
	// RemoteAddr is the client's address, as http.Request.RemoteAddr: UDP
	// push targets and client IPs stay the original client's.
	RemoteAddr string
}

// ForwardedAnswer is the owner's HTTP answer to a forwarded write.
type ForwardedAnswer struct {
	Status      int
	ContentType string
	Body        []byte
	// Keys are the record keys (naming.PubKey, naming.ServiceRecordKey) of
	// the records the handler touched; set by ServeForwarded.
	Keys []string
}

// forwardHeaders are the request headers a forwarded write keeps: the ones
// the handlers read (body encoding, client identity for UDP pushes) and the
// Nacos auth headers, for an owner that checks them.
var forwardHeaders = []string{"Content-Type", "User-Agent", "Client-Version", "Request-Module", "Accesstoken", "Authorization"}

// forward hands c to the Forwarder and relays the owner's answer; when the
// owner does not answer it answers 503 (v1 plain text, v2 envelope with
// code 30000) and the write is not applied here.
func (s *server) forward(w http.ResponseWriter, c *call, owner, tag string) {
	req := ForwardedRequest{Method: c.r.Method, RequestURI: c.r.URL.RequestURI(), Header: http.Header{}, Body: c.body, RemoteAddr: c.r.RemoteAddr}
	for _, h := range forwardHeaders {
		if vs := c.r.Header.Values(h); len(vs) > 0 {
			req.Header[h] = append([]string(nil), vs...)
		}
	}
	ans, err := s.o.Forwarder.Forward(c.r.Context(), owner, req)
	if err != nil {
		s.writeError(w, c, newErr(http.StatusServiceUnavailable, codeServerError,
			"distrod: owner %s of %s did not take the write: %v", owner, tag, err))
		return
	}
	if ans.ContentType != "" {
		w.Header().Set("Content-Type", ans.ContentType)
	}
	s.log.Debug("forwarded", "api", c.ep.api, "owner", owner, "tag", tag, "status", ans.Status)
	w.WriteHeader(ans.Status)
	_, _ = w.Write(ans.Body)
}

type forwardedKey struct{}

// touched collects the record keys one forwarded request touches. The
// handler runs on one goroutine, so it needs no lock.
type touched struct{ keys []string }

func isForwarded(ctx context.Context) bool { return ctx.Value(forwardedKey{}) != nil }

// touch notes a record key the request writes (or tries to), for the
// answer of a forwarded request; it does nothing for a client's own.
func (c *call) touch(key string) {
	if t, ok := c.r.Context().Value(forwardedKey{}).(*touched); ok {
		t.keys = append(t.keys, key)
	}
}

// ServeForwarded runs a write that a peer forwarded to this node through
// h (a handler built by New), in process, and returns its answer with the
// keys of the records it touched. The request is marked as forwarded, so h
// handles it here whatever its Router says.
func ServeForwarded(ctx context.Context, h http.Handler, req ForwardedRequest) (ForwardedAnswer, error) {
	t := &touched{}
	r, err := http.NewRequestWithContext(context.WithValue(ctx, forwardedKey{}, t), req.Method, req.RequestURI, bytes.NewReader(req.Body))
	if err != nil {
		return ForwardedAnswer{}, fmt.Errorf("nacoshttp: forwarded %s %s: %w", req.Method, req.RequestURI, err)
	}
	r.RequestURI = req.RequestURI
	r.RemoteAddr = req.RemoteAddr
	for k, vs := range req.Header {
		r.Header[k] = append([]string(nil), vs...)
	}
	rec := &answerRecorder{header: http.Header{}}
	h.ServeHTTP(rec, r)
	if rec.status == 0 {
		rec.status = http.StatusOK
	}
	return ForwardedAnswer{Status: rec.status, ContentType: rec.header.Get("Content-Type"), Body: rec.body.Bytes(), Keys: t.keys}, nil
}

// answerRecorder is the ResponseWriter of a forwarded request.
type answerRecorder struct {
	header http.Header
	status int
	body   bytes.Buffer
}

func (a *answerRecorder) Header() http.Header { return a.header }

func (a *answerRecorder) WriteHeader(code int) {
	if a.status == 0 {
		a.status = code
	}
}

func (a *answerRecorder) Write(b []byte) (int, error) {
	if a.status == 0 {
		a.status = http.StatusOK
	}
	return a.body.Write(b)
}
