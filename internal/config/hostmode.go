package config

import (
	"fmt"
	"os"
	"strings"

	"github.com/distrod/distrod/internal/memberaddr"
)

// Host modes, the values of Config.PreferHostMode (Nacos's
// PREFER_HOST_MODE).
const (
	// HostModeIP advertises Config.IP, an address (the default).
	HostModeIP = "ip"
	// HostModeHostname advertises this host's name, as Nacos does with
	// PREFER_HOST_MODE=hostname: members then know each other by stable
	// names (a StatefulSet's pod names, compose service names) that survive
	// address changes.
	HostModeHostname = "hostname"
)

// hostName returns this host's name: $HOSTNAME (Docker and Kubernetes set
// it to the container's or pod's host name), else the kernel's.
func hostName(getenv func(string) string) string {
	if h := strings.TrimSpace(getenv("HOSTNAME")); h != "" {
		return h
	}
	h, err := os.Hostname()
	if err != nil {
		return ""
	}
	return h
}

// selfHostName picks the name this node advertises in hostname mode: the
// host of the first member (in sorted order) on port whose host is host or
// starts with host and a dot, so that a pod named "distrod-0" advertises
// the fully qualified name its peers list; else host itself, lower-cased.
func selfHostName(host string, members []string, port int) string {
	host = strings.ToLower(strings.TrimSuffix(strings.TrimSpace(host), "."))
	if host == "" {
		return ""
	}
	norm, err := memberaddr.NormalizeMembers(members, port)
	if err != nil {
		// Validate reports the bad member; advertise the plain name.
		return host
	}
	for _, m := range norm {
		if portOf(m) != port {
			continue
		}
		if h := hostOf(m); h == host || strings.HasPrefix(h, host+".") {
			return h
		}
	}
	return host
}

// applyHostMode sets c.IP to the host name when c.PreferHostMode is
// hostname and no address was given explicitly.
func (c *Config) applyHostMode(ipExplicit bool, getenv func(string) string) error {
	c.PreferHostMode = strings.ToLower(strings.TrimSpace(c.PreferHostMode))
	if c.PreferHostMode != HostModeHostname || ipExplicit {
		return nil
	}
	h := selfHostName(hostName(getenv), c.Members, c.Port)
	if h == "" {
		return fmt.Errorf("%w: PREFER_HOST_MODE is hostname but this host has no name: set HOSTNAME or NACOS_SERVER_IP", ErrSelfAddr)
	}
	c.IP = h
	return nil
}
