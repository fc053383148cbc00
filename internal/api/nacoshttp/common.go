package nacoshttp

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math"
	"net/http"
	"strconv"
	"strings"

	"github.com/distrod/distrod/internal/naming"
)

// required returns a trimmed, non-empty parameter or Nacos's missing
// parameter error. typ is the Java type named in v2's message.
func (c *call) required(name, typ string) (string, error) {
	v := strings.TrimSpace(c.p.get(name))
	if v == "" {
		return "", missingParam(c.ep.v2, name, typ)
	}
	return v, nil
}

// optional returns a trimmed parameter, or def when it is blank.
func (c *call) optional(name, def string) string {
	if v := strings.TrimSpace(c.p.get(name)); v != "" {
		return v
	}
	return def
}

// optInt parses an optional integer parameter.
func (c *call) optInt(name string, def int) (int, error) {
	v := c.optional(name, "")
	if v == "" {
		return def, nil
	}
	n, err := strconv.Atoi(v)
	if err != nil {
		return 0, badNumber(v)
	}
	return n, nil
}

// optFloat parses an optional floating-point parameter.
func (c *call) optFloat(name string, def float64) (float64, error) {
	v := c.optional(name, "")
	if v == "" {
		return def, nil
	}
	f, err := strconv.ParseFloat(v, 64)
	if err != nil || math.IsNaN(f) {
		return 0, badNumber(v)
	}
	return f, nil
}

// optBool parses a boolean the way commons-lang BooleanUtils.toBoolean
// does: "true", "on", "yes", "y", "t" (any case) are true, anything else
// false.
func (c *call) optBool(name string, def bool) bool {
	v := c.optional(name, "")
	if v == "" {
		return def
	}
	return javaBool(v)
}

func javaBool(v string) bool {
	switch strings.ToLower(strings.TrimSpace(v)) {
	case "true", "on", "yes", "y", "t":
		return true
	}
	return false
}

// serviceKey reads namespaceId, serviceName (grouped or not) and groupName.
func (c *call) serviceKey() (naming.ServiceKey, error) {
	name, err := c.required("serviceName", "String")
	if err != nil {
		return naming.ServiceKey{}, err
	}
	k, err := naming.ParseServiceKey(c.optional("namespaceId", ""), name, c.optional("groupName", ""))
	if err != nil {
		return k, withCode(err, codeServiceNameError)
	}
	return k, nil
}

// ipPort reads the required ip and port parameters.
func (c *call) ipPort() (string, int, error) {
	ip, err := c.required("ip", "String")
	if err != nil {
		return "", 0, err
	}
	ps, err := c.required("port", "Integer")
	if err != nil {
		return "", 0, err
	}
	port, err := strconv.Atoi(ps)
	if err != nil {
		return "", 0, badNumber(ps)
	}
	return ip, port, nil
}

// clusterParam reads clusterName, or its alias cluster.
func (c *call) clusterParam(def string) string {
	if v := c.optional("clusterName", ""); v != "" {
		return v
	}
	return c.optional("cluster", def)
}

// enabledParam reads enabled, or its alias enable (nacos-sdk-go v1).
func (c *call) enabledParam(def bool) (bool, bool) {
	if v := c.optional("enabled", ""); v != "" {
		return javaBool(v), true
	}
	if v := c.optional("enable", ""); v != "" {
		return javaBool(v), true
	}
	return def, false
}

// parseMetadata accepts a JSON object or "k=v,k2=v2", as Nacos does: text
// that is not a JSON object of scalars is read as k=v pairs, and any pair
// that does not split into exactly two parts is an error.
func parseMetadata(s string) (map[string]string, error) {
	out := map[string]string{}
	if strings.TrimSpace(s) == "" {
		return out, nil
	}
	if m, ok := jsonStringMap(s); ok {
		return m, nil
	}
	for _, pair := range strings.Split(s, ",") {
		kv := strings.Split(pair, "=")
		if len(kv) != 2 {
			return nil, newErr(http.StatusBadRequest, codeInstanceMetaError, "metadata format incorrect:%s", s)
		}
		out[kv[0]] = kv[1]
	}
	return out, nil
}

// jsonStringMap decodes a JSON object whose values are scalars into
// strings (numbers keep their literal text; nulls are dropped).
func jsonStringMap(s string) (map[string]string, bool) {
	dec := json.NewDecoder(strings.NewReader(s))
	dec.UseNumber()
	var raw map[string]any
	if err := dec.Decode(&raw); err != nil || raw == nil || dec.More() {
		return nil, false
	}
	out := make(map[string]string, len(raw))
	for k, v := range raw {
		switch t := v.(type) {
		case nil:
		case string:
			out[k] = t
		case json.Number:
			out[k] = t.String()
		case bool:
			out[k] = strconv.FormatBool(t)
		default:
			return nil, false
		}
	}
	return out, true
}

