package server

import (
	"context"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/distrod/distrod/internal/cp"
)

// This file serves Nacos's core cluster API (/v1/core/cluster/*,
// /v2/core/cluster/*) and /v1/console/server/state from this node's
// member view. Membership comes from the configuration (static list,
// cluster.conf or DNS), so the endpoints that would change it answer as
// Nacos does when it refuses (leave, delete) or say why not (lookup).

// nacosMember is a member in the shape of Nacos's Member.
type nacosMember struct {
	IP                string         `json:"ip"`
	Port              int            `json:"port"`
	State             string         `json:"state"`
	ExtendInfo        map[string]any `json:"extendInfo"`
	Address           string         `json:"address"`
	FailAccessCnt     int            `json:"failAccessCnt"`
	Abilities         memberAbility  `json:"abilities"`
	GrpcReportEnabled bool           `json:"grpcReportEnabled"`
}

// memberAbility is Nacos's ServerAbilities of a member.
type memberAbility struct {
	RemoteAbility struct {
		SupportRemoteConnection bool `json:"supportRemoteConnection"`
		GrpcReportEnabled       bool `json:"grpcReportEnabled"`
	} `json:"remoteAbility"`
	ConfigAbility struct {
		SupportRemoteMetrics bool `json:"supportRemoteMetrics"`
	} `json:"configAbility"`
	NamingAbility struct {
		SupportJraft bool `json:"supportJraft"`
	} `json:"namingAbility"`
}

func (s *Server) nacosMembers(ctx context.Context) ([]nacosMember, error) {
	st, err := s.Status(ctx)
	if err != nil {
		return nil, err
	}
	now := time.Now().UnixMilli()
	var ab memberAbility
	ab.RemoteAbility.SupportRemoteConnection, ab.RemoteAbility.GrpcReportEnabled = true, true
	// The control plane is a Raft group on every node, standalone too.
	ab.NamingAbility.SupportJraft = true
	out := make([]nacosMember, 0, len(st.Members))
	for _, m := range st.Members {
		host, port, _ := net.SplitHostPort(m.Address)
		p, _ := strconv.Atoi(port)
		ext := map[string]any{"version": "distrod " + buildVersion(), "readyToUpgrade": true, "raftPort": strconv.Itoa(p + s.cfg.RaftPortOffset)}
		if m.State == "UP" {
			// This node's view is refreshed by its probes: an UP member
			// answered within the last probe interval.
			ext["lastRefreshTime"] = now
		}
		out = append(out, nacosMember{IP: host, Port: p, State: m.State, Address: m.Address, ExtendInfo: ext,
			Abilities: ab, GrpcReportEnabled: true})
	}
	return out, nil
}

// restResult is Nacos's RestResult (v1 core API), fields in its order.
type restResult struct {
	Code    int     `json:"code"`
	Message *string `json:"message"`
	Data    any     `json:"data"`
}

// v2Result is Nacos's v2 Result.
type v2Result struct {
	Code    int    `json:"code"`
	Message string `json:"message"`
	Data    any    `json:"data"`
}

// restOK writes a RestResult success.
func restOK(w http.ResponseWriter, data any) {
	writeJSON(w, http.StatusOK, restResult{Code: 200, Data: data})
}

// restFailed writes a RestResult failure with HTTP 200, as Nacos does.
func restFailed(w http.ResponseWriter, code int, msg string) {
	writeJSON(w, http.StatusOK, restResult{Code: code, Message: &msg})
}

// v2OK writes a v2 Result success.
func v2OK(w http.ResponseWriter, data any) {
	writeJSON(w, http.StatusOK, v2Result{Code: 0, Message: "success", Data: data})
}

// v2Failed writes a v2 Result failure.
func v2Failed(w http.ResponseWriter, status, code int, msg string) {
	writeJSON(w, status, v2Result{Code: code, Message: msg})
}

// methodOnly wraps h so that other methods get 405.
func methodOnly(method string, h http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if r.Method != method {
			w.Header().Set("Allow", method)
			http.Error(w, "Request method '"+r.Method+"' is not supported", http.StatusMethodNotAllowed)
			return
		}
		h(w, r)
	}
}

