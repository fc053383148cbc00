package server

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"slices"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/distrod/distrod/internal/config"
	"github.com/distrod/distrod/internal/cp"
	"github.com/distrod/distrod/internal/naming"
	"github.com/distrod/distrod/internal/transport"
)

// control is the node's handle on the durable control plane: the FSM
// exists from New (reads, the store's overlay), the Raft node from Run.
type control struct {
	fsm    *cp.FSM
	node   atomic.Pointer[cp.Node]
	writes writeCounts
}

// newControl builds the control plane's state machine; every change of an
// override marks its service changed in the store and pushes it.
func (s *Server) newControl() *control {
	c := &control{}
	c.fsm = cp.NewFSM(func(keys []naming.ServiceKey) {
		for _, k := range keys {
			s.store.Touch(k)
		}
		s.push.OnChange(naming.Change{Services: keys})
	})
	s.store.SetOverlay(func(k naming.ServiceKey) func(*naming.Instance) { return c.fsm.Overlay(k) })
	s.store.SetCatalog(c.fsm)
	return c
}

// Apply implements nacoshttp.ControlPlane.
func (c *control) Apply(ctx context.Context, cmd cp.Command) error {
	n := c.node.Load()
	if n == nil {
		err := fmt.Errorf("%w: the control plane is not running", cp.ErrNoLeader)
		c.writes.observe(err)
		return err
	}
	err := n.Apply(ctx, cmd)
	c.writes.observe(err)
	return err
}

// FSM implements nacoshttp.ControlPlane.
func (c *control) FSM() *cp.FSM { return c.fsm }

// listenRaft opens the Raft port in cluster mode (nil when standalone).
func (s *Server) listenRaft() (net.Listener, error) {
	if s.cluster == nil {
		return nil, nil
	}
	lis, err := net.Listen("tcp", net.JoinHostPort(s.cfg.ClusterListenIP, strconv.Itoa(s.cfg.RaftPort())))
	if err != nil {
		return nil, fmt.Errorf("server: raft listener: %w", err)
	}
	return lis, nil
}

// openControl starts the Raft node on lis (nil when standalone).
func (s *Server) openControl(lis net.Listener) (*cp.Node, error) {
	o := cp.Options{
		Self:             s.cfg.SelfAddr(),
		Members:          s.cfg.Members,
		Standalone:       s.cluster == nil,
		DataDir:          s.cfg.DataPath(),
		PortOffset:       s.cfg.RaftPortOffset,
		HeartbeatTimeout: s.cfg.RaftHeartbeatTimeout,
		WriteTimeout:     s.cfg.CPWriteTimeout,
		FSM:              s.ctl.fsm,
		Logger:           s.log.With("component", "cp"),
	}
	if s.cluster != nil {
		o.ResolveMembers = s.bootstrapMembers
		tr := s.cluster.tr
		o.Blocked = tr.IsBlocked
		o.Handshake = transport.NewHandshaker(s.cfg.SelfAddr(), s.cfg.ClusterSecret, s.cluster.tlsSrc, s.cfg.ClusterHandshakeTimeout,
			func(peer string) error {
				if !tr.IsMember(peer) {
					return fmt.Errorf("%w: %w: %s", transport.ErrHandshake, transport.ErrNotMember, peer)
				}
				return nil
			})
	}
	n, err := cp.Open(o, lis)
	if err != nil {
		if lis != nil {
			_ = lis.Close()
		}
		return nil, fmt.Errorf("server: control plane: %w", err)
	}
	s.ctl.node.Store(n)
	return n, nil
}

// handleControlStatus answers the node's view of the control plane.
func (s *Server) handleControlStatus(w http.ResponseWriter, _ *http.Request) {
	n := s.ctl.node.Load()
	if n == nil {
		writeJSON(w, http.StatusServiceUnavailable, map[string]string{"error": "the control plane is not running"})
		return
	}
	writeJSON(w, http.StatusOK, n.Status())
}

// closeControl stops the Raft node, bounded so that shutdown never hangs.
func closeControl(n *cp.Node) {
	done := make(chan struct{})
	go func() { _ = n.Close(); close(done) }()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
	}
}

// bootstrapMembers returns the member list that becomes the Raft
// configuration on a node's first start. A static list is used as is; a
// file or DNS source is read until it lists this node and gives the same
// answer twice in a row (DNS records of members starting together appear
// one by one), for at most a minute.
func (s *Server) bootstrapMembers() ([]string, error) {
	if s.cfg.Lookup() == config.LookupStatic {
		return s.cfg.Members, nil
	}
	src, interval := memberSource(s.cfg)
	interval = max(min(interval, 2*time.Second), 200*time.Millisecond)
	deadline := time.Now().Add(time.Minute)
	var last []string
	for {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		m, err := src.Members(ctx)
		cancel()
		if err == nil && slices.Contains(m, s.cfg.SelfAddr()) {
			if slices.Equal(m, last) {
				return m, nil
			}
			last = m
		}
		if time.Now().After(deadline) {
			if last != nil {
				return last, nil
			}
			return nil, fmt.Errorf("server: no member list naming this node (%s) within a minute: %w", s.cfg.SelfAddr(), err)
		}
		time.Sleep(interval)
	}
}

// namespaceIDs returns the default namespace and those created in the
// control plane, for the console.
func (c *control) namespaceIDs() []string {
	out := []string{naming.DefaultNamespace}
	for _, ns := range c.fsm.Namespaces() {
		out = append(out, ns.ID)
	}
	return out
}

