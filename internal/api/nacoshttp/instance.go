package nacoshttp

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/netip"
	"sort"
	"strconv"
	"strings"

	"github.com/distrod/distrod/internal/api/nacoswire"
	"github.com/distrod/distrod/internal/cp"
	"github.com/distrod/distrod/internal/naming"
)

// Instance endpoints shared by v1 and v2; the envelope is the only
// difference, applied by writeOK/writeError.

func (c *call) register() (any, error) {
	k, in, err := c.instanceFromParams()
	if err != nil {
		return nil, err
	}
	if !in.Ephemeral {
		return c.registerPersistent(k, in)
	}
	id := naming.IPPortClientID(in.IP, in.Port)
	c.touch(naming.PubKey(id, k))
	c.s.store.AssignID(c.s.ids, c.nowMs(), id, k, &in)
	if err := c.s.store.Publish(c.nowMs(), id, k, naming.Publication{Instances: []naming.Instance{in}}); err != nil {
		return nil, withCode(err, codeInstanceError)
	}
	c.s.log.Debug("instance registered", "service", k.String(), "addr", in.Addr(), "cluster", in.ClusterName)
	return text("ok"), nil
}

func (c *call) deregister() (any, error) {
	k, err := c.serviceKey()
	if err != nil {
		return nil, err
	}
	ip, port, err := c.ipPort()
	if err != nil {
		return nil, err
	}
	if c.s.o.Control != nil && c.isPersistent(k, ip, port) {
		return c.deregisterPersistent(k, ip, port)
	}
	c.touch(naming.PubKey(naming.IPPortClientID(ip, port), k))
	// Nacos answers ok for an unknown instance (it only logs).
	if !c.s.store.Unpublish(c.nowMs(), naming.IPPortClientID(ip, port), k) {
		c.s.log.Debug("deregister of unknown instance", "service", k.String(), "ip", ip, "port", port)
	}
	return text("ok"), nil
}

// update is PUT /instance: weight, enabled and metadata of an existing
// instance of an existing service.
func (c *call) update() (any, error) {
	k, in, err := c.instanceFromParams()
	if err != nil {
		return nil, err
	}
	if !c.s.store.HasService(k) {
		return nil, serviceNotFound(k)
	}
	cluster := c.clusterParam("")
	if c.s.o.Control != nil {
		return c.updateOverride(k, in, cluster)
	}
	c.touch(naming.PubKey(naming.IPPortClientID(in.IP, in.Port), k))
	err = c.s.store.UpdateInstance(c.nowMs(), naming.IPPortClientID(in.IP, in.Port), k, in.IP, in.Port, cluster, func(x *naming.Instance) {
		x.Weight, x.Enabled, x.Metadata = in.Weight, in.Enabled, in.Metadata
	})
	if err != nil {
		return nil, withCode(err, codeInstanceError)
	}
	return text("ok"), nil
}

// patch is PATCH /instance: only the given fields change.
func (c *call) patch() (any, error) {
	k, err := c.serviceKey()
	if err != nil {
		return nil, err
	}
	ip, port, err := c.ipPort()
	if err != nil {
		return nil, err
	}
	var md map[string]string
	if c.optional("metadata", "") != "" {
		if md, err = parseMetadata(c.p.get("metadata")); err != nil {
			return nil, err
		}
	}
	hasWeight := c.optional("weight", "") != ""
	w, err := c.optFloat("weight", 1)
	if err != nil {
		return nil, err
	}
	if err := checkWeight(w); err != nil {
		return nil, err
	}
	enabled, hasEnabled := c.enabledParam(true)
	hasHealthy := c.optional("healthy", "") != ""
	healthy := c.optBool("healthy", true)
	if c.s.o.Control != nil && !hasHealthy {
		o := cp.Override{Metadata: md}
		if hasWeight {
			o.Weight = &w
		}
		if hasEnabled {
			o.Enabled = &enabled
		}
		return c.patchOverride(k, ip, port, o)
	}
	c.touch(naming.PubKey(naming.IPPortClientID(ip, port), k))
	err = c.s.store.UpdateInstance(c.nowMs(), naming.IPPortClientID(ip, port), k, ip, port, c.clusterParam(""), func(x *naming.Instance) {
		if md != nil {
			x.Metadata = md
		}
		if hasWeight {
			x.Weight = w
		}
		if hasEnabled {
			x.Enabled = enabled
		}
		if hasHealthy {
			x.Healthy = healthy
		}
	})
	if err != nil {
		return nil, withCode(err, codeInstanceError)
	}
	return text("ok"), nil
}