// coreHandlers are the core cluster endpoints, keyed by path below the
// context path (nacoshttp.Options.Extra).
func (s *Server) coreHandlers() map[string]http.Handler {
	return map[string]http.Handler{
		"/v1/core/cluster/nodes":         methodOnly(http.MethodGet, s.handleNodes),
		"/v1/core/cluster/self":          methodOnly(http.MethodGet, s.handleSelf),
		"/v1/core/cluster/simple/nodes":  methodOnly(http.MethodGet, s.handleSimpleNodes),
		"/v1/core/cluster/health":        methodOnly(http.MethodGet, s.handleHealth),
		"/v1/core/cluster/report":        methodOnly(http.MethodPost, s.handleReport),
		"/v1/core/cluster/switch/lookup": methodOnly(http.MethodPost, s.handleSwitchLookup),
		"/v1/core/cluster/server/leave": methodOnly(http.MethodPost, func(w http.ResponseWriter, _ *http.Request) {
			restFailed(w, 405, "/v1/core/cluster/server/leave API not allow to use temporarily.")
		}),
		"/v2/core/cluster/node/self":        methodOnly(http.MethodGet, s.handleSelfV2),
		"/v2/core/cluster/node/self/health": methodOnly(http.MethodGet, s.handleHealthV2),
		"/v2/core/cluster/node/list":        http.HandlerFunc(s.handleNodeListV2),
		"/v2/core/cluster/lookup": methodOnly(http.MethodPut, func(w http.ResponseWriter, r *http.Request) {
			if r.FormValue("type") == "" {
				v2Failed(w, http.StatusBadRequest, 10000, "required parameter 'type' is missing")
				return
			}
			v2Failed(w, http.StatusBadRequest, 20002, lookupFixed)
		}),
		"/v2/core/cluster/nodes": methodOnly(http.MethodDelete, func(w http.ResponseWriter, _ *http.Request) {
			restFailed(w, 405, "DELETE /v2/core/cluster/nodes API not allow to use temporarily.")
		}),
		"/v2/core/ops/ids":    methodOnly(http.MethodGet, s.handleIDs),
		"/v2/core/ops/log":    methodOnly(http.MethodPut, s.handleCoreLog),
		"/v2/core/ops/raft":   methodOnly(http.MethodPost, s.handleRaftOps),
		"/v1/core/ops/idInfo": methodOnly(http.MethodGet, s.handleIDs),
		"/v1/core/ops/log":    methodOnly(http.MethodPut, s.handleCoreLog),
		"/v1/core/ops/raft":   methodOnly(http.MethodPost, s.handleRaftOps),
	}
}

// lookupFixed explains why the member lookup cannot be switched.
const lookupFixed = "distrod's member lookup is fixed at start (NACOS_SERVERS, cluster.conf or DISTROD_MEMBER_DNS): restart the node to change it"

func (s *Server) handleNodes(w http.ResponseWriter, r *http.Request) {
	ms, err := s.nacosMembers(r.Context())
	if err != nil {
		writeJSON(w, http.StatusServiceUnavailable, map[string]any{"code": 503, "message": err.Error(), "data": nil})
		return
	}
	kw := r.FormValue("keyword")
	out := ms[:0]
	for _, m := range ms {
		if kw == "" || strings.HasPrefix(m.Address, kw) {
			out = append(out, m)
		}
	}
	restOK(w, out)
}

func (s *Server) self(ctx context.Context) (nacosMember, error) {
	ms, err := s.nacosMembers(ctx)
	if err != nil {
		return nacosMember{}, err
	}
	for _, m := range ms {
		if m.Address == s.cfg.SelfAddr() {
			return m, nil
		}
	}
	return nacosMember{}, errSelfMissing
}

type selfMissing struct{}

func (selfMissing) Error() string { return "this node is not in its own member list" }

var errSelfMissing error = selfMissing{}

func (s *Server) handleSelf(w http.ResponseWriter, r *http.Request) {
	m, err := s.self(r.Context())
	if err != nil {
		writeJSON(w, http.StatusServiceUnavailable, map[string]any{"code": 503, "message": err.Error(), "data": nil})
		return
	}
	restOK(w, m)
}

// handleSimpleNodes lists the addresses of the members this node sees UP.
func (s *Server) handleSimpleNodes(w http.ResponseWriter, r *http.Request) {
	ms, err := s.nacosMembers(r.Context())
	if err != nil {
		writeJSON(w, http.StatusServiceUnavailable, map[string]any{"code": 503, "message": err.Error(), "data": nil})
		return
	}
	out := []string{}
	for _, m := range ms {
		if m.State == "UP" {
			out = append(out, m.Address)
		}
	}
	restOK(w, out)
}

