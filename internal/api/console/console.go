package console

import (
	"context"
	"embed"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"net/http"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/distrod/distrod/internal/naming"
	"github.com/distrod/distrod/internal/push"
)

//go:embed ui
var uiFiles embed.FS

// APIPrefix is where the console's JSON API is mounted.
const APIPrefix = "/distrod/console/"

// Options configures the console returned by New.
type Options struct {
	// Store is the naming store the pages read. Required.
	Store *naming.Store
	// Subscribers lists a service's subscribers on this node. nil shows none.
	Subscribers func(naming.ServiceKey) []push.Subscriber
	// Cluster reports every member's status, as seen from this node. nil
	// shows this node only.
	Cluster func(ctx context.Context) []NodeReport
	// Peers lists the other members' addresses (HTTP ip:port). nil means
	// standalone.
	Peers func(ctx context.Context) []string
	// PeerGet GETs pathQuery from a member's HTTP port with the given
	// headers and returns the body of a 200 answer; other answers are
	// errors that say what happened. Required with Peers.
	PeerGet func(ctx context.Context, addr, pathQuery string, h http.Header) ([]byte, error)
	// ContextPath is the Nacos context path ("/nacos"; "" for the root).
	ContextPath string
	// Self is this node's address.
	Self string
	// AuthEnabled tells the page to ask for a login.
	AuthEnabled bool
	// Protect wraps the API handlers that need a logged-in admin; nil
	// leaves them open (auth off).
	Protect func(http.Handler) http.Handler
	// Logger receives structured logs. Default slog.Default().
	Logger *slog.Logger
	// Namespaces, when set, returns the namespaces an operator created
	// (the control plane); they are listed even without services.
	Namespaces func() []string
}

// NodeReport is one member's status for the cluster page.
type NodeReport struct {
	Address string `json:"address"`
	// Self marks the node that answered the page.
	Self bool `json:"self"`
	// Status is the member's /distrod/status answer; nil when Error is set.
	Status json.RawMessage `json:"status,omitempty"`
	// Error says in words why the status could not be read.
	Error string `json:"error,omitempty"`
	// DigestDiffers is set when this member's digest differs from the one
	// most members report.
	DigestDiffers bool `json:"digestDiffers"`
}

// Console serves the pages and the console API.
type Console struct {
	o   Options
	ui  http.Handler
	api *http.ServeMux
}

// New returns the console.
func New(o Options) (*Console, error) {
	if o.Store == nil {
		return nil, errors.New("console: Options.Store is required")
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	o.ContextPath = "/" + strings.Trim(o.ContextPath, "/")
	if o.ContextPath == "/" {
		o.ContextPath = ""
	}
	sub, err := fs.Sub(uiFiles, "ui")
	if err != nil {
		return nil, fmt.Errorf("console: embedded files: %w", err)
	}
	c := &Console{o: o, api: http.NewServeMux()}
	c.ui = http.StripPrefix(o.ContextPath+"/console-ui/", http.FileServerFS(sub))
	protect := o.Protect
	if protect == nil {
		protect = func(h http.Handler) http.Handler { return h }
	}
	c.api.Handle("GET "+APIPrefix+"info", http.HandlerFunc(c.info))
	c.api.Handle("GET "+APIPrefix+"namespaces", protect(http.HandlerFunc(c.namespaces)))
	c.api.Handle("GET "+APIPrefix+"services", protect(http.HandlerFunc(c.services)))
	c.api.Handle("GET "+APIPrefix+"service", protect(http.HandlerFunc(c.service)))
	c.api.Handle("GET "+APIPrefix+"subscribers", protect(http.HandlerFunc(c.subscribers)))
	c.api.Handle("GET "+APIPrefix+"cluster", protect(http.HandlerFunc(c.cluster)))
	return c, nil
}

// Mount registers the console's routes on mux: the page at the context
// path's root, its assets, the API, and a redirect from "/" to the page.
func (c *Console) Mount(mux *http.ServeMux) {
	cp := c.o.ContextPath
	mux.HandleFunc("GET "+cp+"/{$}", c.index)
	mux.Handle("GET "+cp+"/console-ui/", c.ui)
	mux.Handle(APIPrefix, c.api)
	if cp != "" {
		mux.HandleFunc("GET /{$}", func(w http.ResponseWriter, r *http.Request) {
			http.Redirect(w, r, cp+"/", http.StatusFound)
		})
		mux.HandleFunc("GET "+cp, func(w http.ResponseWriter, r *http.Request) {
			http.Redirect(w, r, cp+"/", http.StatusFound)
		})
	}
}

func (c *Console) index(w http.ResponseWriter, r *http.Request) {
	b, err := uiFiles.ReadFile("ui/index.html")
	if err != nil {
		http.Error(w, "console page missing", http.StatusInternalServerError)
		return
	}
	// The page finds its assets and the API relative to the context path.
	page := strings.ReplaceAll(string(b), "{{CP}}", c.o.ContextPath)
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "no-cache")
	_, _ = w.Write([]byte(page))
}

