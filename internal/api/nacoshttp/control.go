package nacoshttp

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"github.com/distrod/distrod/internal/api/nacoswire"
	"github.com/distrod/distrod/internal/cp"
	"github.com/distrod/distrod/internal/naming"
)

// ControlPlane is the durable, Raft-replicated store of operator data:
// namespaces and instance overrides. Writes go through Apply (any node;
// it reaches the leader), reads come from the locally applied FSM.
type ControlPlane interface {
	// Apply runs a command on the leader; cp.ErrNoLeader when none can be
	// reached in time.
	Apply(ctx context.Context, c cp.Command) error
	// FSM returns the applied state, or nil while the control plane is not
	// running.
	FSM() *cp.FSM
}

func init() {
	authRules["v1_console_namespaces_list"] = accessUser
	authRules["v2_console_namespace_list"] = accessUser
	authRules["v2_console_namespace_get"] = accessUser
	authRules["v1_cluster_update"] = accessWrite
}

// registerControl mounts the control plane's endpoints (namespaces).
func (s *server) registerControl() {
	if s.o.Control == nil {
		return
	}
	// Writes kept in the control plane run on the node that took them (it
	// reaches the Raft leader itself) instead of travelling to the Distro
	// owner of their instance or service first.
	cpWrites := map[string]bool{
		"v1_instance_update": true, "v2_instance_update": true,
		"v1_service_create": true, "v1_service_update": true, "v1_service_delete": true,
		"v2_service_create": true, "v2_service_update": true, "v2_service_delete": true,
		"v1_instance_metadata_update": true, "v1_instance_metadata_delete": true,
		"v2_instance_metadata_update": true, "v2_instance_metadata_delete": true,
		"v1_health_update": true, "v2_health_update": true,
	}
	for _, byMethod := range s.routes {
		for _, ep := range byMethod {
			if cpWrites[ep.api] {
				ep.tag = localWrite
			}
		}
	}
	v1 := func(methods []string, api string, fn func(*call) (any, error)) {
		s.handle("/v1/console/namespaces", methods, endpoint{api: api, fn: fn})
	}
	v1(ms(get), "v1_console_namespaces_list", (*call).v1Namespaces)
	v1(ms(post), "v1_console_namespaces_create", (*call).v1NamespaceCreate)
	v1(ms(put), "v1_console_namespaces_update", (*call).v1NamespaceUpdate)
	v1(ms(del), "v1_console_namespaces_delete", (*call).v1NamespaceDelete)
	v2 := func(path string, methods []string, api string, fn func(*call) (any, error)) {
		s.handle("/v2/console/namespace"+path, methods, endpoint{api: api, v2: true, fn: fn})
	}
	s.handle("/v1/ns/cluster", ms(put), endpoint{api: "v1_cluster_update", naming: true, tag: localWrite, fn: (*call).updateCluster})
	v2("/list", ms(get), "v2_console_namespace_list", (*call).namespaceList)
	v2("", ms(get), "v2_console_namespace_get", (*call).v2NamespaceGet)
	v2("", ms(post), "v2_console_namespace_create", (*call).v2NamespaceCreate)
	v2("", ms(put), "v2_console_namespace_update", (*call).v2NamespaceUpdate)
	v2("", ms(del), "v2_console_namespace_delete", (*call).v2NamespaceDelete)
}

// localWrite is the routing tag of a write handled where it arrives.
func localWrite(*call) (string, bool) { return "", false }

// controlError maps a control plane write error to an answer by the shared
// error table (nacoswire.LookupError); a not-found answers notFoundCode,
// the code of what the write names. The message is the error's full text.
func controlError(err error, notFoundCode int) error {
	if err == nil {
		return nil
	}
	m, ok := nacoswire.LookupError(err, nacoswire.PlaneControl)
	if !ok {
		return newErr(http.StatusInternalServerError, codeServerError, "%v", err)
	}
	code := m.Code
	if m.Err == cp.ErrNotFound {
		code = notFoundCode
	}
	return newErr(m.Status, code, "%v", err)
}