// selfState is this node's state as Nacos names it: STARTING until the
// startup snapshot load ends, then UP.
func (s *Server) selfState() string {
	if !s.ready() {
		return "STARTING"
	}
	return "UP"
}

func (s *Server) handleHealth(w http.ResponseWriter, _ *http.Request) { restOK(w, s.selfState()) }

func (s *Server) handleHealthV2(w http.ResponseWriter, _ *http.Request) { v2OK(w, s.selfState()) }

// handleReport takes a member's report as Nacos's deprecated endpoint
// does: an illegal body gets code 400; a legal one is acknowledged with
// this node's member (distrod's failure detector, not reports, decides
// member states).
func (s *Server) handleReport(w http.ResponseWriter, r *http.Request) {
	var m struct {
		IP   string `json:"ip"`
		Port int    `json:"port"`
	}
	b, _ := io.ReadAll(io.LimitReader(r.Body, 1<<16))
	if json.Unmarshal(b, &m) != nil || m.IP == "" || m.Port <= 0 {
		restFailed(w, 400, "Node information is illegal")
		return
	}
	self, err := s.self(r.Context())
	if err != nil {
		restFailed(w, 500, err.Error())
		return
	}
	sb, _ := json.Marshal(self)
	restOK(w, string(sb))
}

func (s *Server) handleSwitchLookup(w http.ResponseWriter, r *http.Request) {
	if r.FormValue("type") == "" {
		http.Error(w, "Parameter 'type' is missing", http.StatusBadRequest)
		return
	}
	restFailed(w, 500, lookupFixed)
}

func (s *Server) handleSelfV2(w http.ResponseWriter, r *http.Request) {
	m, err := s.self(r.Context())
	if err != nil {
		v2Failed(w, http.StatusServiceUnavailable, 30000, err.Error())
		return
	}
	v2OK(w, m)
}

// handleNodeListV2 is GET (list, filtered by address prefix and state)
// and PUT (refused: members come from the configuration).
func (s *Server) handleNodeListV2(w http.ResponseWriter, r *http.Request) {
	switch r.Method {
	case http.MethodGet:
	case http.MethodPut:
		v2Failed(w, http.StatusBadRequest, 20002, "distrod's members come from its configuration: "+lookupFixed)
		return
	default:
		http.Error(w, "Request method '"+r.Method+"' is not supported", http.StatusMethodNotAllowed)
		return
	}
	state := strings.ToUpper(r.FormValue("state"))
	switch state {
	case "", "STARTING", "UP", "SUSPICIOUS", "DOWN", "ISOLATION":
	default:
		v2Failed(w, http.StatusBadRequest, 20006, "Illegal state: "+r.FormValue("state"))
		return
	}
	ms, err := s.nacosMembers(r.Context())
	if err != nil {
		v2Failed(w, http.StatusServiceUnavailable, 30000, err.Error())
		return
	}
	addr := r.FormValue("address")
	out := []nacosMember{}
	for _, m := range ms {
		if (addr == "" || strings.HasPrefix(m.Address, addr)) && (state == "" || m.State == state) {
			out = append(out, m)
		}
	}
	v2OK(w, out)
}

// handleIDs is /v2/core/ops/ids and /v1/core/ops/idInfo, where Nacos
// lists the state of its cluster-wide id generators (used by its config
// module). distrod has none (its snowflake instance ids are per node), so
// the map is empty.
func (s *Server) handleIDs(w http.ResponseWriter, r *http.Request) {
	if strings.HasPrefix(r.URL.Path, s.cfg.ContextPath+"/v2/") {
		v2OK(w, map[string]any{})
		return
	}
	restOK(w, map[string]any{})
}

// handleCoreLog is /core/ops/log: {"logName":..,"logLevel":..} in the
// body, as Nacos's LogUpdateRequest.
func (s *Server) handleCoreLog(w http.ResponseWriter, r *http.Request) {
	var req struct {
		LogName  string `json:"logName"`
		LogLevel string `json:"logLevel"`
	}
	b, _ := io.ReadAll(io.LimitReader(r.Body, 1<<16))
	v2 := strings.HasPrefix(r.URL.Path, s.cfg.ContextPath+"/v2/")
	if err := json.Unmarshal(b, &req); err != nil || req.LogLevel == "" {
		if v2 {
			v2Failed(w, http.StatusBadRequest, 10000, "required body {\"logName\":..,\"logLevel\":..} is missing or not JSON")
		} else {
			restFailed(w, 400, "required body {\"logName\":..,\"logLevel\":..} is missing or not JSON")
		}
		return
	}
	if err := setLogLevel(req.LogLevel); err != nil {
		if v2 {
			v2Failed(w, http.StatusBadRequest, 20002, err.Error())
		} else {
			restFailed(w, 400, err.Error())
		}
		return
	}
	s.log.Info("log level changed", "logName", req.LogName, "logLevel", req.LogLevel)
	if v2 {
		v2OK(w, nil)
		return
	}
	restOK(w, nil)
}