// cleanLoop runs Nacos's cleaners on the control plane leader: an
// explicitly created service that has had no instance for
// EmptyServiceCleanAfter, and was not written for as long, is removed, and
// so is the override of an instance gone for ExpiredMetadataCleanAfter.
func (s *Server) cleanLoop(ctx context.Context) {
	after := s.cfg.EmptyServiceCleanAfter
	every := min(after, s.cfg.ExpiredMetadataCleanAfter) / 4
	t := time.NewTicker(max(min(every, 15*time.Second), 10*time.Millisecond))
	defer t.Stop()
	emptySince := map[naming.ServiceKey]time.Time{}
	goneSince := map[string]time.Time{}
	for {
		select {
		case <-ctx.Done():
			return
		case now := <-t.C:
			n := s.ctl.node.Load()
			if n == nil || !n.IsLeader() {
				clear(emptySince)
				clear(goneSince)
				continue
			}
			s.cleanOverrides(ctx, n, now, goneSince)
			seen := map[naming.ServiceKey]bool{}
			for _, e := range s.ctl.fsm.ExplicitServices() {
				seen[e.Key] = true
				if len(s.store.Service(e.Key, naming.Query{}).Hosts) > 0 {
					delete(emptySince, e.Key)
					continue
				}
				since, ok := emptySince[e.Key]
				if !ok {
					emptySince[e.Key] = now
					continue
				}
				if now.Sub(since) < after || now.UnixMilli()-e.UpdatedMs < after.Milliseconds() {
					continue
				}
				k := e.Key
				wctx, cancel := context.WithTimeout(ctx, s.cfg.CPWriteTimeout)
				err := n.Apply(wctx, cp.Command{Op: cp.OpServiceDelete, Service: &k})
				cancel()
				if err != nil {
					s.log.Warn("empty service not removed", "service", k.String(), "err", err)
					continue
				}
				delete(emptySince, k)
				s.log.Info("removed an empty service", "service", k.String(), "empty_for", now.Sub(since).String())
			}
			for k := range emptySince {
				if !seen[k] {
					delete(emptySince, k)
				}
			}
		}
	}
}

// RegisterPersistent implements nacosgrpc.PersistentRegistry.
func (c *control) RegisterPersistent(ctx context.Context, k naming.ServiceKey, in naming.Instance) error {
	return c.Apply(ctx, cp.Command{Op: cp.OpPersistentRegister, Service: &k, Persistent: &in})
}

// DeregisterPersistent implements nacosgrpc.PersistentRegistry; an
// unknown instance is not an error (as Nacos).
func (c *control) DeregisterPersistent(ctx context.Context, k naming.ServiceKey, in naming.Instance) error {
	cluster := in.ClusterName
	if cluster == "" {
		cluster = naming.DefaultCluster
	}
	key := cp.InstanceKey{Service: k, Cluster: cluster, IP: in.IP, Port: in.Port}
	err := c.Apply(ctx, cp.Command{Op: cp.OpPersistentDeregister, Instance: &key})
	if errors.Is(err, cp.ErrNotFound) {
		return nil
	}
	return err
}

// reconcileLoop keeps the Raft voters equal to the member list Distro uses
// (configuration, cluster.conf or DNS): on the leader, a list that held
// still for two rounds in a row becomes the configuration.
func (s *Server) reconcileLoop(ctx context.Context) {
	if s.cluster == nil {
		return
	}
	t := time.NewTicker(2 * time.Second)
	defer t.Stop()
	var last []string
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		members := s.cluster.tr.Members()
		stable := slices.Equal(members, last)
		last = members
		n := s.ctl.node.Load()
		if !stable || len(members) == 0 || n == nil || !n.IsLeader() {
			continue
		}
		changes, err := n.Reconcile(members)
		if err != nil {
			s.log.Warn("raft voters not reconciled with the member list", "members", members, "err", err)
		}
		if len(changes) > 0 {
			s.log.Info("raft voters follow the member list", "changes", changes)
		}
	}
}

// cleanOverrides is Nacos's expired metadata cleaner: an override whose
// instance has been gone for ExpiredMetadataCleanAfter is removed. A
// re-registration within that time finds the override in place.
func (s *Server) cleanOverrides(ctx context.Context, n *cp.Node, now time.Time, goneSince map[string]time.Time) {
	seen := map[string]bool{}
	for _, k := range s.ctl.fsm.OverrideKeys() {
		id := k.String()
		seen[id] = true
		if _, _, ok := s.store.FindInstance(k.Service, k.IP, k.Port, k.Cluster); ok {
			delete(goneSince, id)
			continue
		}
		since, ok := goneSince[id]
		if !ok {
			goneSince[id] = now
			continue
		}
		if now.Sub(since) < s.cfg.ExpiredMetadataCleanAfter {
			continue
		}
		wctx, cancel := context.WithTimeout(ctx, s.cfg.CPWriteTimeout)
		err := n.Apply(wctx, cp.Command{Op: cp.OpOverrideDelete, Instance: &k})
		cancel()
		if err != nil {
			s.log.Warn("expired instance override not removed", "instance", id, "err", err)
			continue
		}
		delete(goneSince, id)
		s.log.Info("removed the override of a departed instance", "instance", id, "gone_for", now.Sub(since).String())
	}
	for id := range goneSince {
		if !seen[id] {
			delete(goneSince, id)
		}
	}
}