func (c *call) fsm() (*cp.FSM, error) {
	f := c.s.o.Control.FSM()
	if f == nil {
		return nil, newErr(http.StatusServiceUnavailable, codeServerError, "the control plane is not running yet")
	}
	return f, nil
}

// --- namespaces ---

// Nacos 2.5's namespace rules: the id matches ^[\w-]+ (a prefix match)
// and is at most 128 characters; the name has none of @#$%^&*.
var (
	namespaceIDPattern   = regexp.MustCompile(`^[\w-]+`)
	namespaceNamePattern = regexp.MustCompile(`^[^@#$%^&*]+$`)
)

const maxNamespaceIDLen = 128

// namespaceJSON is Nacos's Namespace answer.
type namespaceJSON struct {
	Namespace         string `json:"namespace"`
	NamespaceShowName string `json:"namespaceShowName"`
	NamespaceDesc     string `json:"namespaceDesc"`
	Quota             int    `json:"quota"`
	ConfigCount       int    `json:"configCount"`
	Type              int    `json:"type"`
}

// Nacos 2.5 lists the default namespace with an empty id, type 0 (global);
// namespaces an operator creates are type 2 (custom).
func publicNamespace() namespaceJSON {
	return namespaceJSON{Namespace: "", NamespaceShowName: naming.DefaultNamespace, NamespaceDesc: "Default Namespace", Quota: 200}
}

func toNamespaceJSON(ns cp.Namespace) namespaceJSON {
	return namespaceJSON{Namespace: ns.ID, NamespaceShowName: ns.Name, NamespaceDesc: ns.Desc, Quota: 200, Type: 2}
}

func isPublic(id string) bool { return id == "" || id == naming.DefaultNamespace }

func (c *call) namespaceList() (any, error) {
	f, err := c.fsm()
	if err != nil {
		return nil, err
	}
	out := []namespaceJSON{publicNamespace()}
	for _, ns := range f.Namespaces() {
		out = append(out, toNamespaceJSON(ns))
	}
	return out, nil
}

func (c *call) namespaceGet(id string) (namespaceJSON, error) {
	if isPublic(id) {
		p := publicNamespace()
		p.Namespace = id
		return p, nil
	}
	f, err := c.fsm()
	if err != nil {
		return namespaceJSON{}, err
	}
	ns, ok := f.Namespace(id)
	if !ok {
		return namespaceJSON{}, newErr(http.StatusNotFound, codeNamespaceNotExist, "namespaceId [ %s ] not exist", id)
	}
	return toNamespaceJSON(ns), nil
}

// checkNamespaceCreate validates a new namespace as Nacos does and returns
// its id (a generated one when id is blank).
func (c *call) checkNamespaceCreate(id, name string) (string, error) {
	id = strings.TrimSpace(id)
	if id == "" {
		id = newUUID()
	} else {
		if !namespaceIDPattern.MatchString(id) {
			return "", newErr(http.StatusBadRequest, codeIllegalNamespace, "namespaceId [%s] mismatch the pattern", id)
		}
		if len(id) > maxNamespaceIDLen {
			return "", newErr(http.StatusBadRequest, codeIllegalNamespace, "too long namespaceId, over %d", maxNamespaceIDLen)
		}
		if isPublic(id) {
			return "", newErr(http.StatusBadRequest, codeIllegalNamespace, "namespaceId [%s] is default namespace id and already exist.", id)
		}
		if f, err := c.fsm(); err != nil {
			return "", err
		} else if _, ok := f.Namespace(id); ok {
			return "", newErr(http.StatusBadRequest, codeIllegalNamespace, "the namespaceId is existed, namespaceId: %s", id)
		}
	}
	if !namespaceNamePattern.MatchString(name) {
		return "", newErr(http.StatusBadRequest, codeIllegalNamespace, "namespaceName [%s] contains illegal char", name)
	}
	return id, nil
}

