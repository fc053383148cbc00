package distro_test

import (
	"flag"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/distrod/distrod/internal/distro"
	"github.com/distrod/distrod/internal/distro/distrotest"
	"github.com/distrod/distrod/internal/hlc"
)

var update = flag.Bool("update", false, "rewrite the output of testdata/script/*.golden")

// TestScript_Golden runs the data-driven scripts of testdata/script. Each
// file is a transcript in the format of the HTTP API's goldens: "### "
// starts a section, "> " lines are commands, and every other line is the
// output of the command before it. The test re-runs the commands and
// compares the whole transcript; -update rewrites the output in place.
//
// Commands (node names are member addresses; the clock starts at 0):
//
//	nodes a b c [sync-delay=D] [verify=D] [tombstone-ttl=D] [load-timeout=D] [owner-grace=D]
//	    fresh nodes with the default Config, except the given settings
//	members [on=a,b] a b:suspicious c:down
//	    sets the member view (states: up, suspicious, down) on every node,
//	    or on the nodes listed by on=
//	observe a KEY [tag=T] [ver=N] [owner=O] [tomb]
//	    stores a record on a (written by owner, a by default, at version N,
//	    default 1) and lets a observe it, as the shell does after a write
//	tick [D]
//	    advances the clock by D (default 0) and ticks every node
//	deliver [N|all]
//	    delivers the first N queued messages (default: those queued now;
//	    all: until the network is quiet)
//	drop [FROM>TO] [unreachable]
//	    drops the queued messages from FROM to TO (default all), telling
//	    the sender when unreachable is given
//	status a
//	    prints a's status
//	store a
//	    prints a's records
//
// After each command every message the nodes queued is printed with its
// sender and destination ("sent a>b SyncBatch ...").
func TestScript_Golden(t *testing.T) {
	files, err := filepath.Glob(filepath.Join("testdata", "script", "*.golden"))
	if err != nil {
		t.Fatal(err)
	}
	if len(files) == 0 {
		t.Fatal("no scripts in testdata/script")
	}
	for _, path := range files {
		t.Run(strings.TrimSuffix(filepath.Base(path), ".golden"), func(t *testing.T) {
			in, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			got := runCoreScript(t, string(in))
			if *update {
				if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
					t.Fatal(err)
				}
				return
			}
			if got != string(in) {
				t.Errorf("%s differs (run with -update and review the diff)\n%s", path, scriptDiff(string(in), got))
			}
		})
	}
}

// scriptDiff names the first line where got departs from want, with the
// section and command it belongs to.
func scriptDiff(want, got string) string {
	wl, gl := strings.Split(want, "\n"), strings.Split(got, "\n")
	section, command := "", ""
	for i := range max(len(wl), len(gl)) {
		w, g := "<end>", "<end>"
		if i < len(wl) {
			w = wl[i]
		}
		if i < len(gl) {
			g = gl[i]
		}
		if w == g {
			if strings.HasPrefix(w, "### ") {
				section = w
			} else if strings.HasPrefix(w, "> ") {
				command = w
			}
			continue
		}
		return fmt.Sprintf("%s\n%s\nline %d: want %q\n         got  %q", section, command, i+1, w, g)
	}
	return ""
}

// runCoreScript replays the commands of a transcript and returns the
// transcript with fresh output.
func runCoreScript(t *testing.T, in string) string {
	s := &script{t: t, nodes: map[string]*tnode{}}
	var out strings.Builder
	for line := range strings.SplitSeq(strings.TrimRight(in, "\n"), "\n") {
		switch {
		case strings.HasPrefix(line, "### "):
			if out.Len() > 0 {
				out.WriteString("\n")
			}
			out.WriteString(line + "\n")
		case strings.HasPrefix(line, "> "):
			out.WriteString(line + "\n")
			for _, l := range s.run(strings.Fields(strings.TrimPrefix(line, "> "))) {
				out.WriteString(l + "\n")
			}
		}
	}
	return out.String()
}

type script struct {
	t     *testing.T
	now   time.Duration
	order []string
	nodes map[string]*tnode
	queue []queued
	out   []string
}

type queued struct {
	from string
	env  distro.Envelope
}

func (s *script) at() time.Time { return t0.Add(s.now) }

func (s *script) printf(format string, args ...any) {
	s.out = append(s.out, fmt.Sprintf(format, args...))
}

