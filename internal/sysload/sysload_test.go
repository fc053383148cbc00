package sysload

import (
	"runtime"
	"testing"
)

func TestSampler_ReportsShareBetweenZeroAndOne(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("reads /proc")
	}
	var s Sampler
	for i := 0; i < 2; i++ {
		if c := s.CPU(); c < 0 || c > 1 {
			t.Fatalf("CPU() = %v, want 0..1", c)
		}
	}
	if l := Load(); l < 0 {
		t.Fatalf("Load() = %v, want >= 0 on Linux", l)
	}
}