func (c *call) namespaceWrite(op cp.Op, ns cp.Namespace) error {
	return controlError(c.s.o.Control.Apply(c.r.Context(), cp.Command{Op: op, Namespace: &ns}), codeNamespaceNotExist)
}

// namespaceDelete refuses to delete a namespace that still holds services.
func (c *call) namespaceDelete(id string) error {
	if isPublic(id) {
		return newErr(http.StatusBadRequest, codeIllegalNamespace, "the default namespace %s cannot be deleted", naming.DefaultNamespace)
	}
	if n := len(c.s.store.Services(id, nil)); n > 0 {
		return newErr(http.StatusBadRequest, codeIllegalNamespace,
			"namespace %s holds %d service(s): deregister their instances and delete them first", id, n)
	}
	return c.namespaceWrite(cp.OpNamespaceDelete, cp.Namespace{ID: id})
}

// v1Namespaces is GET /v1/console/namespaces: the list in a RestResult,
// one namespace with show=all, or an existence check with
// checkNamespaceIdExist=true.
func (c *call) v1Namespaces() (any, error) {
	if javaBool(c.optional("checkNamespaceIdExist", "")) {
		id := c.optional("customNamespaceId", "")
		if strings.TrimSpace(id) == "" {
			return false, nil
		}
		f, err := c.fsm()
		if err != nil {
			return nil, err
		}
		_, ok := f.Namespace(id)
		return ok, nil
	}
	if c.optional("show", "") == "all" {
		id, err := c.required("namespaceId", "String")
		if err != nil {
			return nil, err
		}
		return c.namespaceGet(id)
	}
	list, err := c.namespaceList()
	if err != nil {
		return nil, err
	}
	return restResult{Code: 200, Data: list}, nil
}

// v1NamespaceCreate is POST /v1/console/namespaces; like Nacos it answers
// false for an invalid or duplicate namespace.
func (c *call) v1NamespaceCreate() (any, error) {
	name, err := c.required("namespaceName", "String")
	if err != nil {
		return nil, err
	}
	id, err := c.checkNamespaceCreate(c.optional("customNamespaceId", ""), name)
	if err != nil {
		return false, nil
	}
	if err := c.namespaceWrite(cp.OpNamespaceCreate, cp.Namespace{ID: id, Name: name, Desc: c.optional("namespaceDesc", "")}); err != nil {
		if errNoLeaderAnswer(err) != nil {
			return nil, err
		}
		return false, nil
	}
	return true, nil
}

// errNoLeaderAnswer returns err when it is a 503 answer, for handlers that
// otherwise answer false.
func errNoLeaderAnswer(err error) error {
	var ae *apiError
	if errors.As(err, &ae) && ae.Status == http.StatusServiceUnavailable {
		return err
	}
	return nil
}

func (c *call) v1NamespaceUpdate() (any, error) {
	id, err := c.required("namespace", "String")
	if err != nil {
		return nil, err
	}
	name, err := c.required("namespaceShowName", "String")
	if err != nil {
		return nil, err
	}
	if !namespaceNamePattern.MatchString(name) || isPublic(id) {
		return false, nil
	}
	if err := c.namespaceWrite(cp.OpNamespaceUpdate, cp.Namespace{ID: id, Name: name, Desc: c.optional("namespaceDesc", "")}); err != nil {
		if errNoLeaderAnswer(err) != nil {
			return nil, err
		}
		return false, nil
	}
	return true, nil
}

func (c *call) v1NamespaceDelete() (any, error) {
	id, err := c.required("namespaceId", "String")
	if err != nil {
		return nil, err
	}
	if err := c.namespaceDelete(id); err != nil {
		if errors.Is(err, cp.ErrNotFound) || isNotFound(err) {
			return true, nil // Nacos answers true for an unknown namespace
		}
		return nil, err
	}
	return true, nil
}

