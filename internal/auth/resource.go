package auth

import "strings"

// Actions a request needs on its resource.
const (
	Read  = "r"
	Write = "w"
)

// Resource is the naming resource a request touches. Empty fields mean
// "any": a listing of a whole namespace has no Service.
type Resource struct {
	// Namespace is the namespace id; "" and "public" are the default one.
	Namespace string
	// Group is the group name.
	Group string
	// Service is the bare service name, without "group@@".
	Service string
}

// String joins the resource as Nacos matches it against permission
// patterns: "namespace:group:naming/service", with "" for the public
// namespace and "*" for an empty group or service.
func (r Resource) String() string {
	ns := r.Namespace
	if ns == "public" {
		ns = ""
	}
	group, svc := r.Group, r.Service
	if group == "" {
		group = "*"
	}
	if svc == "" {
		svc = "*"
	}
	return ns + ":" + group + ":naming/" + svc
}

// matchResource reports whether a permission pattern matches a joined
// resource. "*" matches any run of characters (Nacos turns it into the
// regular expression ".*"); every other character matches itself. A
// pattern for the "public" namespace also matches the public namespace's
// empty id.
func matchResource(pattern, joined string) bool {
	if rest, ok := strings.CutPrefix(pattern, "public:"); ok {
		pattern = ":" + rest
	}
	return glob(pattern, joined)
}

// glob matches s against p where '*' matches any run of bytes, in linear
// time with single backtracking.
func glob(p, s string) bool {
	pi, si := 0, 0
	star, mark := -1, 0
	for si < len(s) {
		switch {
		case pi < len(p) && p[pi] == '*':
			star, mark = pi, si
			pi++
		case pi < len(p) && p[pi] == s[si]:
			pi++
			si++
		case star >= 0:
			pi = star + 1
			mark++
			si = mark
		default:
			return false
		}
	}
	for pi < len(p) && p[pi] == '*' {
		pi++
	}
	return pi == len(p)
}
