package replica

import (
	"testing"
	"time"
)

func TestForwardExpired_DeadlineIsExclusiveAndRequired(t *testing.T) {
	d := ForwardDeadline(1000, 3*time.Second)
	if d != 4000 {
		t.Fatalf("deadline %d, want 4000", d)
	}
	for _, c := range []struct {
		deadline, now int64
		want          bool
	}{
		{d, 1000, false}, {d, 3999, false}, {d, 4000, true}, {d, 60000, true}, {0, 1, true}, {-5, 1, true},
	} {
		if got := ForwardExpired(c.deadline, c.now); got != c.want {
			t.Errorf("ForwardExpired(%d, %d) = %v, want %v", c.deadline, c.now, got, c.want)
		}
	}
}