func isNotFound(err error) bool {
	var ae *apiError
	return errors.As(err, &ae) && ae.Status == http.StatusNotFound
}

func (c *call) v2NamespaceGet() (any, error) {
	id, err := c.required("namespaceId", "String")
	if err != nil {
		return nil, err
	}
	return c.namespaceGet(id)
}

func (c *call) v2NamespaceForm() (id, name string, err error) {
	if !c.p.has("namespaceId") {
		return "", "", newErr(http.StatusBadRequest, codeParameterMissing, "required parameter 'namespaceId' is missing")
	}
	if !c.p.has("namespaceName") {
		return "", "", newErr(http.StatusBadRequest, codeParameterMissing, "required parameter 'namespaceName' is missing")
	}
	return c.p.get("namespaceId"), c.p.get("namespaceName"), nil
}

func (c *call) v2NamespaceCreate() (any, error) {
	id, name, err := c.v2NamespaceForm()
	if err != nil {
		return nil, err
	}
	if id, err = c.checkNamespaceCreate(id, name); err != nil {
		return nil, err
	}
	if err := c.namespaceWrite(cp.OpNamespaceCreate, cp.Namespace{ID: id, Name: name, Desc: c.optional("namespaceDesc", "")}); err != nil {
		return nil, err
	}
	return true, nil
}

func (c *call) v2NamespaceUpdate() (any, error) {
	id, name, err := c.v2NamespaceForm()
	if err != nil {
		return nil, err
	}
	if !namespaceNamePattern.MatchString(name) {
		return nil, newErr(http.StatusBadRequest, codeIllegalNamespace, "namespaceName [%s] contains illegal char", name)
	}
	if isPublic(id) {
		return nil, newErr(http.StatusBadRequest, codeIllegalNamespace, "the default namespace cannot be changed")
	}
	if err := c.namespaceWrite(cp.OpNamespaceUpdate, cp.Namespace{ID: id, Name: name, Desc: c.optional("namespaceDesc", "")}); err != nil {
		return nil, err
	}
	return true, nil
}

func (c *call) v2NamespaceDelete() (any, error) {
	id, err := c.required("namespaceId", "String")
	if err != nil {
		return nil, err
	}
	if err := c.namespaceDelete(id); err != nil {
		if isNotFound(err) {
			return true, nil
		}
		return nil, err
	}
	return true, nil
}

// --- instance overrides ---

// findInstance returns the instance ip:port of k in cluster ("" = any) as
// readers see it, or a not-found error.
func (c *call) findInstance(k naming.ServiceKey, ip string, port int, cluster string) (naming.Instance, error) {
	in, _, ok := c.s.store.FindInstance(k, ip, port, cluster)
	if !ok {
		return in, withCode(fmt.Errorf("%w: instance %s:%d not found in service %s", naming.ErrInstanceNotFound, ip, port, k.Grouped()), codeInstanceError)
	}
	return in, nil
}

func (c *call) overrideWrite(cmd cp.Command) error {
	return controlError(c.s.o.Control.Apply(c.r.Context(), cmd), codeInstanceNotFound)
}

// updateOverride is PUT /instance with a control plane: the request's
// enabled, weight and metadata become the instance's override, which every
// read applies over what the instance's client registered (its metadata
// entries are put over the registered ones), whichever protocol registered
// it, and which survives re-registration.
func (c *call) updateOverride(k naming.ServiceKey, in naming.Instance, cluster string) (any, error) {
	found, err := c.findInstance(k, in.IP, in.Port, cluster)
	if err != nil {
		return nil, err
	}
	key := cp.InstanceKey{Service: k, Cluster: found.ClusterName, IP: in.IP, Port: in.Port}
	o := cp.Override{Enabled: &in.Enabled, Weight: &in.Weight, Metadata: in.Metadata}
	if err := c.overrideWrite(cp.Command{Op: cp.OpOverrideSet, Instance: &key, Override: &o}); err != nil {
		return nil, err
	}
	return text("ok"), nil
}

