package server

import (
	"context"
	"encoding/json"
	"net"
	"net/http"
	"net/url"
	"sort"
	"strconv"
	"sync"
	"time"

	"github.com/distrod/distrod/internal/sysload"
)

// loaderFactor is Nacos's RemoteUtils.LOADER_FACTOR: a member asked to
// shed connections keeps at least 90% of them per request.
const loaderFactor = 0.1

// resetTimeout bounds the wait for a client's ConnectResetResponse, as
// Nacos's loadSingle does.
const resetTimeout = 3 * time.Second

// loader implements nacoshttp.Loader: Nacos's ServerLoaderController
// with the member-to-member ServerLoaderInfo and ServerReload requests
// carried over HTTP (the metrics in /distrod/status, the reload as the
// member's own /v2/core/loader/reloadCurrent with the caller's
// credentials).
type loader struct {
	s   *Server
	cpu sysload.Sampler
}

// metrics is this node's ServerLoaderInfoResponse.loaderMetrics: every
// value a string, as Nacos sends them.
func (l *loader) metrics() map[string]string {
	infos := l.s.grpc.ConnectionInfos()
	sdk := 0
	for _, ci := range infos {
		if ci.SDKSource() {
			sdk++
		}
	}
	return map[string]string{
		"conCount":    strconv.Itoa(len(infos)),
		"sdkConCount": strconv.Itoa(sdk),
		"load":        strconv.FormatFloat(sysload.Load(), 'f', -1, 64),
		"cpu":         strconv.FormatFloat(l.cpu.CPU(), 'f', 4, 64),
	}
}

// nacosConnection is a connection in the shape of Nacos's Connection as
// /v2/core/loader/current serializes it.
type nacosConnection struct {
	AbilityTable map[string]bool   `json:"abilityTable"`
	Labels       map[string]string `json:"labels"`
	Traced       bool              `json:"traced"`
	Connected    bool              `json:"connected"`
	MetaInfo     nacosConnMeta     `json:"metaInfo"`
}

type nacosConnMeta struct {
	ConnectType    string            `json:"connectType"`
	ClientIP       string            `json:"clientIp"`
	RemoteIP       string            `json:"remoteIp"`
	RemotePort     int               `json:"remotePort"`
	LocalPort      int               `json:"localPort"`
	Version        string            `json:"version"`
	ConnectionID   string            `json:"connectionId"`
	CreateTime     int64             `json:"createTime"`
	LastActiveTime int64             `json:"lastActiveTime"`
	AppName        string            `json:"appName"`
	Tenant         string            `json:"tenant"`
	NamespaceID    string            `json:"namespaceId"`
	Labels         map[string]string `json:"labels"`
	SDKSource      bool              `json:"sdkSource"`
	ClusterSource  bool              `json:"clusterSource"`
	TLSProtected   bool              `json:"tlsProtected"`
}

// Current implements nacoshttp.Loader.
func (l *loader) Current() any {
	out := map[string]nacosConnection{}
	tlsOn := l.s.tls.grpc != nil
	for _, ci := range l.s.grpc.ConnectionInfos() {
		labels := ci.Labels
		if labels == nil {
			labels = map[string]string{}
		}
		out[ci.ID] = nacosConnection{AbilityTable: ci.AbilityTable, Labels: labels, Connected: true,
			MetaInfo: nacosConnMeta{ConnectType: "GRPC", ClientIP: ci.ClientIP, RemoteIP: ci.Remote.Addr().String(),
				RemotePort: int(ci.Remote.Port()), LocalPort: l.s.cfg.GRPCPort(), Version: ci.ClientVersion,
				ConnectionID: ci.ID, CreateTime: ci.Created.UnixMilli(), LastActiveTime: ci.LastActive.UnixMilli(),
				AppName: ci.AppName(), Tenant: ci.Tenant, NamespaceID: ci.Tenant, Labels: labels,
				SDKSource: ci.SDKSource(), ClusterSource: labels["source"] == "cluster", TLSProtected: tlsOn}}
	}
	return out
}

// ReloadCount implements nacoshttp.Loader: like Nacos's connection
// ejector, it asks connections beyond count (SDK ones only, newest first)
// to move, and waits for their acks.
func (l *loader) ReloadCount(ctx context.Context, count int, redirect string) {
	infos := l.s.grpc.ConnectionInfos()
	eject := len(infos) - count
	if count < 0 || eject <= 0 {
		return
	}
	var ids []string
	for i := len(infos) - 1; i >= 0 && len(ids) < eject; i-- {
		if infos[i].SDKSource() {
			ids = append(ids, infos[i].ID)
		}
	}
	l.s.log.Info("loader: moving connections", "count", len(ids), "keep", count, "redirect", redirect)
	l.reset(ctx, ids, redirect)
}

// ReloadClient implements nacoshttp.Loader.
func (l *loader) ReloadClient(ctx context.Context, id, redirect string) {
	for _, ci := range l.s.grpc.ConnectionInfos() {
		if ci.ID == id && ci.SDKSource() {
			l.reset(ctx, []string{id}, redirect)
		}
	}
}

