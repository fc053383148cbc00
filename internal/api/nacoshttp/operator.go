package nacoshttp

import (
	"net/http"
	"runtime"
	"sort"
	"strings"

	"github.com/distrod/distrod/internal/naming"
)

// switches is the in-memory subset of Nacos's SwitchDomain that distrod
// honours, plus fixed values reported for compatibility.
type switches struct {
	Name                     string            `json:"name"`
	Masters                  []string          `json:"masters"`
	AdWeightMap              map[string]int    `json:"adWeightMap"`
	DefaultPushCacheMillis   int64             `json:"defaultPushCacheMillis"`
	ClientBeatInterval       int64             `json:"clientBeatInterval"`
	DefaultCacheMillis       int64             `json:"defaultCacheMillis"`
	DistroThreshold          jfloat            `json:"distroThreshold"`
	HealthCheckEnabled       bool              `json:"healthCheckEnabled"`
	AutoChangeHealthCheck    bool              `json:"autoChangeHealthCheckEnabled"`
	DistroEnabled            bool              `json:"distroEnabled"`
	EnableStandalone         bool              `json:"enableStandalone"`
	PushEnabled              bool              `json:"pushEnabled"`
	CheckTimes               int               `json:"checkTimes"`
	IncrementalList          []string          `json:"incrementalList"`
	DisableAddIP             bool              `json:"disableAddIP"`
	SendBeatOnly             bool              `json:"sendBeatOnly"`
	LightBeatEnabled         bool              `json:"lightBeatEnabled"`
	LimitedURLMap            map[string]int    `json:"limitedUrlMap"`
	DistroServerExpiredMs    int64             `json:"distroServerExpiredMillis"`
	PushGoVersion            string            `json:"pushGoVersion"`
	PushJavaVersion          string            `json:"pushJavaVersion"`
	PushPythonVersion        string            `json:"pushPythonVersion"`
	PushCVersion             string            `json:"pushCVersion"`
	PushCSharpVersion        string            `json:"pushCSharpVersion"`
	EnableAuthentication     bool              `json:"enableAuthentication"`
	DefaultInstanceEphemeral bool              `json:"defaultInstanceEphemeral"`
	HealthCheckWhiteList     []string          `json:"healthCheckWhiteList"`
	Checksum                 *string           `json:"checksum"`
	Extra                    map[string]string `json:"-"`
}

func defaultSwitches(beatMs, cacheMs int64) switches {
	return switches{
		Name:                     "00-00---000-NACOS_SWITCH_DOMAIN-000---00-00",
		Masters:                  nil,
		AdWeightMap:              map[string]int{},
		DefaultPushCacheMillis:   cacheMs,
		ClientBeatInterval:       beatMs,
		DefaultCacheMillis:       3000,
		DistroThreshold:          0.7,
		HealthCheckEnabled:       true,
		AutoChangeHealthCheck:    true,
		DistroEnabled:            true,
		EnableStandalone:         true,
		PushEnabled:              true,
		CheckTimes:               3,
		IncrementalList:          []string{},
		LightBeatEnabled:         true,
		LimitedURLMap:            map[string]int{},
		DistroServerExpiredMs:    10000,
		PushGoVersion:            "0.1.0",
		PushJavaVersion:          "0.1.0",
		PushPythonVersion:        "0.4.3",
		PushCVersion:             "1.0.12",
		PushCSharpVersion:        "0.9.0",
		DefaultInstanceEphemeral: true,
		HealthCheckWhiteList:     []string{},
	}
}

func (s *server) switches() switches {
	s.swMu.Lock()
	sw := s.sw
	s.swMu.Unlock()
	return s.controlSwitches(sw)
}

func (s *server) cacheMillis() int64 { return s.switches().DefaultPushCacheMillis }

func (c *call) getSwitches() (any, error) { return c.s.switches(), nil }