func (c *Console) info(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusOK, map[string]any{
		"authEnabled": c.o.AuthEnabled, "contextPath": c.o.ContextPath, "self": c.o.Self,
	})
}

// NamespaceRow is one row of the namespaces page.
type NamespaceRow struct {
	Namespace string `json:"namespace"`
	Services  int    `json:"services"`
	Instances int    `json:"instances"`
	Healthy   int    `json:"healthy"`
}

func (c *Console) namespaces(w http.ResponseWriter, r *http.Request) {
	out := []NamespaceRow{}
	names := c.o.Store.Namespaces()
	created := map[string]bool{}
	if c.o.Namespaces != nil {
		for _, ns := range c.o.Namespaces() {
			created[ns] = true
			if !slices.Contains(names, ns) {
				names = append(names, ns)
			}
		}
		slices.Sort(names)
	}
	for _, ns := range names {
		row := NamespaceRow{Namespace: ns}
		for _, s := range c.o.Store.Services(ns, nil) {
			row.Services++
			row.Instances += s.InstanceCount
			row.Healthy += s.HealthyCount
		}
		if row.Services > 0 || created[ns] {
			out = append(out, row)
		}
	}
	writeJSON(w, http.StatusOK, map[string]any{"namespaces": out})
}

// ServiceRow is one row of the services page.
type ServiceRow struct {
	Name      string `json:"name"`
	Group     string `json:"group"`
	Clusters  int    `json:"clusters"`
	Instances int    `json:"instances"`
	Healthy   int    `json:"healthy"`
	// Explicit is set for a service created with metadata (it may be empty).
	Explicit bool `json:"explicit"`
}

func (c *Console) services(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	ns := q.Get("namespaceId")
	name, group := strings.ToLower(q.Get("name")), strings.ToLower(q.Get("group"))
	pageNo, err := intParam(q.Get("pageNo"), 1, 1, 1<<30)
	if err != nil {
		writeError(w, http.StatusBadRequest, "pageNo: "+err.Error())
		return
	}
	pageSize, err := intParam(q.Get("pageSize"), 20, 1, 500)
	if err != nil {
		writeError(w, http.StatusBadRequest, "pageSize: "+err.Error())
		return
	}
	emptyOnly := q.Get("empty") == "true"
	sums := c.o.Store.Services(ns, func(k naming.ServiceKey) bool {
		return strings.Contains(strings.ToLower(k.Name), name) && strings.Contains(strings.ToLower(k.Group), group)
	})
	if emptyOnly {
		kept := sums[:0]
		for _, s := range sums {
			if s.InstanceCount == 0 {
				kept = append(kept, s)
			}
		}
		sums = kept
	}
	from := min((pageNo-1)*pageSize, len(sums))
	to := min(from+pageSize, len(sums))
	rows := make([]ServiceRow, 0, to-from)
	for _, s := range sums[from:to] {
		rows = append(rows, ServiceRow{Name: s.Key.Name, Group: s.Key.Group, Clusters: s.ClusterCount,
			Instances: s.InstanceCount, Healthy: s.HealthyCount, Explicit: s.Explicit})
	}
	writeJSON(w, http.StatusOK, map[string]any{"namespace": naming.NormalizeNamespace(ns),
		"count": len(sums), "pageNo": pageNo, "pageSize": pageSize, "services": rows})
}