// instanceDetail is GET /instance.
type instanceDetail struct {
	Service     string            `json:"service,omitempty"`
	ServiceName string            `json:"serviceName,omitempty"`
	IP          string            `json:"ip"`
	Port        int               `json:"port"`
	ClusterName string            `json:"clusterName"`
	Weight      jfloat            `json:"weight"`
	Healthy     bool              `json:"healthy"`
	InstanceID  string            `json:"instanceId"`
	Metadata    map[string]string `json:"metadata"`
}

func (c *call) detail() (any, error) {
	k, err := c.serviceKey()
	if err != nil {
		return nil, err
	}
	ip, port, err := c.ipPort()
	if err != nil {
		return nil, err
	}
	cluster := c.clusterParam(naming.DefaultCluster)
	// An operator's read: disabled instances and real health, as Nacos's
	// GET /instance reads its service storage.
	v := c.s.store.Service(k, naming.Query{Clusters: []string{cluster}, Admin: true})
	if !v.Exists {
		return nil, newErr(http.StatusNotFound, codeServiceNotExist, "no service %s found!", k.Grouped())
	}
	if len(v.Hosts) == 0 {
		return nil, newErr(http.StatusNotFound, codeInstanceNotFound, "no ips found for cluster %s in service %s", cluster, k.Grouped())
	}
	for i := range v.Hosts {
		h := &v.Hosts[i]
		if h.IP == ip && h.Port == port {
			d := instanceDetail{IP: h.IP, Port: h.Port, ClusterName: h.ClusterName, Weight: jfloat(h.Weight),
				Healthy: h.Healthy, InstanceID: h.ID(k), Metadata: nonNilMap(h.Metadata)}
			if c.ep.v2 {
				d.ServiceName = k.Grouped()
			} else {
				d.Service = k.Grouped()
			}
			return d, nil
		}
	}
	return nil, newErr(http.StatusNotFound, codeInstanceNotFound, "no matched ip found!")
}

// list is GET /instance/list: a ServiceInfo with the grouped name that v1
// clients use as their cache key.
func (c *call) list() (any, error) {
	k, err := c.serviceKey()
	if err != nil {
		return nil, err
	}
	clusters := c.p.get("clusters")
	if c.ep.v2 && clusters == "" {
		clusters = c.p.get("clusterName")
	}
	udpPort, err := c.optInt("udpPort", 0)
	if err != nil {
		return nil, err
	}
	q := naming.Query{Clusters: naming.ParseClusters(clusters), HealthyOnly: c.optBool("healthyOnly", false), EnabledOnly: true}
	if udpPort > 0 && udpPort < 65536 && c.s.o.UDP != nil {
		c.subscribeUDP(k, clusters, uint16(udpPort))
	}
	v := c.s.store.Service(k, q)
	// The HTTP APIs stamp lastRefTime with the request's clock.
	return nacoswire.FromView(v, clusters, c.s.cacheMillis(), c.nowMs()), nil
}

// subscribeUDP registers the requester for UDP pushes. The datagrams go
// to the address the request came from (RemoteAddr, which forwarding
// preserves): a clientIP naming another host is honoured only for requests
// from Options.UDPTrustedNets, so nobody can aim pushes at a third party.
// The engine refuses non-unicast targets.
func (c *call) subscribeUDP(k naming.ServiceKey, clusters string, port uint16) {
	ap, err := netip.ParseAddrPort(c.r.RemoteAddr)
	if err != nil {
		c.s.log.Debug("udp subscription ignored: no remote address", "remote", c.r.RemoteAddr)
		return
	}
	ip := ap.Addr().Unmap()
	if text := c.optional("clientIP", ""); text != "" {
		claimed, err := netip.ParseAddr(text)
		switch {
		case err != nil:
			c.s.log.Debug("udp subscription: bad clientIP ignored", "clientIP", text, "remote", ip)
		case claimed.Unmap() != ip && c.s.trustedUDP(ip):
			ip = claimed.Unmap()
		case claimed.Unmap() != ip:
			c.s.log.Debug("udp subscription: clientIP differs from the remote address; pushing to the remote address",
				"clientIP", text, "remote", ip)
		}
	}
	ua := c.r.Header.Get("User-Agent")
	if ua == "" {
		ua = c.r.Header.Get("Client-Version")
	}
	c.s.o.UDP.SubscribeUDP(k, clusters, netip.AddrPortFrom(ip, port), ua)
}