// putSwitch is PUT /operator/switches?entry&value. Only switches distrod
// honours can change; Nacos's other entries are reported read-only.
func (c *call) putSwitch() (any, error) {
	entry, err := c.required("entry", "String")
	if err != nil {
		return nil, err
	}
	value, err := c.required("value", "String")
	if err != nil {
		return nil, err
	}
	if c.s.o.Control != nil {
		return c.putSwitchCP(entry, value)
	}
	s := c.s
	s.swMu.Lock()
	err = setSwitch(&s.sw, entry, value)
	s.swMu.Unlock()
	if err != nil {
		return nil, err
	}
	s.log.Info("switch updated", "entry", entry, "value", value)
	return text("ok"), nil
}

// switchBounds are the floors and ceilings, in milliseconds, of the
// numeric switches: clientBeatInterval is how often every v1 client beats
// and defaultPushCacheMillis how often it polls, so a tiny value turns
// every client into a load generator, and a huge one makes its instances
// expire (beats) or its view go stale (polls).
var switchBounds = map[string][2]int64{
	"clientBeatInterval":     {MinClientBeatIntervalMs, MaxClientBeatIntervalMs},
	"defaultPushCacheMillis": {MinCacheMillis, MaxCacheMillis},
}

// Bounds of the numeric switches, in milliseconds.
const (
	MinClientBeatIntervalMs = 1000
	MaxClientBeatIntervalMs = 60000
	MinCacheMillis          = 1000
	MaxCacheMillis          = 600000
)

var readOnlySwitches = map[string]bool{
	"distroThreshold": true, "healthCheckEnabled": true, "autoChangeHealthCheckEnabled": true,
	"distroEnabled": true, "pushEnabled": true, "checkTimes": true, "defaultCacheMillis": true,
	"masters": true, "adWeight": true, "incrementalList": true, "disableAddIP": true, "sendBeatOnly": true,
	"limitedUrlMap": true, "distroServerExpiredMillis": true, "pushVersion": true,
	"enableAuthentication": true, "defaultInstanceEphemeral": true, "healthCheckWhiteList": true,
	"overriddenServerStatus": true, "serverStatusSynchronizationPeriodMillis": true,
	"serviceStatusSynchronizationPeriodMillis": true, "pushGoVersion": true, "pushJavaVersion": true,
	"pushPythonVersion": true, "pushCVersion": true, "pushCSharpVersion": true,
}

// metricsJSON is /operator/metrics with onlyStatus=false.
type metricsJSON struct {
	Status                      string `json:"status"`
	ServiceCount                int    `json:"serviceCount"`
	InstanceCount               int    `json:"instanceCount"`
	SubscribeCount              int    `json:"subscribeCount"`
	ResponsibleInstanceCount    int    `json:"responsibleInstanceCount"`
	ClientCount                 int    `json:"clientCount"`
	ConnectionBasedClientCount  int    `json:"connectionBasedClientCount"`
	EphemeralIPPortClientCount  int    `json:"ephemeralIpPortClientCount"`
	PersistentIPPortClientCount int    `json:"persistentIpPortClientCount"`
	ResponsibleClientCount      int    `json:"responsibleClientCount"`
	CPU                         jfloat `json:"cpu"`
	Load                        jfloat `json:"load"`
	Mem                         jfloat `json:"mem"`
}

func (c *call) status() string {
	if c.s.o.Ready != nil && !c.s.o.Ready() {
		return "STARTING"
	}
	return "UP"
}

func (c *call) metrics() (any, error) {
	if c.optBool("onlyStatus", true) {
		return struct {
			Status string `json:"status"`
		}{c.status()}, nil
	}
	st := c.s.store.Stats()
	m := metricsJSON{
		Status:                     c.status(),
		ServiceCount:               st.Services,
		InstanceCount:              st.Instances,
		ClientCount:                st.Clients,
		ConnectionBasedClientCount: st.ConnectionClients,
		EphemeralIPPortClientCount: st.IPPortClients,
	}
	// Responsibility is counted over IP-port clients (connection clients
	// belong to whoever holds the connection, which the store records as
	// the record's owner).
	self := c.s.store.Self()
	for _, id := range c.s.store.ClientIDs() {
		cv, ok := c.s.store.Client(id)
		if !ok {
			continue
		}
		mine := cv.Meta.Owner == self
		if cv.Kind == naming.KindIPPort && c.s.o.Router != nil {
			_, mine = c.s.o.Router.Route(naming.TagOf(id))
		}
		if !mine {
			continue
		}
		m.ResponsibleClientCount++
		for _, p := range cv.Services {
			m.ResponsibleInstanceCount += len(p.Instances)
		}
	}
	if c.s.o.Introspect != nil {
		m.SubscribeCount = c.s.o.Introspect.SubscribeCount()
		cpu, load := c.s.o.Introspect.SystemLoad()
		m.CPU, m.Load = jfloat(cpu), jfloat(load)
	}
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	if ms.Sys > 0 {
		m.Mem = jfloat(float64(ms.HeapInuse) / float64(ms.Sys))
	}
	return m, nil
}

