package server

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/distrod/distrod/internal/distro"
)

// NodeStatus is what /distrod/status reports: this node's view of the
// cluster and its data. Two converged nodes report the same Digest.
type NodeStatus struct {
	Self  string `json:"self"`
	Mode  string `json:"mode"`
	Ready bool   `json:"ready"`
	// Digest is a hash over every live record's key and version, as a hex
	// string: equal on all nodes once the cluster converged.
	Digest    string         `json:"digest"`
	Services  int            `json:"services"`
	Instances int            `json:"instances"`
	Clients   int            `json:"clients"`
	Members   []MemberStatus `json:"members"`
	// Version is the binary's module version and VCS revision.
	Version string `json:"version"`
	// Loader holds this node's connection-load metrics under Nacos's
	// ServerLoaderInfoResponse names (conCount, sdkConCount, load, cpu);
	// /v2/core/loader/cluster reads them from every member.
	Loader map[string]string `json:"loader,omitempty"`
	// Distro is the protocol core's status (cluster mode only).
	Distro *distro.Status `json:"distro,omitempty"`
}

// MemberStatus is one member in this node's view.
type MemberStatus struct {
	Address string `json:"address"`
	State   string `json:"state"`
}

// Status returns the node's status.
func (s *Server) Status(ctx context.Context) (NodeStatus, error) {
	st := s.store.Stats()
	ns := NodeStatus{Self: s.cfg.SelfAddr(), Mode: string(s.cfg.Mode), Ready: true,
		Services: st.Services, Instances: st.Instances, Clients: st.Clients, Version: buildVersion(),
		Loader: s.loader.metrics()}
	if s.cluster == nil {
		ns.Digest = fmt.Sprintf("%016x", s.store.Digest())
		ns.Members = []MemberStatus{{Address: s.cfg.SelfAddr(), State: "UP"}}
		return ns, nil
	}
	ds, err := s.cluster.Status(ctx)
	if err != nil {
		return ns, fmt.Errorf("server: cluster status: %w", err)
	}
	ns.Ready, ns.Distro = ds.Ready, &ds
	ns.Digest = fmt.Sprintf("%016x", ds.Digest)
	for _, m := range ds.Members {
		ns.Members = append(ns.Members, MemberStatus{Address: m.Addr, State: m.State.String()})
	}
	return ns, nil
}

func (s *Server) handleStatus(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := context.WithTimeout(r.Context(), 5*time.Second)
	defer cancel()
	st, err := s.Status(ctx)
	if err != nil {
		writeJSON(w, http.StatusServiceUnavailable, map[string]string{"error": err.Error()})
		return
	}
	writeJSON(w, http.StatusOK, st)
}

// handlePartition cuts this node off from the peers listed in the "block"
// parameter (comma-separated member addresses) in both directions; an empty
// list heals. Mounted only with FaultInjection.
func (s *Server) handlePartition(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost && r.Method != http.MethodPut {
		http.Error(w, "use POST /distrod/debug/partition?block=ip:port,ip:port (empty heals)", http.StatusMethodNotAllowed)
		return
	}
	var peers []string
	for _, p := range strings.Split(r.FormValue("block"), ",") {
		if p = strings.TrimSpace(p); p != "" {
			peers = append(peers, p)
		}
	}
	s.cluster.tr.Block(peers)
	s.log.Warn("fault injection: cluster traffic blocked", "peers", peers)
	writeJSON(w, http.StatusOK, map[string]any{"blocked": peers})
}