// patchOverride is PATCH /instance with a control plane: only the given
// fields of the override change; metadata merges into it.
func (c *call) patchOverride(k naming.ServiceKey, ip string, port int, o cp.Override) (any, error) {
	found, err := c.findInstance(k, ip, port, c.clusterParam(""))
	if err != nil {
		return nil, err
	}
	key := cp.InstanceKey{Service: k, Cluster: found.ClusterName, IP: ip, Port: port}
	if err := c.overrideWrite(cp.Command{Op: cp.OpOverridePatch, Instance: &key, Override: &o}); err != nil {
		return nil, err
	}
	return text("ok"), nil
}

// metadataBatchOverride is the metadata batch with a control plane: each
// target instance of the kind asked for (persistent when persist, else
// ephemeral) has its override gain (or lose) the given metadata keys.
func (c *call) metadataBatchOverride(k naming.ServiceKey, md map[string]string, remove bool, targets []naming.Instance, persist bool) (any, error) {
	updated := []string{}
	kind := "ephemeral"
	if persist {
		kind = "persist"
	}
	for _, t := range targets {
		found, err := c.findInstance(k, t.IP, t.Port, t.ClusterName)
		if err != nil || found.Ephemeral == persist {
			continue
		}
		key := cp.InstanceKey{Service: k, Cluster: found.ClusterName, IP: t.IP, Port: t.Port}
		cmd := cp.Command{Op: cp.OpOverridePatch, Instance: &key}
		if remove {
			for kk := range md {
				cmd.MetadataRemove = append(cmd.MetadataRemove, kk)
			}
		} else {
			cmd.Override = &cp.Override{Metadata: md}
		}
		if err := c.overrideWrite(cmd); err != nil {
			return nil, err
		}
		updated = append(updated, fmt.Sprintf("%s:%d:unknown:%s:%s", t.IP, t.Port, found.ClusterName, kind))
	}
	return struct {
		Updated []string `json:"updated"`
	}{updated}, nil
}

// newUUID returns a random (version 4) UUID, the id Nacos gives a
// namespace created without one.
func newUUID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:])
}

// --- services ---

// serviceWriteCP creates, replaces (meta set) or deletes (meta nil) the
// settings of an explicitly created service in the control plane, with
// Nacos's checks: a create of an existing service and a delete of a
// service with instances are refused.
func (c *call) serviceWriteCP(op cp.Op, k naming.ServiceKey, meta *naming.ServiceMeta) (any, error) {
	v := c.s.store.Service(k, naming.Query{})
	switch op {
	case cp.OpServiceCreate:
		if v.Exists {
			return nil, fmt.Errorf("%w: specified service %s already exists", naming.ErrServiceExists, k.Grouped())
		}
	case cp.OpServiceDelete:
		if !v.Exists {
			return nil, serviceNotFound(k)
		}
		if len(v.Hosts) > 0 {
			return nil, fmt.Errorf("%w: service %s has instances, can not delete", naming.ErrServiceHasInstances, k.Grouped())
		}
		if !v.Explicit {
			return text("ok"), nil
		}
	}
	err := c.s.o.Control.Apply(c.r.Context(), cp.Command{Op: op, Service: &k, ServiceMeta: meta})
	switch {
	case err == nil:
		return text("ok"), nil
	case errors.Is(err, cp.ErrExists):
		return nil, fmt.Errorf("%w: specified service %s already exists", naming.ErrServiceExists, k.Grouped())
	case errors.Is(err, cp.ErrNotFound):
		return nil, serviceNotFound(k)
	default:
		return nil, controlError(err, codeServiceNotExist)
	}
}

// --- switches ---

