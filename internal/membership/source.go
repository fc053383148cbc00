package membership

import (
	"bytes"
	"cmp"
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/distrod/distrod/internal/memberaddr"
)

// Source produces the current member list.
//
// Members is called from one goroutine at a time (a Watcher's); it may
// block on I/O but must return when ctx is done. It returns the members as
// normalised "host:port" addresses, sorted and without duplicates. An error
// means "no answer this time": callers keep the list they have, so a
// half-written file or a DNS outage never empties the cluster.
type Source interface {
	Members(ctx context.Context) ([]string, error)
}

// ErrNoMembers is returned by a Source that found an empty list.
var ErrNoMembers = errors.New("membership: source lists no members")

// StaticSource is a fixed list, from flags or the environment.
type StaticSource struct {
	// Addrs are "host[:port]" entries.
	Addrs []string
	// DefaultPort applies to entries without a port.
	DefaultPort int
}

// Members returns Addrs normalised.
func (s StaticSource) Members(ctx context.Context) ([]string, error) {
	m, err := memberaddr.NormalizeMembers(s.Addrs, s.DefaultPort)
	if err != nil {
		return nil, err
	}
	if len(m) == 0 {
		return nil, ErrNoMembers
	}
	return m, nil
}

// racyWindow is how long after a file's mtime we keep re-reading it even
// if mtime and size look unchanged: file systems with coarse timestamps
// can hide a second write within the same tick.
const racyWindow = 2 * time.Second

// FileSource reads a Nacos-format cluster.conf (see
// memberaddr.ParseClusterConf). It re-reads the file only when its mtime or
// size changed, or while the mtime is recent enough that a same-tick
// rewrite could hide, and re-parses only when the content changed. Safe
// for concurrent use.
type FileSource struct {
	path        string
	defaultPort int
	now         func() time.Time

	mu      sync.Mutex
	modTime time.Time
	size    int64
	readAt  time.Time
	content []byte
	members []string
	have    bool
}

// NewFileSource returns a source for the file at path; entries without a
// port get defaultPort. now supplies the time used to decide whether an
// unchanged mtime can be trusted; nil means time.Now.
func NewFileSource(path string, defaultPort int, now func() time.Time) *FileSource {
	if now == nil {
		now = time.Now
	}
	return &FileSource{path: path, defaultPort: defaultPort, now: now}
}

// Path returns the watched file's path.
func (f *FileSource) Path() string { return f.path }

// Members returns the file's member list. A missing, unreadable,
// unparseable or empty file is an error.
func (f *FileSource) Members(ctx context.Context) ([]string, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	fi, err := os.Stat(f.path)
	if err != nil {
		return nil, fmt.Errorf("membership: member file: %w", err)
	}
	if f.have && fi.ModTime().Equal(f.modTime) && fi.Size() == f.size && f.readAt.Sub(f.modTime) > racyWindow {
		return slices.Clone(f.members), nil
	}
	readAt := f.now()
	data, err := os.ReadFile(f.path)
	if err != nil {
		return nil, fmt.Errorf("membership: member file: %w", err)
	}
	if !f.have || !bytes.Equal(data, f.content) {
		m, err := memberaddr.ParseClusterConf(bytes.NewReader(data), f.defaultPort)
		if err != nil {
			return nil, fmt.Errorf("%w (in %s)", err, f.path)
		}
		if len(m) == 0 {
			return nil, fmt.Errorf("%w: %s", ErrNoMembers, f.path)
		}
		f.content, f.members, f.have = data, m, true
	}
	// Record the stat seen before the read: if the file changed in
	// between, the next call sees a different mtime or size and re-reads.
	f.modTime, f.size, f.readAt = fi.ModTime(), fi.Size(), readAt
	return slices.Clone(f.members), nil
}

// Resolver looks host up and returns its addresses, like
// net.Resolver.LookupHost.
type Resolver func(ctx context.Context, host string) ([]string, error)

// DNSSource resolves a name, such as a Kubernetes headless service, to the
// member list. A plain name's addresses (A/AAAA) are members on Port. A name
// starting with "_" ("_http._tcp.distrod-headless.ns.svc.cluster.local") is
// looked up as SRV records: each names a member's host and port, and the
// member is every address of that host on that port.
type DNSSource struct {
	// Host is the name to resolve.
	Host string
	// Port is every member's HTTP port (for A/AAAA lookups).
	Port int
	// Resolve looks a host up; nil means Resolver.LookupHost.
	Resolve Resolver
	// Resolver answers the lookups Resolve does not; nil means
	// net.DefaultResolver. NewDNSResolver makes one that asks a given
	// server.
	Resolver *net.Resolver
}

// NewDNSResolver returns a resolver that sends every query to server
// ("host:port", or "host" for port 53) instead of the servers of
// /etc/resolv.conf, over UDP or TCP as the Go resolver chooses. An empty
// server returns net.DefaultResolver.
func NewDNSResolver(server string) *net.Resolver {
	if server == "" {
		return net.DefaultResolver
	}
	if _, _, err := net.SplitHostPort(server); err != nil {
		server = net.JoinHostPort(strings.Trim(server, "[]"), "53")
	}
	var d net.Dialer
	return &net.Resolver{
		PreferGo: true,
		Dial: func(ctx context.Context, network, _ string) (net.Conn, error) {
			return d.DialContext(ctx, network, server)
		},
	}
}

// Members resolves Host. No addresses is ErrNoMembers.
func (d DNSSource) Members(ctx context.Context) ([]string, error) {
	r := d.Resolver
	if r == nil {
		r = net.DefaultResolver
	}
	resolve := d.Resolve
	if resolve == nil {
		resolve = r.LookupHost
	}
	var addrs []string
	if strings.HasPrefix(d.Host, "_") {
		_, srvs, err := r.LookupSRV(ctx, "", "", d.Host)
		if err != nil && len(srvs) == 0 {
			return nil, fmt.Errorf("membership: resolving SRV %s: %w", d.Host, err)
		}
		var firstErr error
		for _, srv := range srvs {
			ips, err := resolve(ctx, strings.TrimSuffix(srv.Target, "."))
			if err != nil {
				// A target not resolvable yet (a pod just scheduled) is left
				// out; the next refresh picks it up.
				firstErr = cmp.Or(firstErr, err)
				continue
			}
			for _, ip := range ips {
				addrs = append(addrs, net.JoinHostPort(ip, strconv.Itoa(int(srv.Port))))
			}
		}
		if len(addrs) == 0 && firstErr != nil {
			return nil, fmt.Errorf("membership: resolving SRV targets of %s: %w", d.Host, firstErr)
		}
	} else {
		ips, err := resolve(ctx, d.Host)
		if err != nil {
			return nil, fmt.Errorf("membership: resolving %s: %w", d.Host, err)
		}
		addrs = ips
	}
	m, err := memberaddr.NormalizeMembers(addrs, d.Port)
	if err != nil {
		return nil, fmt.Errorf("membership: resolving %s: %w", d.Host, err)
	}
	if len(m) == 0 {
		return nil, fmt.Errorf("%w: %s resolved to no address", ErrNoMembers, d.Host)
	}
	return m, nil
}
