package bench

import "testing"

func TestParseMemStats_ReadsTheDebugHeapTrailer(t *testing.T) {
	body := []byte("heap profile: 1: 2 [3: 4] @ heap/1048576\n1: 2 [3: 4] @ 0x1\n\n# runtime.MemStats\n# Alloc = 123\n# HeapAlloc = 456\n# HeapSys = 7890\n# Stack = 1 / 2\n# NumGC = 12\n# PauseNs = [1 2 3]\n")
	ms := parseMemStats(body)
	for k, want := range map[string]int64{"Alloc": 123, "HeapAlloc": 456, "HeapSys": 7890, "NumGC": 12, "Stack": 1} {
		if ms[k] != want {
			t.Errorf("%s = %d, want %d", k, ms[k], want)
		}
	}
	if _, ok := ms["PauseNs"]; ok {
		t.Error("a list value was read as a number")
	}
}
