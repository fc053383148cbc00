package chaos

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// cpScript feeds a checker control plane operations on one register at
// offsets (seconds) from the script's start.
type cpScript struct {
	*script
	key string
}

// newCPScript starts with the namespace CPKeys[0] created.
func newCPScript() *cpScript {
	s := &cpScript{script: newScript(), key: CPKeys[0]}
	s.cpOp(OpCPCreate, "setup", n1, CPInit, 0, 0.1, true, nil)
	return s
}

// cpOp feeds one operation; to < 0 leaves it unanswered.
func (s *cpScript) cpOp(op, client, node, val string, from, to float64, ok bool, vals map[string]string) {
	s.id++
	inv := Event{Kind: KindCPInvoke, T: s.at(from), ID: s.id, Client: client, Op: op, Node: node, Key: s.key, Val: val,
		Final: client == "final"}
	s.c.feed(inv)
	if to < 0 {
		return
	}
	done := inv
	done.Kind, done.T, done.OK, done.Vals = KindCPDone, s.at(to), ok, vals
	s.c.feed(done)
}

func (s *cpScript) write(client, val string, from, to float64, ok bool) {
	s.cpOp(OpCPWrite, client, n1, val, from, to, ok, nil)
}

func (s *cpScript) read(client, node, saw string, from, to float64) {
	s.cpOp(OpCPRead, client, node, client+"-barrier", from, to, true, map[string]string{s.key: saw})
}

// end feeds the final reads of both nodes, seeing saw, and the end.
func (s *cpScript) end(saw string, at float64) {
	s.read("final", n1, saw, at, at+0.1)
	s.read("final", n2, saw, at, at+0.2)
	s.c.feed(Event{Kind: KindCPEnd, T: s.at(at + 0.3)})
}

func (s *cpScript) check(t *testing.T) (map[string]int, string) {
	t.Helper()
	vis := filepath.Join(t.TempDir(), "cp.html")
	summary := s.c.checkCP(vis, 10*time.Second)
	if _, err := os.Stat(vis); err != nil {
		t.Errorf("no visualization written: %v", err)
	}
	counts, viols := s.c.violations()
	var b strings.Builder
	for _, v := range viols {
		b.WriteString(s.c.explain(v))
	}
	t.Logf("%s\n%s", summary, b.String())
	return counts, b.String()
}

func TestCPChecker_FlagsReadOfOverwrittenValue(t *testing.T) {
	s := newCPScript()
	s.write("c1", "a", 1, 2, true)
	s.write("c2", "b", 3, 4, true)
	// b was acknowledged before this read began: seeing a is stale.
	s.read("c3", n2, "a", 5, 6)
	s.end("b", 10)
	counts, text := s.check(t)
	if counts["CP"] != 1 || !strings.Contains(text, "history of "+CPKeys[0]+" is not") {
		t.Fatalf("want one CP violation on %s, got %v", CPKeys[0], counts)
	}
}

func TestCPChecker_FlagsLostAcknowledgedWrite(t *testing.T) {
	s := newCPScript()
	s.write("c1", "a", 1, 2, true)
	s.end(CPInit, 10)
	if counts, _ := s.check(t); counts["CP"] != 1 {
		t.Fatalf("want one CP violation, got %v", counts)
	}
}

func TestCPChecker_FlagsReorderedAcknowledgedWrites(t *testing.T) {
	s := newCPScript()
	s.write("c1", "a", 1, 2, true)
	s.write("c1", "b", 3, 4, true)
	s.read("c2", n2, "b", 5, 6)
	s.read("c2", n1, "a", 7, 8)
	s.end("a", 10)
	if counts, _ := s.check(t); counts["CP"] != 1 {
		t.Fatalf("want one CP violation, got %v", counts)
	}
}

func TestCPChecker_AcceptsConcurrentAndUnacknowledgedWrites(t *testing.T) {
	s := newCPScript()
	// Concurrent writes: either order.
	s.write("c1", "a", 1, 3, true)
	s.write("c2", "b", 2, 4, true)
	s.read("c3", n2, "a", 5, 6)
	// An unacknowledged write may land any time after its invocation,
	// even after later acknowledged writes; one never answered likewise.
	s.write("c1", "c", 7, 8, false)
	s.write("c2", "d", 9, 10, true)
	s.read("c3", n1, "d", 11, 12)
	s.write("c2", "e", 13, -1, false)
	s.write("c2", "never-seen", 13.5, 14, false)
	s.read("c3", n1, "c", 15, 16)
	// A write refused because the namespace is missing is not a
	// violation of anything.
	s.end("e", 20)
	if counts, _ := s.check(t); len(counts) != 0 {
		t.Fatalf("want no violation, got %v", counts)
	}
}

func TestCPChecker_NamespaceWritesNeedItButOverridesDoNot(t *testing.T) {
	// Before the create, a namespace write is refused: its
	// acknowledgement is a violation.
	s := &cpScript{script: newScript(), key: CPKeys[0]}
	s.write("c1", "a", 1, 2, true)
	s.cpOp(OpCPCreate, "setup", n1, CPInit, 3, 4, true, nil)
	s.end(CPInit, 10)
	if counts, _ := s.check(t); counts["CP"] != 1 {
		t.Fatalf("namespace: want one CP violation, got %v", counts)
	}
	// An override needs nothing before it.
	s = &cpScript{script: newScript(), key: CPKeyOverride}
	s.read("c2", n1, "", 0, 0.5)
	s.write("c1", "a", 1, 2, true)
	s.end("a", 10)
	if counts, _ := s.check(t); len(counts) != 0 {
		t.Fatalf("override: want no violation, got %v", counts)
	}
}

func TestCPChecker_FlagsNodeWithoutFinalReadAndMissingEnd(t *testing.T) {
	s := newCPScript()
	s.write("c1", "a", 1, 2, true)
	s.read("final", n1, "a", 5, 6)
	s.cpOp(OpCPRead, "final", n2, "final-barrier", 5, 9, false, nil)
	if counts, _ := s.check(t); counts["CP"] != 1 {
		t.Fatalf("want one CP violation (the end missing), got %v", counts)
	}
	s.c.feed(Event{Kind: KindCPEnd, T: s.at(10)})
	if counts, text := s.check(t); counts["CP"] != 2 || !strings.Contains(text, "on "+n2) {
		t.Fatalf("want a second CP violation naming %s, got %v", n2, counts)
	}
}

func TestCPChecker_FlagsReadOfRefusedWrite(t *testing.T) {
	s := newCPScript()
	s.id++
	inv := Event{Kind: KindCPInvoke, T: s.at(1), ID: s.id, Client: "c1", Op: OpCPWrite, Node: n1, Key: s.key, Val: "a"}
	s.c.feed(inv)
	done := inv
	done.Kind, done.T, done.Refused, done.Res = KindCPDone, s.at(2), true, "200 false"
	s.c.feed(done)
	// The server said it did not write a: nobody may read it.
	s.end("a", 10)
	if counts, _ := s.check(t); counts["CP"] != 1 {
		t.Fatalf("want one CP violation, got %v", counts)
	}
}
