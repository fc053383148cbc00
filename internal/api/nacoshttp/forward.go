package nacoshttp

import (
	"bytes"
	"io"
	"net"
	"net/http"
	"time"
)

// Write forwarding. A write whose ownership tag belongs to another node is
// proxied to that node and its answer passed back verbatim. Nacos does this
// only for /v1/ns/* and synchronously on a servlet thread; here every write
// API (v1 and v2) is forwarded, each on its own request goroutine with a
// timeout and the caller's context, and no lock is held while waiting.
//
// Loop guard: the forwarded request carries ForwardedHeader, and a request
// carrying it is always handled locally, never forwarded again. When two
// nodes briefly disagree on the owner, the receiving node applies the write
// as owner; record versions resolve the disagreement once views converge.

// maxForwardAnswer bounds how much of a peer's answer is relayed.
const maxForwardAnswer = 16 << 20

func newForwarder(timeout time.Duration) *http.Client {
	return &http.Client{
		Timeout: timeout,
		Transport: &http.Transport{
			Proxy:               nil,
			DialContext:         (&net.Dialer{Timeout: timeout, KeepAlive: 30 * time.Second}).DialContext,
			MaxIdleConnsPerHost: 16,
			IdleConnTimeout:     90 * time.Second,
		},
		// Never follow redirects: the owner's answer is relayed as is.
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
}

// hopHeaders are not copied to the forwarded request.
var hopHeaders = map[string]bool{
	"Connection": true, "Keep-Alive": true, "Proxy-Connection": true, "Te": true,
	"Trailer": true, "Transfer-Encoding": true, "Upgrade": true, "Content-Length": true,
}

// forward proxies c to owner and relays the answer. If the owner cannot be
// reached it answers 503 (v1 plain text, v2 envelope with code 30000).
func (s *server) forward(w http.ResponseWriter, c *call, owner, tag string) {
	url := "http://" + owner + c.r.URL.RequestURI()
	req, err := http.NewRequestWithContext(c.r.Context(), c.r.Method, url, bytes.NewReader(c.body))
	if err != nil {
		s.writeError(w, c, newErr(http.StatusServiceUnavailable, codeServerError,
			"distrod: cannot forward to owner %s of %s: %v", owner, tag, err))
		return
	}
	for k, vs := range c.r.Header {
		if !hopHeaders[k] {
			req.Header[k] = append([]string(nil), vs...)
		}
	}
	req.Header.Set(ForwardedHeader, s.store.Self())
	resp, err := s.fwd.Do(req)
	if err != nil {
		s.log.Warn("forward failed", "api", c.ep.api, "owner", owner, "tag", tag, "err", err)
		s.writeError(w, c, newErr(http.StatusServiceUnavailable, codeServerError,
			"distrod: owner %s of %s is unreachable: %v", owner, tag, err))
		return
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxForwardAnswer))
	if err != nil {
		s.writeError(w, c, newErr(http.StatusServiceUnavailable, codeServerError,
			"distrod: reading answer of owner %s of %s: %v", owner, tag, err))
		return
	}
	if ct := resp.Header.Get("Content-Type"); ct != "" {
		w.Header().Set("Content-Type", ct)
	}
	s.log.Debug("forwarded", "api", c.ep.api, "owner", owner, "tag", tag, "status", resp.StatusCode)
	w.WriteHeader(resp.StatusCode)
	_, _ = w.Write(body)
}
