package nacoshttp

import (
	"encoding/json"
	"net/http"
	"strings"

	"github.com/distrod/distrod/internal/cp"
	"github.com/distrod/distrod/internal/naming"
)

// serviceMetaFromParams reads protectThreshold, metadata and selector over
// base. requireThreshold is Nacos's v1 PUT rule.
func (c *call) serviceMetaFromParams(base naming.ServiceMeta, requireThreshold bool) (naming.ServiceMeta, error) {
	m := base
	if requireThreshold {
		if _, err := c.required("protectThreshold", "Float"); err != nil {
			return m, err
		}
	}
	pt, err := c.optFloat("protectThreshold", base.ProtectThreshold)
	if err != nil {
		return m, err
	}
	m.ProtectThreshold = pt
	if c.p.has("metadata") {
		md, err := parseMetadata(c.p.get("metadata"))
		if err != nil {
			e := *toAPIError(err)
			e.Code = codeServiceMetaError
			return m, &e
		}
		m.Metadata = md
	}
	if sel := c.optional("selector", ""); sel != "" {
		var s naming.Selector
		if err := json.Unmarshal([]byte(sel), &s); err != nil {
			return m, newErr(http.StatusBadRequest, codeSelectorError, "selector is not valid JSON: %v", err)
		}
		switch strings.ToLower(s.Type) {
		case "", "none":
			s = naming.Selector{}
		case "label":
			s.Type = "label"
		default:
			return m, newErr(http.StatusBadRequest, codeSelectorError, "not match any type of selector!")
		}
		m.Selector = s
	}
	return m, nil
}

func (c *call) createService() (any, error) {
	k, err := c.serviceKey()
	if err != nil {
		return nil, err
	}
	m, err := c.serviceMetaFromParams(naming.ServiceMeta{}, false)
	if err != nil {
		return nil, err
	}
	if c.s.o.Control != nil {
		return c.serviceWriteCP(cp.OpServiceCreate, k, &m)
	}
	c.touch(naming.ServiceRecordKey(k))
	if err := c.s.store.CreateService(c.nowMs(), k, m); err != nil {
		return nil, err
	}
	return text("ok"), nil
}

func (c *call) deleteService() (any, error) {
	k, err := c.serviceKey()
	if err != nil {
		return nil, err
	}
	if c.s.o.Control != nil {
		return c.serviceWriteCP(cp.OpServiceDelete, k, nil)
	}
	c.touch(naming.ServiceRecordKey(k))
	if err := c.s.store.DeleteService(c.nowMs(), k); err != nil {
		return nil, err
	}
	return text("ok"), nil
}

func (c *call) updateService() (any, error) {
	k, err := c.serviceKey()
	if err != nil {
		return nil, err
	}
	v := c.s.store.Service(k, naming.Query{})
	if !v.Exists {
		return nil, serviceNotFound(k)
	}
	m, err := c.serviceMetaFromParams(v.Meta, !c.ep.v2)
	if err != nil {
		return nil, err
	}
	if c.s.o.Control != nil {
		return c.serviceWriteCP(cp.OpServiceSet, k, &m)
	}
	c.touch(naming.ServiceRecordKey(k))
	if err := c.s.store.UpdateService(c.nowMs(), k, m); err != nil {
		return nil, err
	}
	return text("ok"), nil
}

// serviceJSON is v1 GET /service.
type serviceJSON struct {
	NamespaceID      string            `json:"namespaceId"`
	GroupName        string            `json:"groupName"`
	Name             string            `json:"name"`
	ProtectThreshold jfloat            `json:"protectThreshold"`
	Metadata         map[string]string `json:"metadata"`
	Selector         selectorJSON      `json:"selector"`
	Clusters         []clusterJSON     `json:"clusters"`
}

// serviceDetailV2 is v2 GET /service.
type serviceDetailV2 struct {
	NamespaceID      string                   `json:"namespaceId"`
	GroupName        string                   `json:"groupName"`
	ServiceName      string                   `json:"serviceName"`
	ClusterMap       map[string]clusterInfoV2 `json:"clusterMap"`
	Metadata         map[string]string        `json:"metadata"`
	ProtectThreshold jfloat                   `json:"protectThreshold"`
	Selector         selectorJSON             `json:"selector"`
	Ephemeral        bool                     `json:"ephemeral"`
}

type clusterInfoV2 struct {
	ClusterName   string            `json:"clusterName"`
	HealthChecker healthCheckerJSON `json:"healthChecker"`
	Metadata      map[string]string `json:"metadata"`
}