func (s *server) trustedUDP(ip netip.Addr) bool {
	for _, p := range s.o.UDPTrustedNets {
		if p.Contains(ip) {
			return true
		}
	}
	return false
}

// beatResult is the beat answer; Nacos writes these three keys in this
// order, and it is never enveloped (v2 included).
type beatResult struct {
	ClientBeatInterval int64 `json:"clientBeatInterval"`
	Code               int   `json:"code"`
	LightBeatEnabled   bool  `json:"lightBeatEnabled"`
}

// beat is PUT /instance/beat. A light beat (no beat JSON) of an unknown
// instance answers code 20404; a full beat re-creates the instance, since
// the Go v1 client never re-registers.
func (c *call) beat() (any, error) {
	k, err := c.serviceKey()
	if err != nil {
		return nil, err
	}
	cluster := c.clusterParam(naming.DefaultCluster)
	ip := c.optional("ip", "")
	port, err := c.optInt("port", 0)
	if err != nil {
		return nil, err
	}
	var b *beatInfo
	if raw := strings.TrimSpace(c.p.get("beat")); raw != "" {
		// Parsed once for routing and here (leading and trailing space
		// do not change what the decoder reads).
		if b, err = c.parsedBeat(); err != nil {
			return nil, err
		}
		if b.Cluster != "" {
			cluster = b.Cluster
		}
		ip = b.IP
		if port, err = b.port(); err != nil {
			return nil, err
		}
	}
	sw := c.s.switches()
	res := beatResult{ClientBeatInterval: sw.ClientBeatInterval, Code: codeBeatOK, LightBeatEnabled: sw.LightBeatEnabled}
	id := naming.IPPortClientID(ip, port)
	c.touch(naming.PubKey(id, k))
	now := c.nowMs()
	if !c.s.store.Beat(now, id, k, ip, port) {
		if b == nil {
			res.Code = codeBeatUnknownInstance
			return res, nil
		}
		in := naming.Instance{IP: ip, Port: port, Weight: 1, Healthy: true, Enabled: true, Ephemeral: true, ClusterName: cluster}
		if b.Weight != nil {
			in.Weight = *b.Weight
		}
		if err := checkWeight(in.Weight); err != nil {
			return nil, err
		}
		if in.Metadata, err = b.metadata(); err != nil {
			return nil, err
		}
		if err := c.s.store.Publish(now, id, k, naming.Publication{Instances: []naming.Instance{in}}); err != nil {
			return nil, withCode(err, codeInstanceError)
		}
		c.s.log.Info("instance re-created from beat", "service", k.String(), "addr", in.Addr(), "cluster", cluster)
	}
	// The beaten instance's own interval: a lookup in its client, not a
	// walk over every publisher of the service on each beat.
	iv, ok := c.s.store.InstanceMeta(id, k, ip, port, naming.MetaBeatInterval)
	if !ok {
		if in, _, found := c.s.store.FindInstance(k, ip, port, ""); found {
			iv = in.Metadata[naming.MetaBeatInterval]
		}
	}
	if v, err := strconv.ParseInt(iv, 10, 64); err == nil && v > 0 {
		res.ClientBeatInterval = v
	}
	return res, nil
}

// statuses is /instance/statuses?key=namespace##group@@service.
func (c *call) statuses() (any, error) {
	key, err := c.required("key", "String")
	if err != nil {
		return nil, err
	}
	ns, name, ok := strings.Cut(key, "##")
	if !ok {
		ns, name = naming.DefaultNamespace, key
	}
	k, err := naming.ParseServiceKey(ns, name, "")
	if err != nil {
		return nil, withCode(err, codeServiceNameError)
	}
	v := c.s.store.Service(k, naming.Query{Admin: true})
	ips := make([]string, 0, len(v.Hosts))
	for _, h := range v.Hosts {
		ips = append(ips, h.Addr()+"_"+strconv.FormatBool(h.Healthy))
	}
	return struct {
		IPs []string `json:"ips"`
	}{ips}, nil
}