// reset sends ConnectResetRequest to every connection in ids at once.
func (l *loader) reset(ctx context.Context, ids []string, redirect string) {
	ip, port := "", 0
	if h, p, err := net.SplitHostPort(redirect); err == nil {
		ip, port = h, atoiOr(p, 0)
	}
	var wg sync.WaitGroup
	for _, id := range ids {
		wg.Add(1)
		go func() {
			defer wg.Done()
			rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), resetTimeout)
			defer cancel()
			if err := l.s.grpc.ResetConnection(rctx, id, ip, port); err != nil {
				l.s.log.Warn("loader: connection reset failed", "conn", id, "err", err)
			}
		}()
	}
	wg.Wait()
}

func atoiOr(s string, def int) int {
	n, err := strconv.Atoi(s)
	if err != nil {
		return def
	}
	return n
}

// memberLoad is one entry of /v2/core/loader/cluster's detail.
type memberLoad struct {
	Address string            `json:"address"`
	Metric  map[string]string `json:"metric"`
}

// clusterLoad is /v2/core/loader/cluster.
type clusterLoad struct {
	Detail       []memberLoad `json:"detail"`
	MemberCount  int          `json:"memberCount"`
	MetricsCount int          `json:"metricsCount"`
	Completed    bool         `json:"completed"`
	Max          int          `json:"max"`
	Min          int          `json:"min"`
	Avg          int          `json:"avg"`
	Threshold    float64      `json:"threshold"`
	Total        int          `json:"total"`
}

// Cluster implements nacoshttp.Loader: this node's metrics and every
// member's that answers within a second (Nacos's wait).
func (l *loader) Cluster(ctx context.Context, _ *http.Request) any { return l.cluster(ctx) }

func (l *loader) cluster(ctx context.Context) clusterLoad {
	self := l.s.cfg.SelfAddr()
	members := []string{self}
	if l.s.cluster != nil {
		members = append(members, l.s.peers(ctx)...)
	}
	ctx, cancel := context.WithTimeout(ctx, time.Second)
	defer cancel()
	res := make([]*memberLoad, len(members))
	var wg sync.WaitGroup
	for i, addr := range members {
		if addr == self {
			res[i] = &memberLoad{Address: self, Metric: l.metrics()}
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			b, err := l.s.peerGet(ctx, addr, "/distrod/status", nil)
			if err != nil {
				l.s.log.Debug("loader: member metrics unavailable", "member", addr, "err", err)
				return
			}
			var st NodeStatus
			if err := json.Unmarshal(b, &st); err != nil || st.Loader == nil {
				return
			}
			res[i] = &memberLoad{Address: addr, Metric: st.Loader}
		}()
	}
	wg.Wait()
	out := clusterLoad{MemberCount: len(members), Min: -1, Detail: []memberLoad{}}
	for _, m := range res {
		if m == nil {
			continue
		}
		out.Detail = append(out.Detail, *m)
		v, err := strconv.Atoi(m.Metric["sdkConCount"])
		if err != nil {
			continue
		}
		if out.Max == 0 || v > out.Max {
			out.Max = v
		}
		if out.Min == -1 || v < out.Min {
			out.Min = v
		}
		out.Total += v
	}
	sort.Slice(out.Detail, func(i, j int) bool { return out.Detail[i].Address < out.Detail[j].Address })
	out.MetricsCount = len(out.Detail)
	out.Completed = out.MetricsCount == out.MemberCount
	if out.MetricsCount > 0 {
		out.Avg = out.Total / out.MetricsCount
		out.Threshold = float64(out.Avg) * 1.1
	}
	return out
}

// SmartReload implements nacoshttp.Loader with Nacos's pairing: members
// over avg*(1+factor), most loaded first, each shed to one member under
// avg*(1-factor), least loaded first.
func (l *loader) SmartReload(ctx context.Context, r *http.Request, factor float64) bool {
	cl := l.cluster(ctx)
	over := int(float64(cl.Avg) * (1 + factor))
	low := int(float64(cl.Avg) * (1 - factor))
	sdk := func(m memberLoad) int { return atoiOr(m.Metric["sdkConCount"], 0) }
	var hi, lo []memberLoad
	for _, m := range cl.Detail {
		if n := sdk(m); n > over {
			hi = append(hi, m)
		} else if n < low {
			lo = append(lo, m)
		}
	}
	sort.SliceStable(hi, func(i, j int) bool { return sdk(hi[i]) > sdk(hi[j]) })
	sort.SliceStable(lo, func(i, j int) bool { return sdk(lo[i]) < sdk(lo[j]) })
	ok := true
	for i := 0; i < len(hi) && i < len(lo); i++ {
		// ServerReloadRequest's handler: a member keeps at least 90% of
		// its SDK connections per request.
		n := sdk(hi[i])
		if n <= over {
			continue
		}
		keep := max(over, int(float64(n)*(1-loaderFactor)))
		l.s.log.Info("loader: smart reload", "from", hi[i].Address, "to", lo[i].Address, "keep", keep)
		if hi[i].Address == l.s.cfg.SelfAddr() {
			l.ReloadCount(ctx, keep, lo[i].Address)
			continue
		}
		q := url.Values{"count": {strconv.Itoa(keep)}, "redirectAddress": {lo[i].Address}}
		if t := r.URL.Query().Get("accessToken"); t != "" {
			q.Set("accessToken", t)
		}
		if _, err := l.s.peerDo(ctx, hi[i].Address, l.s.cfg.ContextPath+"/v2/core/loader/reloadCurrent?"+q.Encode(), callerCredentials(r)); err != nil {
			l.s.log.Warn("loader: member reload failed", "member", hi[i].Address, "err", err)
			ok = false
		}
	}
	return ok
}
