package nacoshttp

import (
	"errors"
	"fmt"
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

// Parameter limits. Every key the API reads is short, so a longer key is
// junk; DefaultMaxParams bounds the pairs of one request (query and body
// together), as a servlet container's maxParameterCount does.
const (
	// DefaultMaxParams is Options.MaxParams's default.
	DefaultMaxParams = 1000
	// maxKeyBytes bounds one parameter name.
	maxKeyBytes = 256
	// knownKeyScan bounds how far after an '&' a raw JSON value looks for
	// "knownKey=": longer than any known key.
	knownKeyScan = 32
)

// errTooManyParams and errKeyTooLong are parseParams's failures.
var (
	errTooManyParams = errors.New("too many parameters")
	errKeyTooLong    = errors.New("parameter name too long")
)

// parseParams decodes a query string or form body leniently into dst,
// adding at most max pairs (counting those already in dst). Well-formed
// URL-encoded input decodes as url.ParseQuery would (without rejecting
// ';'). Raw input from clients that do not escape (nacos-sdk-go v1 PUT
// bodies and GET/DELETE queries) keeps its literal text: a value that does
// not unescape cleanly is kept as sent, and a raw JSON value (starting with
// '{' or '[') is never unescaped, so '+', '%' and spaces inside it survive.
//
// It reads each byte of s a bounded number of times: the work is linear in
// len(s) whatever its content.
func parseParams(dst params, s string, max int) error {
	n := 0
	for _, v := range dst {
		n += len(v)
	}
	for len(s) > 0 {
		amp := strings.IndexByte(s, '&')
		pair := s
		if amp >= 0 {
			pair = s[:amp]
		}
		// Only '=' inside the pair counts: searching the whole rest for it
		// would rescan the input at every '&'.
		eq := strings.IndexByte(pair, '=')
		if eq > 0 && jsonKeys[pair[:eq]] && eq+1 < len(s) && (s[eq+1] == '{' || s[eq+1] == '[') {
			end := nextKnownKey(s, eq+1)
			pair, s = s[:end], s[min(end+1, len(s)):]
		} else if amp < 0 {
			s = ""
		} else {
			s = s[amp+1:]
		}
		if pair == "" {
			continue
		}
		if n >= max {
			return fmt.Errorf("%w: more than %d", errTooManyParams, max)
		}
		n++
		k, v, _ := strings.Cut(pair, "=")
		if len(k) > maxKeyBytes {
			return fmt.Errorf("%w: %d bytes (max %d)", errKeyTooLong, len(k), maxKeyBytes)
		}
		if !jsonKeys[k] || v == "" || (v[0] != '{' && v[0] != '[') {
			k, v = unescape(k), unescape(v)
		} else {
			k = unescape(k)
		}
		dst[k] = append(dst[k], v)
	}
	return nil
}

// nextKnownKey returns the index of the first '&' at or after from that
// starts "&knownKey=", or len(s). Each candidate key is looked for within
// knownKeyScan bytes of its '&', so the scan is linear in len(s).
func nextKnownKey(s string, from int) int {
	for i := from; i < len(s); i++ {
		if s[i] != '&' {
			continue
		}
		lim := min(len(s), i+1+knownKeyScan)
		for j := i + 1; j < lim; j++ {
			if s[j] == '&' {
				break
			}
			if s[j] == '=' {
				if j > i+1 && knownKeys[s[i+1:j]] {
					return i
				}
				break
			}
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
