package nacoshttp

import (
	"net/http"
	"slices"
	"strings"

	"github.com/distrod/distrod/internal/api/nacoswire"
	"github.com/distrod/distrod/internal/naming"
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

// catalogInstances is GET /catalog/instances: every instance of a
// service, disabled ones included (the console's view), with real health
// (no protection threshold), paged. v1 lists one cluster and answers 404
// for an unknown service or cluster, as Nacos does; v2 lists all clusters
// under "instances", filtered by the optional healthyOnly and enabledOnly.
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
	v := c.s.store.Service(k, naming.Query{Admin: true})
	hosts := v.Hosts
	if !c.ep.v2 {
		if !v.Exists {
			return nil, newErr(http.StatusNotFound, codeResourceNotFound, "service %s is not found!", k.Grouped())
		}
		if cl := c.clusterParam(""); cl != "" {
			if !slices.Contains(v.Clusters, cl) {
				return nil, newErr(http.StatusNotFound, codeResourceNotFound, "cluster %s is not found!", cl)
			}
			hosts = nil
			for _, h := range v.Hosts {
				if h.ClusterName == cl {
					hosts = append(hosts, h)
				}
			}
		}
	} else {
		keep := func(name string, get func(*naming.Instance) bool) {
			if p := c.optional(name, ""); p != "" {
				want := javaBool(p)
				kept := make([]naming.Instance, 0, len(hosts))
				for i := range hosts {
					if get(&hosts[i]) == want {
						kept = append(kept, hosts[i])
					}
				}
				hosts = kept
			}
		}
		keep("healthyOnly", func(in *naming.Instance) bool { return in.Healthy })
		keep("enabledOnly", func(in *naming.Instance) bool { return in.Enabled })
	}
	from, to := page(len(hosts), pageNo, pageSize)
	list := make([]nacoswire.Host, 0, to-from)
	for i := from; i < to; i++ {
		list = append(list, nacoswire.HostOf(k, &hosts[i]))
	}
	if c.ep.v2 {
		return struct {
			Instances []nacoswire.Host `json:"instances"`
			Count     int              `json:"count"`
		}{list, len(hosts)}, nil
	}
	return struct {
		List  []nacoswire.Host `json:"list"`
		Count int              `json:"count"`
	}{list, len(hosts)}, nil
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
	// instance keeps services with an instance whose "ip:port" contains
	// it (Nacos 1.x's filter; 2.5 accepts the parameter and ignores it).
	instance := c.optional("instance", "")
	withInstances := c.optBool("withInstances", false)
	sums := c.s.store.Services(c.optional("namespaceId", ""), func(k naming.ServiceKey) bool {
		return strings.Contains(k.Name, nameParam) && strings.Contains(k.Group, groupParam)
	})
	if instance != "" {
		kept := sums[:0]
		for _, s := range sums {
			for _, h := range c.s.store.Service(s.Key, naming.Query{}).Hosts {
				if strings.Contains(h.Addr(), instance) {
					kept = append(kept, s)
					break
				}
			}
		}
		sums = kept
	}
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
			ClusterName string           `json:"clusterName"`
			Hosts       []nacoswire.Host `json:"hosts"`
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
				ch.Hosts = append(ch.Hosts, nacoswire.HostOf(s.Key, h))
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