// setSwitch validates value for switch entry and sets it in sw.
func setSwitch(sw *switches, entry, value string) error {
	bounded := func() (int64, error) {
		n, err := strconv.ParseInt(value, 10, 64)
		if err != nil {
			return 0, badNumber(value)
		}
		b := switchBounds[entry]
		if n < b[0] || n > b[1] {
			return 0, newErr(http.StatusBadRequest, codeParameterValidate, "%s must be between %d and %d, got %d", entry, b[0], b[1], n)
		}
		return n, nil
	}
	switch entry {
	case "clientBeatInterval":
		n, err := bounded()
		if err != nil {
			return err
		}
		sw.ClientBeatInterval = n
	case "defaultPushCacheMillis":
		n, err := bounded()
		if err != nil {
			return err
		}
		sw.DefaultPushCacheMillis = n
	case "lightBeatEnabled":
		if value != "true" && value != "false" {
			return newErr(http.StatusBadRequest, codeParameterValidate, "lightBeatEnabled must be true or false, got %q", value)
		}
		sw.LightBeatEnabled = value == "true"
	default:
		if readOnlySwitches[entry] {
			return newErr(http.StatusBadRequest, codeParameterValidate, "switch entry %s is read-only in distrod", entry)
		}
		return newErr(http.StatusBadRequest, codeParameterValidate, "update entry not found: %s", entry)
	}
	return nil
}

// putSwitchCP validates a switch change and stores it in the control
// plane, from which every node reads it.
func (c *call) putSwitchCP(entry, value string) (any, error) {
	var scratch switches
	if err := setSwitch(&scratch, entry, value); err != nil {
		return nil, err
	}
	if err := c.s.o.Control.Apply(c.r.Context(), cp.Command{Op: cp.OpSwitchSet, Switch: entry, Value: value}); err != nil {
		return nil, controlError(err, codeServerError)
	}
	c.s.log.Info("switch updated", "entry", entry, "value", value)
	return text("ok"), nil
}

// controlSwitches applies the switches stored in the control plane to sw.
func (s *server) controlSwitches(sw switches) switches {
	if s.o.Control == nil {
		return sw
	}
	f := s.o.Control.FSM()
	if f == nil {
		return sw
	}
	for entry, value := range f.Switches() {
		_ = setSwitch(&sw, entry, value)
	}
	return sw
}

// --- clusters ---

// updateCluster is PUT /v1/ns/cluster: a cluster's health check port,
// checker and metadata, kept in the control plane.
func (c *call) updateCluster() (any, error) {
	k, err := c.serviceKey()
	if err != nil {
		return nil, err
	}
	cluster, err := c.required("clusterName", "String")
	if err != nil {
		return nil, err
	}
	portStr, err := c.required("checkPort", "int")
	if err != nil {
		return nil, err
	}
	port, err := strconv.Atoi(portStr)
	if err != nil {
		return nil, badNumber(portStr)
	}
	useStr, err := c.required("useInstancePort4Check", "boolean")
	if err != nil {
		return nil, err
	}
	hcStr, err := c.required("healthChecker", "String")
	if err != nil {
		return nil, err
	}
	var hc struct {
		Type string `json:"type"`
	}
	if json.Unmarshal([]byte(hcStr), &hc) != nil || hc.Type == "" {
		return nil, newErr(http.StatusBadRequest, codeParameterValidate, "healthChecker is not a JSON health checker with a type: %s", hcStr)
	}
	md, err := parseMetadata(c.optional("metadata", ""))
	if err != nil {
		return nil, err
	}
	if !c.s.store.HasService(k) {
		// Nacos names the service as it was given here.
		return nil, newErr(http.StatusBadRequest, codeServiceNotExist, "service not found:%s", c.optional("serviceName", ""))
	}
	cs := cp.ClusterSettings{CheckPort: port, UseInstancePort: javaBool(useStr), HealthChecker: json.RawMessage(hcStr), Metadata: md}
	if err := c.s.o.Control.Apply(c.r.Context(), cp.Command{Op: cp.OpClusterSet, Service: &k, Cluster: cluster, ClusterSettings: &cs}); err != nil {
		return nil, controlError(err, codeServiceNotExist)
	}
	return text("ok"), nil
}

