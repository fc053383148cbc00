package server

import (
	"context"
	"os"
	"runtime/debug"

	"github.com/distrod/distrod/internal/memlimit"
)

// memoryDefaults applies the Go memory defaults (docs/memory.md): a soft
// memory limit of MemoryLimitPercent of the cgroup's memory limit when
// GOMEMLIMIT is unset, and, every MemoryReleaseInterval, the return of
// heap the node holds but does not use once it is quiet. The releaser runs
// until ctx ends.
func (s *Server) memoryDefaults(ctx context.Context) {
	d := memlimit.Decide(os.Getenv, s.cfg.MemoryLimitPercent, os.DirFS("/"))
	memlimit.Apply(d)
	s.log.Info("memory defaults", "source", d.Source, "cgroup_limit_bytes", d.Cgroup,
		"go_memory_limit_bytes", debug.SetMemoryLimit(-1), "gogc", os.Getenv("GOGC"),
		"release_interval", s.cfg.MemoryReleaseInterval)
	r := &memlimit.Releaser{Interval: s.cfg.MemoryReleaseInterval, Released: func(st memlimit.HeapStats) {
		s.log.Debug("returning unused heap to the OS", "live_bytes", st.Live, "reclaimable_bytes", st.Reclaimable())
	}}
	r.Run(ctx)
}