// checkWeight enforces Nacos's HTTP weight range.
func checkWeight(w float64) error {
	if w < 0 || w > 10000 {
		return newErr(http.StatusBadRequest, codeWeightError, "instance format invalid: The weights range from 0.0 to 10000.0")
	}
	return nil
}

// instanceFromParams builds the instance of a register or update request.
func (c *call) instanceFromParams() (naming.ServiceKey, naming.Instance, error) {
	var in naming.Instance
	k, err := c.serviceKey()
	if err != nil {
		return k, in, err
	}
	if in.IP, in.Port, err = c.ipPort(); err != nil {
		return k, in, err
	}
	if in.Weight, err = c.optFloat("weight", 1); err != nil {
		return k, in, err
	}
	if err = checkWeight(in.Weight); err != nil {
		return k, in, err
	}
	in.ClusterName = c.clusterParam(naming.DefaultCluster)
	if in.Metadata, err = parseMetadata(c.p.get("metadata")); err != nil {
		return k, in, err
	}
	in.Enabled, _ = c.enabledParam(true)
	in.Healthy = c.optBool("healthy", true)
	in.Ephemeral = c.optBool("ephemeral", true)
	if !in.Ephemeral && c.s.o.Control == nil {
		return k, in, newErr(http.StatusBadRequest, codeInstanceError,
			"distrod serves ephemeral instances only: persistent instances (ephemeral=false) are not supported")
	}
	// Validate before any routing or store call, so the answer does not
	// depend on which node handles the write.
	probe := in.Clone()
	if err := probe.Normalize(); err != nil {
		return k, in, withCode(err, codeInstanceError)
	}
	return k, in, nil
}

// beatInfo is the v1 client's beat JSON (Nacos RsInfo).
type beatInfo struct {
	IP          string          `json:"ip"`
	Port        json.Number     `json:"port"`
	Weight      *float64        `json:"weight"`
	ServiceName string          `json:"serviceName"`
	Cluster     string          `json:"cluster"`
	Metadata    json.RawMessage `json:"metadata"`
	Ephemeral   *bool           `json:"ephemeral"`
}

func parseBeat(s string) (*beatInfo, error) {
	var b beatInfo
	dec := json.NewDecoder(strings.NewReader(s))
	if err := dec.Decode(&b); err != nil {
		return nil, newErr(http.StatusBadRequest, codeParameterValidate, "invalid beat JSON: %v", err)
	}
	return &b, nil
}

func (b *beatInfo) port() (int, error) {
	if b.Port == "" {
		return 0, nil
	}
	n, err := strconv.Atoi(string(b.Port))
	if err != nil {
		return 0, badNumber(string(b.Port))
	}
	return n, nil
}

func (b *beatInfo) metadata() (map[string]string, error) {
	raw := bytes.TrimSpace(b.Metadata)
	if len(raw) == 0 || string(raw) == "null" {
		return map[string]string{}, nil
	}
	m, ok := jsonStringMap(string(raw))
	if !ok {
		return nil, newErr(http.StatusBadRequest, codeInstanceMetaError, "metadata format incorrect:%s", raw)
	}
	return m, nil
}

// tagIPPort is the ownership tag of an instance write: "ip:port" from the
// parameters, or from the beat JSON when ip is absent (as DistroFilter).
func tagIPPort(c *call) (string, bool) {
	ip := strings.TrimSpace(c.p.get("ip"))
	port := strings.TrimSpace(c.p.get("port"))
	if ip == "" && c.p.has("beat") {
		if b, err := c.parsedBeat(); err == nil {
			ip, port = strings.TrimSpace(b.IP), strings.TrimSpace(string(b.Port))
		}
	}
	if ip == "" {
		return "", false
	}
	if port == "" {
		port = "0"
	}
	return ip + ":" + port, true
}

// tagService is the ownership tag of a service write.
func tagService(c *call) (string, bool) {
	k, err := c.serviceKey()
	if err != nil {
		return "", false
	}
	return naming.ServiceRecordKey(k), true
}

func serviceNotFound(k naming.ServiceKey) error {
	return fmt.Errorf("%w: service not found, namespace: %s, service: %s", naming.ErrServiceNotFound, k.Namespace, k.Grouped())
}
