package chaos

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
)

// Every namespace of a run is named nsPrefix + the test process's pid +
// "-" + a role, so a later run can tell its own leftovers (from a run whose
// process is gone) from another run still going.
const nsPrefix = "dchx"

// subnet is the /24 the run's namespaces share. It exists only inside them:
// the root namespace has neither an address nor a route in it.
const subnet = "10.77.0."

var leftoverName = regexp.MustCompile(`^` + nsPrefix + `(\d+)-`)

// network is one run's topology: a "switch" namespace holding a bridge,
// one namespace per distrod node and one for the clients, each joined to
// the bridge by a veth pair.
type network struct {
	t      testing.TB
	prefix string
	sw     string
	nodes  []string // namespace of node i
	client string

	mu sync.Mutex
	// blocked holds the pairs (i<j) whose traffic is dropped now.
	blocked map[[2]int]bool
}

// nodeIP is the address of node i (0-based).
func nodeIP(i int) string { return subnet + strconv.Itoa(11+i) }

// clientIP is the address of the clients' namespace.
func clientIP() string { return subnet + "100" }

func run(args ...string) error {
	out, err := exec.Command(args[0], args[1:]...).CombinedOutput()
	if err != nil {
		return fmt.Errorf("%s: %w: %s", strings.Join(args, " "), err, bytes.TrimSpace(out))
	}
	return nil
}

func runIn(ns string, stdin string, args ...string) error {
	cmd := exec.Command("ip", append([]string{"netns", "exec", ns}, args...)...)
	cmd.Stdin = strings.NewReader(stdin)
	out, err := cmd.CombinedOutput()
	if err != nil {
		return fmt.Errorf("in %s: %s: %w: %s", ns, strings.Join(args, " "), err, bytes.TrimSpace(out))
	}
	return nil
}

// namespaces lists the network namespaces whose names start with prefix.
func namespaces(prefix string) []string {
	out, err := exec.Command("ip", "netns", "list").Output()
	if err != nil {
		return nil
	}
	var names []string
	for _, line := range strings.Split(string(out), "\n") {
		if f := strings.Fields(line); len(f) > 0 && strings.HasPrefix(f[0], prefix) {
			names = append(names, f[0])
		}
	}
	return names
}

// removeNamespace kills what still runs in ns (only ever processes a chaos
// run started there) and deletes it, which also deletes its veth ends.
func removeNamespace(ns string) {
	if out, err := exec.Command("ip", "netns", "pids", ns).Output(); err == nil {
		for _, f := range strings.Fields(string(out)) {
			if pid, err := strconv.Atoi(f); err == nil && pid != os.Getpid() {
				if p, err := os.FindProcess(pid); err == nil {
					_ = p.Kill()
				}
			}
		}
	}
	_ = run("ip", "netns", "del", ns)
}

// removeLeftovers deletes the namespaces of earlier runs whose test
// process no longer exists.
func removeLeftovers(t testing.TB) {
	for _, ns := range namespaces(nsPrefix) {
		m := leftoverName.FindStringSubmatch(ns)
		if m == nil {
			continue
		}
		if _, err := os.Stat("/proc/" + m[1]); err == nil {
			continue // that run is still going
		}
		t.Logf("removing leftover namespace %s of an earlier run", ns)
		removeNamespace(ns)
	}
}

// newNetwork builds the topology for n nodes and registers its teardown
// with t.Cleanup (registered first, so it runs after every process of the
// run was stopped).
func newNetwork(t testing.TB, n int) *network {
	t.Helper()
	removeLeftovers(t)
	nw := &network{t: t, prefix: nsPrefix + strconv.Itoa(os.Getpid()), blocked: map[[2]int]bool{}}
	nw.sw = nw.prefix + "-sw"
	nw.client = nw.prefix + "-c"
	for i := range n {
		nw.nodes = append(nw.nodes, fmt.Sprintf("%s-n%d", nw.prefix, i+1))
	}
	t.Cleanup(func() {
		for _, ns := range namespaces(nw.prefix + "-") {
			removeNamespace(ns)
		}
	})
	steps := [][]string{
		{"ip", "netns", "add", nw.sw},
		{"ip", "-n", nw.sw, "link", "set", "lo", "up"},
		{"ip", "-n", nw.sw, "link", "add", "br0", "type", "bridge"},
		{"ip", "-n", nw.sw, "link", "set", "br0", "up"},
	}
	attach := func(ns, ip, port string) {
		steps = append(steps,
			[]string{"ip", "netns", "add", ns},
			// Both ends are created inside their namespaces: nothing of
			// the run ever appears in the root namespace.
			[]string{"ip", "link", "add", "eth0", "netns", ns, "type", "veth", "peer", "name", port, "netns", nw.sw},
			[]string{"ip", "-n", nw.sw, "link", "set", port, "master", "br0"},
			[]string{"ip", "-n", nw.sw, "link", "set", port, "up"},
			[]string{"ip", "-n", ns, "link", "set", "lo", "up"},
			[]string{"ip", "-n", ns, "addr", "add", ip + "/24", "dev", "eth0"},
			[]string{"ip", "-n", ns, "link", "set", "eth0", "up"},
		)
	}
	for i, ns := range nw.nodes {
		attach(ns, nodeIP(i), fmt.Sprintf("p%d", i+1))
	}
	attach(nw.client, clientIP(), "pc")
	for _, s := range steps {
		if err := run(s...); err != nil {
			t.Fatalf("building the network: %v", err)
		}
	}
	// Each node namespace sends all traffic through its CHAOS chain, where
	// faults add DROP rules: packets vanish, nothing is refused.
	for _, ns := range nw.nodes {
		for _, args := range [][]string{
			{"iptables", "-w", "-N", "CHAOS"},
			{"iptables", "-w", "-A", "INPUT", "-j", "CHAOS"},
			{"iptables", "-w", "-A", "OUTPUT", "-j", "CHAOS"},
		} {
			if err := runIn(ns, "", args...); err != nil {
				t.Fatalf("building the network: %v", err)
			}
		}
	}
	return nw
}

// setBlocked makes the set of cut node pairs exactly want: each pair's
// traffic is dropped in both directions by rules in the lower node's
// namespace. Rules are added and removed per namespace in one
// iptables-restore, so pairs that stay cut are never briefly open.
func (nw *network) setBlocked(want map[[2]int]bool) error {
	nw.mu.Lock()
	defer nw.mu.Unlock()
	scripts := map[int]*strings.Builder{}
	add := func(p [2]int, verb string) {
		b := scripts[p[0]]
		if b == nil {
			b = &strings.Builder{}
			b.WriteString("*filter\n")
			scripts[p[0]] = b
		}
		fmt.Fprintf(b, "%s CHAOS -s %s -j DROP\n%s CHAOS -d %s -j DROP\n", verb, nodeIP(p[1]), verb, nodeIP(p[1]))
	}
	for p := range nw.blocked {
		if !want[p] {
			add(p, "-D")
		}
	}
	for p := range want {
		if !nw.blocked[p] {
			add(p, "-A")
		}
	}
	var errs []error
	keys := make([]int, 0, len(scripts))
	for k := range scripts {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, i := range keys {
		if err := runIn(nw.nodes[i], scripts[i].String()+"COMMIT\n", "iptables-restore", "-w", "--noflush"); err != nil {
			errs = append(errs, err)
		}
	}
	if len(errs) > 0 {
		return fmt.Errorf("chaos: changing links: %v", errs)
	}
	nw.blocked = map[[2]int]bool{}
	for p := range want {
		nw.blocked[p] = true
	}
	return nil
}