func (c *call) getService() (any, error) {
	k, err := c.serviceKey()
	if err != nil {
		return nil, err
	}
	v := c.s.store.Service(k, naming.Query{})
	if !v.Exists {
		return nil, serviceNotFound(k)
	}
	if c.ep.v2 {
		cm := map[string]clusterInfoV2{}
		for _, cl := range c.s.clustersJSON(k, v.Clusters) {
			cm[cl.Name] = clusterInfoV2{ClusterName: cl.Name, HealthChecker: cl.HealthChecker, Metadata: cl.Metadata}
		}
		return serviceDetailV2{NamespaceID: k.Namespace, GroupName: k.Group, ServiceName: k.Name, ClusterMap: cm,
			Metadata: nonNilMap(v.Meta.Metadata), ProtectThreshold: jfloat(v.Meta.ProtectThreshold),
			Selector: toSelectorJSON(v.Meta.Selector), Ephemeral: !c.s.hasPersistent(k)}, nil
	}
	return serviceJSON{NamespaceID: k.Namespace, GroupName: k.Group, Name: k.Name,
		ProtectThreshold: jfloat(v.Meta.ProtectThreshold), Metadata: nonNilMap(v.Meta.Metadata),
		Selector: toSelectorJSON(v.Meta.Selector), Clusters: c.s.clustersJSON(k, v.Clusters)}, nil
}

// page returns the bounds of the 1-based page of n items. pageNo below 1
// is the first page; any pageNo and pageSize are safe: the start is
// compared before it is multiplied, so a huge pageNo cannot overflow into a
// negative index.
func page(n, pageNo, pageSize int) (int, int) {
	if pageNo < 1 {
		pageNo = 1
	}
	if pageSize < 1 {
		return 0, 0
	}
	pages := n / pageSize
	if n%pageSize != 0 {
		pages++
	}
	if pageNo-1 >= pages {
		return n, n
	}
	start := (pageNo - 1) * pageSize
	return start, start + min(pageSize, n-start)
}

// serviceList is v1 GET /service/list (doms) and v2 GET /service/list
// (services).
func (c *call) serviceList() (any, error) {
	var pageNo, pageSize int
	var err error
	if c.ep.v2 {
		if pageNo, err = c.optInt("pageNo", 1); err != nil {
			return nil, err
		}
		if pageSize, err = c.optInt("pageSize", 20); err != nil {
			return nil, err
		}
		pageSize = min(pageSize, 500)
	} else {
		pn, err := c.required("pageNo", "Integer")
		if err != nil {
			return nil, err
		}
		ps, err := c.required("pageSize", "Integer")
		if err != nil {
			return nil, err
		}
		if pageNo, err = c.optInt("pageNo", 0); err != nil {
			return nil, badNumber(pn)
		}
		if pageSize, err = c.optInt("pageSize", 0); err != nil {
			return nil, badNumber(ps)
		}
	}
	group := c.optional("groupName", naming.DefaultGroup)
	sums := c.s.store.Services(c.optional("namespaceId", ""), func(k naming.ServiceKey) bool { return k.Group == group })
	names := make([]string, 0, len(sums))
	for _, s := range sums {
		names = append(names, s.Key.Name)
	}
	from, to := page(len(names), pageNo, pageSize)
	if c.ep.v2 {
		return struct {
			Count    int      `json:"count"`
			Services []string `json:"services"`
		}{len(names), names[from:to]}, nil
	}
	return struct {
		Count int      `json:"count"`
		Doms  []string `json:"doms"`
	}{len(names), names[from:to]}, nil
}

// serviceNames is v1 /service/names?namespaceId&expr: grouped names per
// namespace, filtered by a substring of the grouped name.
func (c *call) serviceNames() (any, error) {
	expr := c.optional("expr", "")
	nss := c.s.store.Namespaces()
	if ns := c.optional("namespaceId", ""); ns != "" {
		nss = []string{ns}
	}
	out := map[string][]string{}
	count := 0
	for _, ns := range nss {
		for _, s := range c.s.store.Services(ns, nil) {
			g := s.Key.Grouped()
			if expr != "" && !strings.Contains(g, expr) {
				continue
			}
			out[s.Key.Namespace] = append(out[s.Key.Namespace], g)
			count++
		}
	}
	return struct {
		Services map[string][]string `json:"services"`
		Count    int                 `json:"count"`
	}{out, count}, nil
}