// run runs one command and returns its output.
func (s *script) run(f []string) []string {
	s.out = nil
	if len(f) == 0 {
		s.t.Fatal("empty command")
	}
	cmd, args := f[0], f[1:]
	switch cmd {
	case "nodes":
		s.cmdNodes(args)
	case "members":
		s.cmdMembers(args)
	case "observe":
		s.cmdObserve(args)
	case "tick":
		if len(args) > 0 {
			s.now += s.duration(args[0])
		}
		for _, a := range s.order {
			s.nodes[a].node.Tick(s.at())
		}
	case "deliver":
		s.cmdDeliver(args)
	case "drop":
		s.cmdDrop(args)
	case "status":
		s.cmdStatus(s.node(args))
	case "store":
		for _, r := range s.node(args).store.Records() {
			s.printf("%s", fmtRecord(r))
		}
	default:
		s.t.Fatalf("unknown command %q", cmd)
	}
	s.collect()
	return s.out
}

func (s *script) duration(v string) time.Duration {
	d, err := time.ParseDuration(v)
	if err != nil {
		s.t.Fatalf("duration %q: %v", v, err)
	}
	return d
}

func (s *script) node(args []string) *tnode {
	if len(args) == 0 || s.nodes[args[0]] == nil {
		s.t.Fatalf("no node %v", args)
	}
	return s.nodes[args[0]]
}

func (s *script) cmdNodes(args []string) {
	var names []string
	set := map[string]time.Duration{}
	for _, a := range args {
		if k, v, ok := strings.Cut(a, "="); ok {
			set[k] = s.duration(v)
			continue
		}
		names = append(names, a)
	}
	for i, a := range names {
		cfg := distro.DefaultConfig(a)
		for k, v := range set { // order-independent: each sets its own field
			switch k {
			case "sync-delay":
				cfg.SyncDelay = v
			case "verify":
				cfg.VerifyInterval = v
			case "tombstone-ttl":
				cfg.TombstoneTTL = v
			case "load-timeout":
				cfg.LoadTimeout = v
			case "owner-grace":
				cfg.OwnerGrace = v
			default:
				s.t.Fatalf("nodes: unknown setting %q", k)
			}
		}
		st := distrotest.NewMemStore()
		n, err := distro.New(cfg, st, rand.New(rand.NewPCG(uint64(i), 99)))
		if err != nil {
			s.t.Fatal(err)
		}
		s.nodes[a] = &tnode{addr: a, node: n, store: st}
		s.order = append(s.order, a)
	}
}

func (s *script) cmdMembers(args []string) {
	targets := s.order
	var view []distro.Member
	for _, a := range args {
		if on, ok := strings.CutPrefix(a, "on="); ok {
			targets = strings.Split(on, ",")
			continue
		}
		addr, state, _ := strings.Cut(a, ":")
		m := distro.Member{Addr: addr, State: distro.StateUp}
		switch state {
		case "", "up":
		case "suspicious":
			m.State = distro.StateSuspicious
		case "down":
			m.State = distro.StateDown
		default:
			s.t.Fatalf("members: unknown state %q", state)
		}
		view = append(view, m)
	}
	for _, a := range targets {
		s.node([]string{a}).node.SetMembers(s.at(), view)
	}
}

func (s *script) cmdObserve(args []string) {
	x := s.node(args)
	if len(args) < 2 {
		s.t.Fatal("observe: need a node and a key")
	}
	r := distro.Record{Key: args[1], Owner: x.addr, Version: hlc.Version{Clock: 1 << 16, Node: 1}}
	for _, a := range args[2:] {
		k, v, _ := strings.Cut(a, "=")
		switch k {
		case "tag":
			r.Tag = v
		case "owner":
			r.Owner = v
		case "ver":
			n, err := strconv.ParseUint(v, 10, 48)
			if err != nil {
				s.t.Fatalf("observe: ver %q: %v", v, err)
			}
			r.Version.Clock = n << 16
		case "tomb":
			r.Tombstone = true
		default:
			s.t.Fatalf("observe: unknown argument %q", a)
		}
	}
	if !r.Tombstone {
		r.Data = []byte(r.Key)
	}
	x.store.Put(r)
	x.observe(s.at())
}

// collect moves every outbox into the network queue, printing each send.
func (s *script) collect() {
	for _, a := range s.order {
		for _, env := range s.nodes[a].node.Outbox() {
			s.queue = append(s.queue, queued{from: a, env: env})
			s.printf("sent %s>%s %s", a, env.To, fmtMsg(env.Msg))
		}
	}
}

func (s *script) cmdDeliver(args []string) {
	n := len(s.queue)
	all := false
	if len(args) > 0 {
		if args[0] == "all" {
			all = true
		} else {
			v, err := strconv.Atoi(args[0])
			if err != nil {
				s.t.Fatalf("deliver: %v", err)
			}
			n = min(v, len(s.queue))
		}
	}
	for round := 0; ; round++ {
		if round > 1000 {
			s.t.Fatal("deliver: message storm")
		}
		batch := s.queue[:n]
		s.queue = slices.Clone(s.queue[n:])
		for _, q := range batch {
			dst := s.nodes[q.env.To]
			if dst == nil {
				s.printf("lost %s>%s %s (no such node)", q.from, q.env.To, q.env.Msg.Type())
				continue
			}
			dst.node.Step(s.at(), q.from, q.env.Msg)
			dst.observe(s.at())
		}
		if !all {
			return
		}
		s.collect()
		if n = len(s.queue); n == 0 {
			return
		}
	}
}

