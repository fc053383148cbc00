// Package memlimit sets distrod's Go memory defaults and gives back memory
// after bursts.
//
// Go's garbage collector lets the heap grow to twice what is live before it
// collects (GOGC=100) and knows nothing of a container's memory limit. A
// registry's heap is mostly its data (about 130-250 bytes per instance), so
// a node at 1M instances that takes a burst of writes holds roughly twice
// its data in RSS afterwards, and one in a container can be killed at the
// limit while half its heap is garbage. Two defaults address that:
//
//   - Decide/Apply: when GOMEMLIMIT is not set and the process runs in a
//     cgroup with a memory limit (v1 or v2), the Go soft memory limit is
//     set to a percentage of it (distrod's memory-limit-percent, default
//     90), so the collector works harder as the heap nears the limit
//     instead of the kernel killing the process. GOMEMLIMIT and GOGC in the
//     environment are honoured as Go honours them: an explicit GOMEMLIMIT
//     (any value, including "off" spelled math.MaxInt64) turns the default
//     off.
//   - Releaser: once the process is quiet after a burst (little allocated
//     since the last check) and the heap holds much more than is live, it
//     collects and returns the free memory to the OS at once
//     (debug.FreeOSMemory), instead of keeping it until the next collection
//     the heap would have needed anyway.
package memlimit

import (
	"bufio"
	"bytes"
	"io/fs"
	"path"
	"runtime/debug"
	"strconv"
	"strings"
)

// unlimited is the value from which a cgroup limit means "none" (cgroup v1
// reports a page-rounded MaxInt64).
const unlimited = 1 << 62

// Decision is what Decide chose.
type Decision struct {
	// Limit is the soft memory limit to set in bytes; 0 leaves the
	// runtime's as it is.
	Limit int64
	// Cgroup is the memory limit of the process's cgroup, 0 if none was
	// found.
	Cgroup int64
	// Source says why: "GOMEMLIMIT" (the environment sets it, left to Go),
	// "cgroup" (Limit is Percent of Cgroup), "disabled" (percent 0) or
	// "none" (no cgroup limit found).
	Source string
}

// Decide chooses the soft memory limit: none when getenv("GOMEMLIMIT") is
// set or percent is 0 or below, else percent of the cgroup memory limit
// found under fsys (rooted at "/": it reads proc/self/cgroup and
// sys/fs/cgroup), if any.
func Decide(getenv func(string) string, percent int, fsys fs.FS) Decision {
	if strings.TrimSpace(getenv("GOMEMLIMIT")) != "" {
		return Decision{Source: "GOMEMLIMIT"}
	}
	lim := CgroupLimit(fsys)
	switch {
	case percent <= 0:
		return Decision{Cgroup: lim, Source: "disabled"}
	case lim <= 0:
		return Decision{Source: "none"}
	}
	return Decision{Limit: lim / 100 * int64(min(percent, 100)), Cgroup: lim, Source: "cgroup"}
}

// Apply sets the soft memory limit d chose, if any.
func Apply(d Decision) {
	if d.Limit > 0 {
		debug.SetMemoryLimit(d.Limit)
	}
}

// CgroupLimit returns the smallest memory limit on the path of the
// process's cgroups, v2 (memory.max) and v1 (memory.limit_in_bytes), from
// the process's own cgroup up to the hierarchy's root, or 0 when there is
// none. A cgroup path that is not visible (a container sees its own cgroup
// as the root) is skipped on the way up.
func CgroupLimit(fsys fs.FS) int64 {
	b, err := fs.ReadFile(fsys, "proc/self/cgroup")
	if err != nil {
		return 0
	}
	best := int64(0)
	take := func(v int64) {
		if v > 0 && v < unlimited && (best == 0 || v < best) {
			best = v
		}
	}
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		f := strings.SplitN(sc.Text(), ":", 3)
		if len(f) != 3 {
			continue
		}
		switch {
		case f[0] == "0" && f[1] == "":
			take(walkUp(fsys, "sys/fs/cgroup", f[2], "memory.max"))
		case hasController(f[1], "memory"):
			take(walkUp(fsys, "sys/fs/cgroup/memory", f[2], "memory.limit_in_bytes"))
		}
	}
	return best
}

func hasController(list, name string) bool {
	for _, c := range strings.Split(list, ",") {
		if c == name {
			return true
		}
	}
	return false
}

// walkUp reads file in base/rel and each of its parents up to base and
// returns the smallest limit found (0: none).
func walkUp(fsys fs.FS, base, rel, file string) int64 {
	best := int64(0)
	dir := path.Clean("/" + rel)
	for {
		p := path.Join(base, dir, file)
		if v, ok := readLimit(fsys, p); ok && (best == 0 || v < best) {
			best = v
		}
		if dir == "/" {
			return best
		}
		dir = path.Dir(dir)
	}
}

// readLimit parses a cgroup limit file: a byte count, or "max" (none).
func readLimit(fsys fs.FS, name string) (int64, bool) {
	b, err := fs.ReadFile(fsys, name)
	if err != nil {
		return 0, false
	}
	s := strings.TrimSpace(string(b))
	if s == "max" {
		return 0, false
	}
	v, err := strconv.ParseInt(s, 10, 64)
	if err != nil || v <= 0 || v >= unlimited {
		return 0, false
	}
	return v, true
}