// raftGroups are the group ids /core/ops/raft accepts: distrod's control
// plane is one Raft group holding what Nacos keeps in its naming groups,
// so those names (and none) all mean it.
var raftGroups = map[string]bool{
	"": true, "naming_persistent_service_v2": true, "naming_service_metadata": true,
	"naming_instance_metadata": true, "naming_persistent_service": true,
}

// raftMembersFollowConfig explains why the peer-changing commands are
// refused.
const raftMembersFollowConfig = "distrod keeps the Raft voters equal to the member list (NACOS_SERVERS, cluster.conf or DISTROD_MEMBER_DNS): change the member list instead"

// handleRaftOps is /v1 and /v2 /core/ops/raft: a JSON body
// {"groupId","command","value"}, answered as a RestResult (HTTP 200, code
// 200 or 500 with the reason) on both versions, as Nacos. doSnapshot
// snapshots this node (value, when given, must name it); transferLeader
// moves the leadership to the voter named by value (on the leader). The
// commands that change the voters are refused: the member list decides
// them (reconcileLoop).
func (s *Server) handleRaftOps(w http.ResponseWriter, r *http.Request) {
	var req struct {
		GroupID string `json:"groupId"`
		Command string `json:"command"`
		Value   string `json:"value"`
	}
	b, _ := io.ReadAll(io.LimitReader(r.Body, 1<<16))
	if err := json.Unmarshal(b, &req); err != nil {
		restFailed(w, 400, "required body {\"groupId\":..,\"command\":..,\"value\":..} is missing or not JSON")
		return
	}
	if !raftGroups[req.GroupID] {
		restFailed(w, 500, "no such raft group: "+req.GroupID+" (distrod has one Raft group, the control plane)")
		return
	}
	n := s.ctl.node.Load()
	if n == nil {
		restFailed(w, 500, "the control plane is not running")
		return
	}
	var err error
	switch req.Command {
	case "doSnapshot":
		if v := strings.TrimSpace(req.Value); v != "" && v != s.cfg.SelfAddr() && v != cp.RaftAddr(s.cfg.SelfAddr(), s.cfg.RaftPortOffset) {
			restFailed(w, 500, "doSnapshot snapshots the node it is sent to: send it to "+v)
			return
		}
		err = n.Snapshot()
	case "transferLeader":
		err = n.TransferLeadership(strings.TrimSpace(req.Value))
	case "restRaftCluster", "removePeer", "removePeers", "changePeers", "resetPeers":
		restFailed(w, 500, raftMembersFollowConfig)
		return
	default:
		restFailed(w, 500, "unsupported raft command: "+req.Command)
		return
	}
	if err != nil {
		restFailed(w, 500, err.Error())
		return
	}
	s.log.Info("raft operation", "command", req.Command, "value", req.Value)
	restOK(w, nil)
}

// handleServerState is /v1/console/server/state: the module states Nacos's
// console and SDK read, every value a string or null.
func (s *Server) handleServerState(w http.ResponseWriter, _ *http.Request) {
	mode := "standalone"
	if s.cluster != nil {
		mode = "cluster"
	}
	authOn := s.cfg.AuthEnabled
	writeJSON(w, http.StatusOK, map[string]any{
		"startup_mode":       mode,
		"function_mode":      "naming",
		"version":            nacosCompatVersion,
		"distrod_version":    buildVersion(),
		"server_port":        strconv.Itoa(s.cfg.Port),
		"auth_enabled":       strconv.FormatBool(authOn),
		"login_page_enabled": strconv.FormatBool(authOn),
		"auth_system_type":   "nacos",
		"auth_admin_request": "false",
		"console_ui_enabled": "true",
	})
}

// nacosCompatVersion is the Nacos server version whose naming API distrod
// answers (docs/nacos-parity.md).
const nacosCompatVersion = "2.5.1"