// InstanceRow is one instance on the service page.
type InstanceRow struct {
	IP        string            `json:"ip"`
	Port      int               `json:"port"`
	Cluster   string            `json:"cluster"`
	Weight    float64           `json:"weight"`
	Healthy   bool              `json:"healthy"`
	Enabled   bool              `json:"enabled"`
	Ephemeral bool              `json:"ephemeral"`
	Metadata  map[string]string `json:"metadata"`
	// Client is the id of the client that registered it: "ip:port#true"
	// for HTTP clients, the connection id for gRPC clients.
	Client string `json:"client"`
	// Via is "http" or "grpc".
	Via string `json:"via"`
	// Owner is the node responsible for the client.
	Owner string `json:"owner"`
	// Editable is false for gRPC instances: they belong to their connection.
	Editable bool `json:"editable"`
}

// SubscriberRow is one subscriber on the service page.
type SubscriberRow struct {
	Target   string `json:"target"`
	Clusters string `json:"clusters"`
	Via      string `json:"via"`
	Agent    string `json:"agent,omitempty"`
}

func (c *Console) service(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	k, err := naming.ParseServiceKey(q.Get("namespaceId"), q.Get("serviceName"), q.Get("groupName"))
	if err != nil {
		writeError(w, http.StatusBadRequest, err.Error())
		return
	}
	// An operator's view: real health, with whether clients now get every
	// instance because of the protection threshold.
	v := c.o.Store.Service(k, naming.Query{Admin: true})
	reach := c.o.Store.Service(k, naming.Query{}).ReachProtectionThreshold
	if !v.Exists {
		writeError(w, http.StatusNotFound, "service "+k.Grouped()+" not found in namespace "+k.Namespace)
		return
	}
	insts := make([]InstanceRow, 0, len(v.Hosts))
	for i := range v.Hosts {
		h := &v.Hosts[i]
		row := InstanceRow{IP: h.IP, Port: h.Port, Cluster: h.ClusterName, Weight: h.Weight, Healthy: h.Healthy,
			Enabled: h.Enabled, Ephemeral: h.Ephemeral, Metadata: h.Metadata}
		if row.Metadata == nil {
			row.Metadata = map[string]string{}
		}
		if _, id, ok := c.o.Store.FindInstance(k, h.IP, h.Port, h.ClusterName); ok {
			row.Client = id
			if cv, ok := c.o.Store.Client(id); ok {
				row.Owner = cv.Meta.Owner
				row.Via = "http"
				if cv.Kind == naming.KindConnection {
					row.Via = "grpc"
				}
			}
		}
		row.Editable = row.Via == "http"
		insts = append(insts, row)
	}
	meta := v.Meta.Metadata
	if meta == nil {
		meta = map[string]string{}
	}
	clusters := v.Clusters
	if clusters == nil {
		clusters = []string{}
	}
	writeJSON(w, http.StatusOK, map[string]any{
		"namespace": k.Namespace, "group": k.Group, "name": k.Name,
		"protectThreshold": v.Meta.ProtectThreshold, "metadata": meta,
		"reachProtectionThreshold": reach,
		"clusters":                 clusters, "instances": insts, "node": c.o.Self,
	})
}

// NodeSubscribers are the subscribers of a service on one member.
type NodeSubscribers struct {
	Node        string          `json:"node"`
	Subscribers []SubscriberRow `json:"subscribers"`
	// Error says why the member could not be asked.
	Error string `json:"error,omitempty"`
}