// distroClient is /operator/distro/client?ip&port.
func (c *call) distroClient() (any, error) {
	ip := c.optional("ip", "")
	if ip == "" {
		return nil, c.missingRP("ip", "String")
	}
	port := c.optional("port", "")
	if port == "" {
		return nil, c.missingRP("port", "String")
	}
	owner := c.s.store.Self()
	if c.s.o.Router != nil {
		owner, _ = c.s.o.Router.Route(ip + ":" + port)
	}
	return struct {
		ResponsibleServer string `json:"responsibleServer"`
	}{owner}, nil
}

// missingRP is the missing-@RequestParam error, v1 or v2 style.
func (c *call) missingRP(name, typ string) error {
	if c.ep.v2 {
		return missingParam(true, name, typ)
	}
	return missingRequestParam(name)
}

// clientList is v2 /client/list: ids of all live clients.
func (c *call) clientList() (any, error) {
	ids := c.s.store.ClientIDs()
	if ids == nil {
		ids = []string{}
	}
	return ids, nil
}

// clientInfo is v2 /client?clientId.
func (c *call) clientInfo() (any, error) {
	id, err := c.required("clientId", "String")
	if err != nil {
		return nil, err
	}
	cv, ok := c.s.store.Client(id)
	if !ok || cv.Meta.Tombstone {
		return nil, newErr(http.StatusNotFound, codeResourceNotFound, "clientId [ %s ] not exist", id)
	}
	type pub struct {
		NamespaceID string `json:"namespaceId"`
		GroupName   string `json:"groupName"`
		ServiceName string `json:"serviceName"`
		Count       int    `json:"instanceCount"`
	}
	out := struct {
		ClientID        string `json:"clientId"`
		Ephemeral       bool   `json:"ephemeral"`
		LastUpdatedTime int64  `json:"lastUpdatedTime"`
		ClientType      string `json:"clientType"`
		ConnectType     string `json:"connectType,omitempty"`
		AppName         string `json:"appName,omitempty"`
		Version         string `json:"version,omitempty"`
		ClientIP        string `json:"clientIp,omitempty"`
		ClientPort      string `json:"clientPort,omitempty"`
		Owner           string `json:"responsibleServer"`
		Publish         []pub  `json:"publishedServices"`
	}{ClientID: id, Ephemeral: true, LastUpdatedTime: cv.Meta.Version.Millis(), Owner: cv.Meta.Owner, Publish: []pub{}}
	if cv.Kind == naming.KindIPPort {
		out.ClientType = "ipPort"
		tag := naming.TagOf(id)
		if i := strings.LastIndexByte(tag, ':'); i >= 0 {
			out.ClientIP, out.ClientPort = tag[:i], tag[i+1:]
		}
	} else {
		out.ClientType = "connection"
		out.ClientPort = id[strings.LastIndexByte(id, '_')+1:]
		if c.s.o.Introspect != nil {
			if m, ok := c.s.o.Introspect.Connection(id); ok {
				out.ConnectType, out.AppName, out.Version, out.ClientIP = m.ConnectType, m.AppName, m.Version, m.ClientIP
			}
		}
	}
	keys := make([]naming.ServiceKey, 0, len(cv.Services))
	for k := range cv.Services {
		keys = append(keys, k)
	}
	sort.Slice(keys, func(i, j int) bool { return keys[i].Less(keys[j]) })
	for _, k := range keys {
		out.Publish = append(out.Publish, pub{k.Namespace, k.Group, k.Name, len(cv.Services[k].Instances)})
	}
	return out, nil
}