func (s *script) cmdDrop(args []string) {
	from, to, tell := "", "", false
	for _, a := range args {
		if a == "unreachable" {
			tell = true
			continue
		}
		var ok bool
		if from, to, ok = strings.Cut(a, ">"); !ok {
			s.t.Fatalf("drop: want FROM>TO, got %q", a)
		}
	}
	var keep []queued
	for _, q := range s.queue {
		if from != "" && (q.from != from || q.env.To != to) {
			keep = append(keep, q)
			continue
		}
		s.printf("dropped %s>%s %s", q.from, q.env.To, q.env.Msg.Type())
		if tell {
			s.nodes[q.from].node.Unreachable(s.at(), q.env.To, q.env.Msg)
		}
	}
	s.queue = keep
}

func (s *script) cmdStatus(x *tnode) {
	st := x.node.Status()
	s.printf("ready=%v keys=%d live=%d tombstones=%d owned=%d ring=%v", st.Ready, st.Keys, st.Live, st.Tombstones, st.Owned, st.Ring)
	for _, m := range st.Members {
		s.printf("member %s %s", m.Addr, m.State)
	}
	for _, p := range st.Peers {
		s.printf("peer %s %s pending=%d inflight=%d failures=%d retry-keys=%d snapshot=%s backoff=%v",
			p.Addr, p.State, p.Pending, p.Inflight, p.Failures, p.RetryKeys, p.Snapshot, p.Backoff)
	}
	for _, c := range []struct {
		name string
		v    uint64
	}{
		{"verify-rounds", st.VerifyRoundsSent}, {"repairs-pulled", st.RepairsPulled}, {"repairs-pushed", st.RepairsPushed},
		{"repairs-dropped", st.RepairsDropped}, {"tombstones-collected", st.TombstonesCollected},
		{"owner-cleanup-drops", st.OwnerCleanupDrops}, {"records-applied", st.RecordsApplied},
		{"records-stale", st.RecordsStale}, {"unreachable", st.Unreachable},
	} {
		if c.v != 0 {
			s.printf("%s=%d", c.name, c.v)
		}
	}
}

func fmtRecord(r distro.Record) string {
	s := fmt.Sprintf("%s@%s owner=%s", r.Key, r.Version, r.Owner)
	if r.Tag != "" {
		s += " tag=" + r.Tag
	}
	if r.Tombstone {
		s += " tomb"
	}
	return s
}

func fmtRecords(rs []distro.Record) string {
	parts := make([]string, len(rs))
	for i, r := range rs {
		parts[i] = fmtRecord(r)
	}
	return "[" + strings.Join(parts, ", ") + "]"
}

// fmtMsg prints a message without its random sequence numbers and
// session ids, which say nothing a reader of the script needs.
func fmtMsg(m distro.Message) string {
	switch x := m.(type) {
	case *distro.SyncBatch:
		return "SyncBatch " + fmtRecords(x.Records)
	case *distro.SyncAck:
		return "SyncAck"
	case *distro.VerifyDigest:
		nonzero := 0
		for _, b := range x.Buckets {
			if b != 0 {
				nonzero++
			}
		}
		return fmt.Sprintf("VerifyDigest round=%d buckets=%d nonzero=%d", x.Round, len(x.Buckets), nonzero)
	case *distro.VerifyRequest:
		return fmt.Sprintf("VerifyRequest round=%d buckets=%v", x.Round, x.Buckets)
	case *distro.VerifyKeys:
		parts := make([]string, len(x.Entries))
		for i, e := range x.Entries {
			parts[i] = fmt.Sprintf("%s@%s", e.Key, e.Version)
			if e.Tombstone {
				parts[i] += " tomb"
			}
			if e.Owned {
				parts[i] += " owned"
			}
		}
		return fmt.Sprintf("VerifyKeys round=%d buckets=%v [%s]", x.Round, x.Buckets, strings.Join(parts, ", "))
	case *distro.PullRequest:
		return fmt.Sprintf("PullRequest %v", x.Keys)
	case *distro.Records:
		return "Records " + fmtRecords(x.Records)
	case *distro.SnapshotRequest:
		return fmt.Sprintf("SnapshotRequest after=%q limit=%d", x.After, x.Limit)
	case *distro.SnapshotChunk:
		return fmt.Sprintf("SnapshotChunk after=%q next=%q done=%v %s", x.After, x.Next, x.Done, fmtRecords(x.Records))
	}
	return fmt.Sprintf("%T", m)
}