// metadataBatch is PUT (merge) and DELETE (remove keys) of
// /instance/metadata/batch. Instances not found are skipped; the answer
// lists those updated.
func (c *call) metadataBatch(remove bool) (any, error) {
	k, err := c.serviceKey()
	if err != nil {
		return nil, err
	}
	md, err := parseMetadata(c.p.get("metadata"))
	if err != nil {
		return nil, err
	}
	if c.optional("metadata", "") == "" {
		return nil, missingParam(c.ep.v2, "metadata", "String")
	}
	// As Nacos: "persist" selects the persistent instances, anything else
	// the ephemeral ones.
	persist := c.optional("consistencyType", "ephemeral") == "persist"
	if persist && c.s.o.Control == nil {
		return nil, newErr(http.StatusBadRequest, codeParameterValidate, "persistent instances need the control plane: consistencyType \"persist\" is not supported here")
	}
	targets, err := c.batchTargets(k)
	if err != nil {
		return nil, err
	}
	if c.s.o.Control != nil {
		return c.metadataBatchOverride(k, md, remove, targets, persist)
	}
	updated := []string{}
	for _, t := range targets {
		c.touch(naming.PubKey(naming.IPPortClientID(t.IP, t.Port), k))
		err := c.s.store.UpdateInstance(c.nowMs(), naming.IPPortClientID(t.IP, t.Port), k, t.IP, t.Port, t.ClusterName, func(x *naming.Instance) {
			m := make(map[string]string, len(x.Metadata)+len(md))
			for kk, vv := range x.Metadata {
				m[kk] = vv
			}
			for kk, vv := range md {
				if remove {
					delete(m, kk)
				} else {
					m[kk] = vv
				}
			}
			x.Metadata = m
		})
		if err != nil {
			c.s.log.Debug("metadata batch skipped instance", "addr", t.Addr(), "err", err)
			continue
		}
		updated = append(updated, fmt.Sprintf("%s:%d:unknown:%s:ephemeral", t.IP, t.Port, t.ClusterName))
	}
	return struct {
		Updated []string `json:"updated"`
	}{updated}, nil
}

// batchTargets reads the instances parameter (a JSON array of instances);
// when it is empty every instance of the service is a target.
func (c *call) batchTargets(k naming.ServiceKey) ([]naming.Instance, error) {
	raw := strings.TrimSpace(c.p.get("instances"))
	if raw == "" || raw == "[]" {
		v := c.s.store.Service(k, naming.Query{})
		return v.Hosts, nil
	}
	var list []struct {
		IP          string      `json:"ip"`
		Port        json.Number `json:"port"`
		ClusterName string      `json:"clusterName"`
	}
	if err := json.Unmarshal([]byte(raw), &list); err != nil {
		return nil, newErr(http.StatusBadRequest, codeParameterValidate, "instances is not a JSON array of instances: %v", err)
	}
	out := make([]naming.Instance, 0, len(list))
	for _, x := range list {
		p, err := strconv.Atoi(string(x.Port))
		if err != nil {
			return nil, badNumber(string(x.Port))
		}
		if x.ClusterName == "" {
			x.ClusterName = naming.DefaultCluster
		}
		out = append(out, naming.Instance{IP: x.IP, Port: p, ClusterName: x.ClusterName})
	}
	sort.SliceStable(out, func(i, j int) bool { return out[i].Addr() < out[j].Addr() })
	return out, nil
}

// tagBatch routes a metadata batch by its first instance (Nacos routes it
// by ip/port, which batch requests rarely carry).
func tagBatch(c *call) (string, bool) {
	if t, ok := tagIPPort(c); ok {
		return t, true
	}
	var list []struct {
		IP   string      `json:"ip"`
		Port json.Number `json:"port"`
	}
	if json.Unmarshal([]byte(c.p.get("instances")), &list) != nil || len(list) == 0 || list[0].IP == "" {
		return "", false
	}
	return list[0].IP + ":" + string(list[0].Port), true
}
