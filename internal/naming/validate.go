package naming

import (
	"errors"
	"fmt"
	"net/netip"
	"strings"
	"unicode"
)

// ErrLimitExceeded is a write refused by a count quota of Limits (services
// per namespace, namespaces, instances per service). Size limits
// (names, metadata) are ErrInvalidParam, as Nacos's parameter checks.
var ErrLimitExceeded = errors.New("naming: limit exceeded")

// Limits are the sizes and counts the store accepts from clients. They
// apply to owner writes (Publish, UpdateInstance, CreateService,
// UpdateService); records replicated from peers were checked by their
// owner and are applied as they are, so that nodes with different limits
// still converge. A zero field means no limit.
type Limits struct {
	// MaxNamespaceLen bounds a namespace id, in bytes. Default 64 (Nacos).
	MaxNamespaceLen int
	// MaxGroupLen bounds a group name, in bytes. Default 128 (Nacos).
	MaxGroupLen int
	// MaxServiceNameLen bounds a service name, in bytes. Default 512 (Nacos).
	MaxServiceNameLen int
	// MaxMetadataKeyLen bounds one metadata key, in bytes. Default 1 KiB.
	MaxMetadataKeyLen int
	// MaxMetadataValueLen bounds one metadata value, in bytes. Default 16 KiB.
	MaxMetadataValueLen int
	// MaxMetadataBytes bounds the keys and values of one instance's (or one
	// service's) metadata together, in bytes. Default 64 KiB.
	MaxMetadataBytes int
	// MaxInstancesPerService bounds the instances of one service, over all
	// clients. Default 10000.
	MaxInstancesPerService int
	// MaxServicesPerNamespace bounds the services of one namespace.
	// Default 100000.
	MaxServicesPerNamespace int
	// MaxNamespaces bounds the namespaces holding services. Default 1000.
	MaxNamespaces int
}

// DefaultLimits returns the limits NewStore starts with.
func DefaultLimits() Limits {
	return Limits{
		MaxNamespaceLen:         64,
		MaxGroupLen:             128,
		MaxServiceNameLen:       512,
		MaxMetadataKeyLen:       1 << 10,
		MaxMetadataValueLen:     16 << 10,
		MaxMetadataBytes:        64 << 10,
		MaxInstancesPerService:  10000,
		MaxServicesPerNamespace: 100000,
		MaxNamespaces:           1000,
	}
}

// Fixed name rules. They are not settings: they keep the separators of
// record keys ("|", "##", "@@") out of every name, so a key always splits
// back into the names it was built from.
const (
	// MaxClusterNameLen bounds a cluster name (Nacos: 64).
	MaxClusterNameLen = 64
	// MaxIPLen bounds an instance's ip or host name (Nacos: 128).
	MaxIPLen = 128
)

func illegalChars(param string) error {
	return fmt.Errorf("%w: Param '%s' is illegal, illegal characters should not appear in the param.", ErrInvalidParam, param)
}

func tooLong(param string, max int) error {
	return fmt.Errorf("%w: Param '%s' is illegal, the param length should not exceed %d.", ErrInvalidParam, param, max)
}

// checkNamespace applies Nacos's namespace id rule: letters, digits, '_'
// and '-' only.
func checkNamespace(ns string) error {
	for i := 0; i < len(ns); i++ {
		if !isWordByte(ns[i]) && ns[i] != '-' {
			return illegalChars("namespaceId/tenant")
		}
	}
	return nil
}

// checkGroup applies Nacos's group rule: letters, digits, '-', '_', ':'
// and '.' only.
func checkGroup(g string) error {
	for i := 0; i < len(g); i++ {
		c := g[i]
		if !isWordByte(c) && c != '-' && c != ':' && c != '.' {
			return illegalChars("group")
		}
	}
	return nil
}