// subscribers lists a service's subscribers on every member: this node's
// from its push engine, the others' from their own console API (local=true),
// asked with the caller's credentials.
func (c *Console) subscribers(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	k, err := naming.ParseServiceKey(q.Get("namespaceId"), q.Get("serviceName"), q.Get("groupName"))
	if err != nil {
		writeError(w, http.StatusBadRequest, err.Error())
		return
	}
	out := []NodeSubscribers{c.localSubscribers(k)}
	if q.Get("local") != "true" && c.o.Peers != nil && c.o.PeerGet != nil {
		ctx, cancel := context.WithTimeout(r.Context(), 3*time.Second)
		defer cancel()
		q.Set("local", "true")
		h := http.Header{}
		if a := r.Header.Get("Authorization"); a != "" {
			h.Set("Authorization", a)
		}
		peers := c.o.Peers(ctx)
		res := make([]NodeSubscribers, len(peers))
		var wg sync.WaitGroup
		for i, addr := range peers {
			res[i].Node = addr
			wg.Add(1)
			go func() {
				defer wg.Done()
				b, err := c.o.PeerGet(ctx, addr, APIPrefix+"subscribers?"+q.Encode(), h)
				if err != nil {
					res[i].Error = err.Error()
					return
				}
				var got struct {
					Nodes []NodeSubscribers `json:"nodes"`
				}
				if err := json.Unmarshal(b, &got); err != nil || len(got.Nodes) != 1 {
					res[i].Error = fmt.Sprintf("%s answered an unexpected subscriber list", addr)
					return
				}
				res[i] = got.Nodes[0]
			}()
		}
		wg.Wait()
		out = append(out, res...)
	}
	writeJSON(w, http.StatusOK, map[string]any{"nodes": out})
}

func (c *Console) localSubscribers(k naming.ServiceKey) NodeSubscribers {
	ns := NodeSubscribers{Node: c.o.Self, Subscribers: []SubscriberRow{}}
	if c.o.Subscribers == nil {
		return ns
	}
	for _, s := range c.o.Subscribers(k) {
		row := SubscriberRow{Target: s.Target, Clusters: s.Clusters, Via: "grpc"}
		if s.UDP.IsValid() {
			row.Via, row.Agent = "udp", s.UserAgent
		}
		ns.Subscribers = append(ns.Subscribers, row)
	}
	return ns
}

func (c *Console) cluster(w http.ResponseWriter, r *http.Request) {
	if c.o.Cluster == nil {
		writeJSON(w, http.StatusOK, map[string]any{"nodes": []NodeReport{}})
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), 4*time.Second)
	defer cancel()
	nodes := c.o.Cluster(ctx)
	MarkDigests(nodes)
	writeJSON(w, http.StatusOK, map[string]any{"nodes": nodes, "self": c.o.Self})
}

// MarkDigests sets DigestDiffers on every report whose digest is not the
// one most reachable members report (ties go to the smaller digest, so the
// answer does not depend on order).
func MarkDigests(nodes []NodeReport) {
	digests := make([]string, len(nodes))
	count := map[string]int{}
	for i, n := range nodes {
		var st struct {
			Digest string `json:"digest"`
		}
		if n.Status == nil || json.Unmarshal(n.Status, &st) != nil || st.Digest == "" {
			continue
		}
		digests[i] = st.Digest
		count[st.Digest]++
	}
	keys := make([]string, 0, len(count))
	for d := range count {
		keys = append(keys, d)
	}
	sort.Strings(keys)
	best := ""
	for _, d := range keys {
		if count[d] > count[best] {
			best = d
		}
	}
	for i := range nodes {
		nodes[i].DigestDiffers = digests[i] != "" && digests[i] != best
	}
}

func intParam(s string, def, lo, hi int) (int, error) {
	if s == "" {
		return def, nil
	}
	n, err := strconv.Atoi(s)
	if err != nil {
		return 0, fmt.Errorf("%q is not a number", s)
	}
	if n < lo || n > hi {
		return 0, fmt.Errorf("%d is out of range [%d, %d]", n, lo, hi)
	}
	return n, nil
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

// writeError answers {"error": msg}: the page shows msg as it is.
func writeError(w http.ResponseWriter, status int, msg string) {
	writeJSON(w, status, map[string]string{"error": msg})
}
