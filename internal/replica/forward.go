package replica

import "time"

// ForwardDeadline is the absolute deadline an entry node puts on a write
// it forwards to the owner: its own clock plus the forward timeout, in Unix
// milliseconds.
func ForwardDeadline(nowMs int64, timeout time.Duration) int64 {
	return nowMs + timeout.Milliseconds()
}

// ForwardExpired is the owner's rule for a forwarded write: it runs the
// write only if its clock, nowMs, is still before the entry node's
// deadline, deadlineMs (both Unix milliseconds). A write that arrives late
// (bytes a kernel retransmits after a partition heals, tens of seconds
// after the entry node gave up and told the client so) must not be applied
// as a fresh write. A missing deadline (zero or negative) counts as
// expired. The nodes' clocks must agree to well within the forward
// timeout; skew moves the cut-off by its own size.
func ForwardExpired(deadlineMs, nowMs int64) bool {
	return deadlineMs <= 0 || nowMs >= deadlineMs
}
