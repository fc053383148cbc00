package nacoshttp

import (
	"net/url"
	"strings"
)

// knownKeys are the parameter names the API reads, plus a few that clients
// and proxies add. Raw (unescaped) JSON values are only ended at an '&' that
// is followed by one of these and '=', so a stray '&' inside a value cannot
// cut it short.
var knownKeys = map[string]bool{
	"serviceName": true, "groupName": true, "namespaceId": true, "ip": true, "port": true,
	"clusterName": true, "cluster": true, "clusters": true, "weight": true, "enabled": true,
	"enable": true, "healthy": true, "ephemeral": true, "metadata": true, "beat": true,
	"app": true, "udpPort": true, "clientIP": true, "healthyOnly": true, "instances": true,
	"consistencyType": true, "protectThreshold": true, "selector": true, "pageNo": true,
	"pageSize": true, "accessToken": true, "tenant": true, "encoding": true, "nofix": true,
	"key": true, "entry": true, "value": true, "debug": true, "onlyStatus": true, "expr": true,
	"serviceNameParam": true, "groupNameParam": true, "hasIpCount": true, "withInstances": true,
	"clientId": true, "username": true, "password": true, "instanceId": true,
}

// jsonKeys are parameters whose values are JSON documents. Old clients send
// them raw, without URL-escaping (nacos-sdk-go v1 PUT bodies).
var jsonKeys = map[string]bool{"beat": true, "metadata": true, "instances": true, "selector": true}

// params holds request parameters: the query string first, then the body,
// as a servlet container merges them (the first value wins).
type params map[string][]string

func (p params) get(k string) string {
	if v := p[k]; len(v) > 0 {
		return v[0]
	}
	return ""
}

func (p params) has(k string) bool { return len(p[k]) > 0 }

// parseParams decodes a query string or form body leniently. Well-formed
// URL-encoded input decodes as url.ParseQuery would (without rejecting ';').
// Raw input from clients that do not escape (nacos-sdk-go v1 PUT bodies and
// GET/DELETE queries) keeps its literal text: a value that does not
// unescape cleanly is kept as sent, and a raw JSON value (starting with '{'
// or '[') is never unescaped, so '+', '%' and spaces inside it survive.
func parseParams(dst params, s string) {
	for len(s) > 0 {
		var pair string
		eq := strings.IndexByte(s, '=')
		amp := strings.IndexByte(s, '&')
		if eq >= 0 && (amp < 0 || eq < amp) && jsonKeys[s[:eq]] && eq+1 < len(s) && (s[eq+1] == '{' || s[eq+1] == '[') {
			end := nextKnownKey(s, eq+1)
			pair, s = s[:end], s[min(end+1, len(s)):]
			dst[pair[:eq]] = append(dst[pair[:eq]], pair[eq+1:])
			continue
		}
		if amp < 0 {
			pair, s = s, ""
		} else {
			pair, s = s[:amp], s[amp+1:]
		}
		if pair == "" {
			continue
		}
		k, v, _ := strings.Cut(pair, "=")
		dst[unescape(k)] = append(dst[unescape(k)], unescape(v))
	}
}

// nextKnownKey returns the index of the first '&' at or after from that
// starts "&knownKey=", or len(s).
func nextKnownKey(s string, from int) int {
	for i := from; i < len(s); i++ {
		if s[i] != '&' {
			continue
		}
		rest := s[i+1:]
		if eq := strings.IndexByte(rest, '='); eq > 0 && knownKeys[rest[:eq]] {
			return i
		}
	}
	return len(s)
}

func unescape(s string) string {
	if !strings.ContainsAny(s, "%+") {
		return s
	}
	if u, err := url.QueryUnescape(s); err == nil {
		return u
	}
	return s
}