// checkServiceName applies Nacos's service name rule (no leading '@', no
// "@@", no white space, no CJK ideographs) and also refuses the other key
// separators, "##" and '|', and control characters.
func checkServiceName(name string) error {
	if strings.HasPrefix(name, "@") || strings.Contains(name, GroupSeparator) ||
		strings.Contains(name, "##") || strings.IndexByte(name, '|') >= 0 {
		return illegalChars("serviceName")
	}
	for _, r := range name {
		if unicode.IsSpace(r) || unicode.IsControl(r) || (r >= 0x4E00 && r <= 0x9FA5) || r == 0xFFFD {
			return illegalChars("serviceName")
		}
	}
	return nil
}

func isWordByte(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_'
}

// Check validates the key's names: the character rules always, and the
// lengths of l (zero fields are not checked).
func (k ServiceKey) Check(l Limits) error {
	if err := k.checkChars(); err != nil {
		return err
	}
	switch {
	case l.MaxNamespaceLen > 0 && len(k.Namespace) > l.MaxNamespaceLen:
		return tooLong("namespaceId/tenant", l.MaxNamespaceLen)
	case l.MaxGroupLen > 0 && len(k.Group) > l.MaxGroupLen:
		return tooLong("group", l.MaxGroupLen)
	case l.MaxServiceNameLen > 0 && len(k.Name) > l.MaxServiceNameLen:
		return tooLong("serviceName", l.MaxServiceNameLen)
	}
	return nil
}

func (k ServiceKey) checkChars() error {
	if k.Name == "" {
		return fmt.Errorf("%w: serviceName is empty", ErrInvalidParam)
	}
	if err := checkNamespace(k.Namespace); err != nil {
		return err
	}
	if err := checkGroup(k.Group); err != nil {
		return err
	}
	return checkServiceName(k.Name)
}

// CheckIP accepts an IPv4 or IPv6 address (without a zone) or a host name
// of letters, digits, '-', '_' and '.' (labels of at most 63 bytes, not
// starting or ending with '-'), at most MaxIPLen bytes.
func CheckIP(ip string) error {
	if ip == "" {
		return fmt.Errorf("%w: ip is empty", ErrInvalidParam)
	}
	if len(ip) > MaxIPLen {
		return tooLong("ip", MaxIPLen)
	}
	if a, err := netip.ParseAddr(ip); err == nil {
		if a.Zone() != "" {
			return fmt.Errorf("%w: Param 'ip' is illegal, %q has a zone; use an address without one", ErrInvalidParam, ip)
		}
		return nil
	}
	if !validHostname(ip) {
		return fmt.Errorf("%w: Param 'ip' is illegal, %q is neither an IPv4/IPv6 address nor a host name", ErrInvalidParam, ip)
	}
	return nil
}

func validHostname(h string) bool {
	h = strings.TrimSuffix(h, ".")
	if h == "" || len(h) > 253 {
		return false
	}
	allDigitsOrDots := true
	for label := range strings.SplitSeq(h, ".") {
		if label == "" || len(label) > 63 || label[0] == '-' || label[len(label)-1] == '-' {
			return false
		}
		for i := 0; i < len(label); i++ {
			c := label[i]
			if !isWordByte(c) && c != '-' {
				return false
			}
			if c < '0' || c > '9' {
				allDigitsOrDots = false
			}
		}
	}
	// "1.2.3.999" is a mistyped address, not a host name.
	return !allDigitsOrDots
}

// CheckMetadata applies l's metadata limits (zero fields are not checked).
func (l Limits) CheckMetadata(m map[string]string) error {
	total := 0
	for k, v := range m {
		if l.MaxMetadataKeyLen > 0 && len(k) > l.MaxMetadataKeyLen {
			return tooLong("Metadata' key '"+truncate(k, 32), l.MaxMetadataKeyLen)
		}
		if l.MaxMetadataValueLen > 0 && len(v) > l.MaxMetadataValueLen {
			return tooLong("Metadata' value of '"+truncate(k, 32), l.MaxMetadataValueLen)
		}
		total += len(k) + len(v)
	}
	if l.MaxMetadataBytes > 0 && total > l.MaxMetadataBytes {
		return tooLong("Metadata", l.MaxMetadataBytes)
	}
	return nil
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "..."
}
