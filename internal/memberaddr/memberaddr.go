// Package memberaddr parses and normalises cluster member addresses: the
// member list of the configuration (flags, environment, YAML) and Nacos's
// cluster.conf. It is a leaf: config validates with it and the membership
// sources normalise what they read with it.
package memberaddr

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"sort"
	"strconv"
	"strings"
)

// Sentinel errors. Callers test them with errors.Is; config re-exports
// them as config.ErrInvalidAddr and config.ErrMemberFile.
var (
	// ErrInvalidAddr: a member address cannot be parsed.
	ErrInvalidAddr = errors.New("config: invalid member address")
	// ErrMemberFile: cluster.conf exists but cannot be read.
	ErrMemberFile = errors.New("config: cannot read member file")
)

// NormalizeMember parses one member address, "host", "host:port",
// "[v6]:port" or a bare IPv6 literal, and returns it as "host:port" with
// the port defaulting to defaultPort, IP literals in canonical form and host
// names in lower case. Errors wrap ErrInvalidAddr.
func NormalizeMember(s string, defaultPort int) (string, error) {
	n, err := normalizeMember(s, defaultPort)
	if err != nil {
		return "", fmt.Errorf("%w: %v", ErrInvalidAddr, err)
	}
	return n, nil
}

// normalizeMember is NormalizeMember with an unwrapped error, so callers
// can add context after the sentinel.
func normalizeMember(s string, defaultPort int) (string, error) {
	raw := s
	s = strings.TrimSpace(s)
	if s == "" {
		return "", errors.New("empty address")
	}
	if strings.Contains(s, "://") || strings.ContainsAny(s, "/ \t") {
		return "", fmt.Errorf("%q: want host[:port], without scheme or path", raw)
	}
	host, portStr := s, ""
	switch {
	case strings.HasPrefix(s, "[") && strings.HasSuffix(s, "]"):
		host = s[1 : len(s)-1]
	case strings.HasPrefix(s, "[") || strings.Count(s, ":") == 1:
		// "[v6]:port" or "host:port"; more colons without brackets are a
		// bare IPv6 literal, which has no room for a port.
		h, p, err := net.SplitHostPort(s)
		if err != nil {
			return "", fmt.Errorf("%q: %v", raw, err)
		}
		if p == "" {
			return "", fmt.Errorf("%q: empty port", raw)
		}
		host, portStr = h, p
	}
	port := defaultPort
	if portStr != "" {
		p, err := strconv.Atoi(portStr)
		if err != nil {
			return "", fmt.Errorf("%q: port %q is not a number", raw, portStr)
		}
		port = p
	}
	if port < 1 || port > 65535 {
		return "", fmt.Errorf("%q: port %d not in 1..65535", raw, port)
	}
	h, err := CanonicalHost(host)
	if err != nil {
		return "", fmt.Errorf("%q: %v", raw, err)
	}
	return net.JoinHostPort(h, strconv.Itoa(port)), nil
}

// CanonicalHost returns an IP literal in canonical form or a valid host
// name in lower case.
func CanonicalHost(h string) (string, error) {
	if h == "" {
		return "", errors.New("empty host")
	}
	if a, err := netip.ParseAddr(h); err == nil {
		if a.Zone() != "" {
			return "", errors.New("IPv6 zones are not supported")
		}
		return a.Unmap().String(), nil
	}
	if strings.Contains(h, ":") {
		return "", fmt.Errorf("invalid IP address %q", h)
	}
	if len(h) > 253 {
		return "", errors.New("host name longer than 253 characters")
	}
	for _, label := range strings.Split(strings.TrimSuffix(h, "."), ".") {
		if label == "" || len(label) > 63 {
			return "", fmt.Errorf("invalid host name %q", h)
		}
		for _, r := range label {
			ok := r == '-' || r == '_' || ('0' <= r && r <= '9') || ('a' <= r && r <= 'z') || ('A' <= r && r <= 'Z')
			if !ok {
				return "", fmt.Errorf("invalid character %q in host name %q", r, h)
			}
		}
	}
	return strings.ToLower(strings.TrimSuffix(h, ".")), nil
}

// NormalizeMembers normalises every address with NormalizeMember and
// returns them sorted without duplicates. Empty entries are skipped.
func NormalizeMembers(addrs []string, defaultPort int) ([]string, error) {
	seen := make(map[string]bool, len(addrs))
	out := make([]string, 0, len(addrs))
	for _, a := range addrs {
		if strings.TrimSpace(a) == "" {
			continue
		}
		n, err := NormalizeMember(a, defaultPort)
		if err != nil {
			return nil, err
		}
		if !seen[n] {
			seen[n] = true
			out = append(out, n)
		}
	}
	sort.Strings(out)
	return out, nil
}

// SplitMembers splits a member list written on one line, separated by
// commas and/or white space ("a:8848 b:8848" or "a,b"), as NACOS_SERVERS
// and the -members flag take it. Empty entries are dropped.
func SplitMembers(s string) []string {
	return strings.FieldsFunc(s, func(r rune) bool {
		return r == ',' || r == ' ' || r == '\t' || r == '\n' || r == '\r' || r == ';'
	})
}

// ParseClusterConf reads a member list in Nacos's cluster.conf format: one
// "ip[:port]" per line, "#" starting a comment (a whole line or the rest of
// one), several members on one line separated by commas (white space is
// accepted too), a missing port meaning defaultPort. It returns the members
// normalised, sorted and without duplicates; an empty result is not an
// error. Parse errors wrap ErrInvalidAddr and name the line.
func ParseClusterConf(r io.Reader, defaultPort int) ([]string, error) {
	sc := bufio.NewScanner(r)
	var all []string
	line := 0
	for sc.Scan() {
		line++
		text := sc.Text()
		if line == 1 {
			text = strings.TrimPrefix(text, "\ufeff")
		}
		if i := strings.IndexByte(text, '#'); i >= 0 {
			text = text[:i]
		}
		for _, f := range SplitMembers(text) {
			n, err := normalizeMember(f, defaultPort)
			if err != nil {
				return nil, fmt.Errorf("%w: cluster.conf line %d: %v", ErrInvalidAddr, line, err)
			}
			all = append(all, n)
		}
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrMemberFile, err)
	}
	return NormalizeMembers(all, defaultPort)
}
