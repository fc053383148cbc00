package server

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"runtime/debug"
	"sync"

	"github.com/distrod/distrod/internal/api/console"
	"github.com/distrod/distrod/internal/config"
)

// buildVersion is this binary's version as the console shows it: the main
// module's version and, when built from a checkout, its VCS revision.
var buildVersion = sync.OnceValue(func() string {
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		return "unknown"
	}
	v := bi.Main.Version
	for _, s := range bi.Settings {
		if s.Key == "vcs.revision" && len(s.Value) >= 12 {
			v += " " + s.Value[:12]
		}
	}
	return v
})

// clusterReports reads every member's /distrod/status for the console's
// cluster page: this node's in process, the others over HTTP in parallel.
// A member that cannot be read is reported with the reason in words.
func (s *Server) clusterReports(ctx context.Context) []console.NodeReport {
	self := s.cfg.SelfAddr()
	st, err := s.Status(ctx)
	if err != nil {
		return []console.NodeReport{{Address: self, Self: true, Error: err.Error()}}
	}
	out := make([]console.NodeReport, len(st.Members))
	var wg sync.WaitGroup
	for i, m := range st.Members {
		out[i].Address = m.Address
		if m.Address == self {
			out[i].Self = true
			b, err := json.Marshal(st)
			if err != nil {
				out[i].Error = err.Error()
			}
			out[i].Status = b
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			b, err := s.peerGet(ctx, m.Address, "/distrod/status", nil)
			if err != nil {
				out[i].Error = err.Error()
				return
			}
			out[i].Status = b
		}()
	}
	wg.Wait()
	return out
}

// peers returns the other members' addresses, as this node sees them.
func (s *Server) peers(ctx context.Context) []string {
	st, err := s.Status(ctx)
	if err != nil {
		return nil
	}
	var out []string
	for _, m := range st.Members {
		if m.Address != s.cfg.SelfAddr() {
			out = append(out, m.Address)
		}
	}
	return out
}

// peerGet GETs pathQuery from a member's HTTP port with headers h (nil for
// none). For /distrod/status, when status-access is not open, it sends the
// cluster secret as the bearer token the members accept (the members share
// both settings); other paths carry only the caller's credentials.
func (s *Server) peerGet(ctx context.Context, addr, pathQuery string, h http.Header) ([]byte, error) {
	b, err := s.peerDo(ctx, addr, pathQuery, h)
	if err != nil {
		return nil, err
	}
	if !json.Valid(b) {
		return nil, fmt.Errorf("%s answered something that is not JSON", addr)
	}
	return b, nil
}

// peerDo GETs pathQuery from a member as peerGet does and returns the body
// of a 200 answer, whatever its type.
func (s *Server) peerDo(ctx context.Context, addr, pathQuery string, h http.Header) ([]byte, error) {
	scheme := "http"
	if s.tls.http != nil {
		scheme = "https"
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, scheme+"://"+addr+pathQuery, nil)
	if err != nil {
		return nil, fmt.Errorf("asking %s: %w", addr, err)
	}
	for k, v := range h {
		req.Header[k] = v
	}
	if pathQuery == "/distrod/status" && s.cfg.StatusAccess != config.AccessOpen && s.cfg.ClusterSecret != "" {
		req.Header.Set("Authorization", "Bearer "+s.cfg.ClusterSecret)
	}
	tr := &http.Transport{}
	if s.tls.http != nil {
		host, _, _ := net.SplitHostPort(addr)
		// The members' HTTP certificates come from the same CA as ours when
		// one is configured, else from the system's roots.
		tr.TLSClientConfig = s.tls.http.ClientConfig(host)
	}
	defer tr.CloseIdleConnections()
	res, err := (&http.Client{Transport: tr}).Do(req)
	if err != nil {
		return nil, fmt.Errorf("cannot reach %s: %w", addr, err)
	}
	defer res.Body.Close()
	b, err := io.ReadAll(io.LimitReader(res.Body, 1<<20))
	if err != nil {
		return nil, fmt.Errorf("reading the answer of %s: %w", addr, err)
	}
	if res.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("%s answered %s: %s", addr, res.Status, b)
	}
	return b, nil
}
