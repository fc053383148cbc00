// Package sysload reads the host's load average and CPU usage, the "load"
// and "cpu" figures Nacos reports in /operator/metrics and in its loader
// metrics.
package sysload

import (
	"fmt"
	"os"
	"strconv"
	"strings"
	"sync"
)

// Sampler measures CPU usage between successive calls. The zero value is
// ready to use and safe for concurrent use.
type Sampler struct {
	mu          sync.Mutex
	idle, total uint64
}

// Load returns the one-minute load average, or -1 where the host does not
// publish it (outside Linux).
func Load() float64 {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return -1
	}
	f := strings.Fields(string(b))
	if len(f) == 0 {
		return -1
	}
	v, err := strconv.ParseFloat(f[0], 64)
	if err != nil {
		return -1
	}
	return v
}

// CPU returns the share of time, from 0 to 1, the host's CPUs were busy
// since the previous call (since boot on the first), or -1 where the host
// does not publish it.
func (s *Sampler) CPU() float64 {
	idle, total, err := readStat()
	if err != nil {
		return -1
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	di, dt := idle-s.idle, total-s.total
	if s.total == 0 || total <= s.total || idle < s.idle {
		di, dt = idle, total
	}
	s.idle, s.total = idle, total
	if dt == 0 {
		return 0
	}
	return 1 - float64(di)/float64(dt)
}

// readStat sums the aggregate "cpu" line of /proc/stat: idle (idle plus
// iowait) and total jiffies.
func readStat() (idle, total uint64, err error) {
	b, err := os.ReadFile("/proc/stat")
	if err != nil {
		return 0, 0, fmt.Errorf("sysload: %w", err)
	}
	line, _, _ := strings.Cut(string(b), "\n")
	f := strings.Fields(line)
	if len(f) < 5 || f[0] != "cpu" {
		return 0, 0, fmt.Errorf("sysload: unexpected /proc/stat line %q", line)
	}
	for i, v := range f[1:] {
		n, err := strconv.ParseUint(v, 10, 64)
		if err != nil {
			return 0, 0, fmt.Errorf("sysload: /proc/stat field %d: %w", i+1, err)
		}
		total += n
		if i == 3 || i == 4 {
			idle += n
		}
	}
	return idle, total, nil
}