// clustersJSON renders the clusters of service k: those with instances
// (names) and those an operator configured, with their settings.
func (s *server) clustersJSON(k naming.ServiceKey, names []string) []clusterJSON {
	var set map[string]cp.ClusterSettings
	if s.o.Control != nil {
		if f := s.o.Control.FSM(); f != nil {
			set = f.Clusters(k)
		}
	}
	all := append([]string(nil), names...)
	for n := range set {
		if !slices.Contains(all, n) {
			all = append(all, n)
		}
	}
	slices.Sort(all)
	out := clustersJSON(all)
	for i := range out {
		if cs, ok := set[out[i].Name]; ok {
			out[i].HealthChecker.Raw = cs.HealthChecker
			out[i].Metadata = nonNilMap(cs.Metadata)
		}
	}
	return out
}

// --- persistent instances ---

// registerPersistent registers a persistent (ephemeral=false) instance in
// the control plane: it is never expired by beats, and server-side probes
// decide its health.
func (c *call) registerPersistent(k naming.ServiceKey, in naming.Instance) (any, error) {
	if err := in.Normalize(); err != nil {
		return nil, withCode(err, codeInstanceError)
	}
	if err := c.s.o.Control.Apply(c.r.Context(), cp.Command{Op: cp.OpPersistentRegister, Service: &k, Persistent: &in}); err != nil {
		return nil, controlError(err, codeInstanceNotFound)
	}
	c.s.log.Debug("persistent instance registered", "service", k.String(), "addr", in.Addr(), "cluster", in.ClusterName)
	return text("ok"), nil
}

// hasPersistent reports whether service k holds persistent instances (a
// persistent service, in Nacos's terms).
func (s *server) hasPersistent(k naming.ServiceKey) bool {
	if s.o.Control == nil {
		return false
	}
	f := s.o.Control.FSM()
	return f != nil && len(f.PersistentInstances(k)) > 0
}

// isPersistent reports whether a deregister names a persistent instance:
// ephemeral=false, or no ephemeral parameter and a persistent instance at
// that address.
func (c *call) isPersistent(k naming.ServiceKey, ip string, port int) bool {
	if v := c.optional("ephemeral", ""); v != "" {
		return !javaBool(v)
	}
	f := c.s.o.Control.FSM()
	if f == nil {
		return false
	}
	for _, in := range f.PersistentInstances(k) {
		if in.IP == ip && in.Port == port {
			return true
		}
	}
	return false
}

// deregisterPersistent removes a persistent instance; like Nacos it
// answers ok for an unknown one. Without a clusterName it removes the
// service's persistent instances at ip:port in every cluster (Nacos keys
// them by address, not cluster).
func (c *call) deregisterPersistent(k naming.ServiceKey, ip string, port int) (any, error) {
	var clusters []string
	if cl := c.clusterParam(""); cl != "" {
		clusters = []string{cl}
	} else if f := c.s.o.Control.FSM(); f != nil {
		for _, in := range f.PersistentInstances(k) {
			if in.IP == ip && in.Port == port {
				clusters = append(clusters, in.ClusterName)
			}
		}
	}
	for _, cl := range clusters {
		key := cp.InstanceKey{Service: k, Cluster: cl, IP: ip, Port: port}
		err := c.s.o.Control.Apply(c.r.Context(), cp.Command{Op: cp.OpPersistentDeregister, Instance: &key})
		if err != nil && !errors.Is(err, cp.ErrNotFound) {
			return nil, controlError(err, codeInstanceNotFound)
		}
	}
	return text("ok"), nil
}
