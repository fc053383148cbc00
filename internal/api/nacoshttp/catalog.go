package nacoshttp

import (
	"strings"

	"github.com/distrod/distrod/internal/naming"
	"github.com/distrod/distrod/internal/push"
)

// catalogService is v1 GET /catalog/service.
func (c *call) catalogService() (any, error) {
	k, err := c.serviceKey()
	if err != nil {
		return nil, err
	}
	v := c.s.store.Service(k, naming.Query{})
	if !v.Exists {
		return nil, serviceNotFound(k)
	}
	type svc struct {
		Name             string            `json:"name"`
		GroupName        string            `json:"groupName"`
		ProtectThreshold jfloat            `json:"protectThreshold"`
		Selector         selectorJSON      `json:"selector"`
		Metadata         map[string]string `json:"metadata"`
	}
	return struct {
		Service  svc           `json:"service"`
		Clusters []clusterJSON `json:"clusters"`
	}{svc{k.Name, k.Group, jfloat(v.Meta.ProtectThreshold), toSelectorJSON(v.Meta.Selector), nonNilMap(v.Meta.Metadata)},
		c.s.clustersJSON(k, v.Clusters)}, nil
}

// catalogInstances is GET /catalog/instances: every instance of a cluster,
// disabled ones included (the console's view), paged.
func (c *call) catalogInstances() (any, error) {
	k, err := c.serviceKey()
	if err != nil {
		return nil, err
	}
	pageNo, err := c.optInt("pageNo", 1)
	if err != nil {
		return nil, err
	}
	pageSize, err := c.optInt("pageSize", 100)
	if err != nil {
		return nil, err
	}
	var clusters []string
	if cl := c.clusterParam(""); cl != "" {
		clusters = []string{cl}
	}
	v := c.s.store.Service(k, naming.Query{Clusters: clusters})
	if !v.Exists && !c.ep.v2 {
		return nil, serviceNotFound(k)
	}
	from, to := page(len(v.Hosts), pageNo, pageSize)
	list := make([]push.Host, 0, to-from)
	for i := from; i < to; i++ {
		list = append(list, push.HostOf(k, &v.Hosts[i]))
	}
	return struct {
		List  []push.Host `json:"list"`
		Count int         `json:"count"`
	}{list, len(v.Hosts)}, nil
}

// catalogServices is v1 GET /catalog/services (the console's service list).
func (c *call) catalogServices() (any, error) {
	pageNo, err := c.optInt("pageNo", 1)
	if err != nil {
		return nil, err
	}
	pageSize, err := c.optInt("pageSize", 10)
	if err != nil {
		return nil, err
	}
	nameParam := c.optional("serviceNameParam", "")
	groupParam := c.optional("groupNameParam", "")
	hasIPCount := c.optBool("hasIpCount", false)
	withInstances := c.optBool("withInstances", false)
	sums := c.s.store.Services(c.optional("namespaceId", ""), func(k naming.ServiceKey) bool {
		return strings.Contains(k.Name, nameParam) && strings.Contains(k.Group, groupParam)
	})
	if hasIPCount {
		kept := sums[:0]
		for _, s := range sums {
			if s.InstanceCount > 0 {
				kept = append(kept, s)
			}
		}
		sums = kept
	}
	from, to := page(len(sums), pageNo, pageSize)
	if withInstances {
		type clusterHosts struct {
			ClusterName string      `json:"clusterName"`
			Hosts       []push.Host `json:"hosts"`
		}
		type detail struct {
			ServiceName string                  `json:"serviceName"`
			GroupName   string                  `json:"groupName"`
			Metadata    map[string]string       `json:"metadata"`
			ClusterMap  map[string]clusterHosts `json:"clusterMap"`
		}
		out := make([]detail, 0, to-from)
		for _, s := range sums[from:to] {
			v := c.s.store.Service(s.Key, naming.Query{})
			cm := map[string]clusterHosts{}
			for i := range v.Hosts {
				h := &v.Hosts[i]
				ch := cm[h.ClusterName]
				ch.ClusterName = h.ClusterName
				ch.Hosts = append(ch.Hosts, push.HostOf(s.Key, h))
				cm[h.ClusterName] = ch
			}
			out = append(out, detail{s.Key.Name, s.Key.Group, nonNilMap(v.Meta.Metadata), cm})
		}
		return out, nil
	}
	type row struct {
		Name                 string `json:"name"`
		GroupName            string `json:"groupName"`
		ClusterCount         int    `json:"clusterCount"`
		IPCount              int    `json:"ipCount"`
		HealthyInstanceCount int    `json:"healthyInstanceCount"`
		TriggerFlag          string `json:"triggerFlag"`
	}
	rows := make([]row, 0, to-from)
	for _, s := range sums[from:to] {
		trigger := "false"
		if s.InstanceCount > 0 && float64(s.HealthyCount)/float64(s.InstanceCount) <= s.Meta.ProtectThreshold {
			trigger = "true"
		}
		rows = append(rows, row{s.Key.Name, s.Key.Group, s.ClusterCount, s.InstanceCount, s.HealthyCount, trigger})
	}
	return struct {
		Count       int   `json:"count"`
		ServiceList []row `json:"serviceList"`
	}{len(sums), rows}, nil
}
