package distrotest

import (
	"time"

	"github.com/distrod/distrod/internal/distro"
)

// Detector is the core simulation's failure detector for one node (the
// naming simulation, internal/sim, runs the real membership table through
// replica.Shell instead): a peer that is unreachable (either way) for
// SuspectAfter is SUSPICIOUS, for DownAfter
// DOWN; a forced flap raises a peer's state until the flap ends. It keeps
// the resulting member view.
type Detector struct {
	SuspectAfter, DownAfter time.Duration

	lost map[string]time.Time // peer -> unreachable since
	flap map[string]flapState
	view map[string]distro.MemberState
}

type flapState struct {
	until time.Time
	state distro.MemberState
}

// NewDetector returns a detector with the given thresholds and no view.
func NewDetector(suspectAfter, downAfter time.Duration) *Detector {
	return &Detector{SuspectAfter: suspectAfter, DownAfter: downAfter,
		lost: map[string]time.Time{}, flap: map[string]flapState{}}
}

// Flap makes peer appear in state st (if worse than its real state) until.
func (d *Detector) Flap(peer string, st distro.MemberState, until time.Time) {
	d.flap[peer] = flapState{until: until, state: st}
}

// ClearFlaps ends every flap.
func (d *Detector) ClearFlaps() { d.flap = map[string]flapState{} }

// Flapping reports whether a flap is in force.
func (d *Detector) Flapping() bool { return len(d.flap) > 0 }

// View returns the current view (nil before the first Update). It must not
// be modified.
func (d *Detector) View() map[string]distro.MemberState { return d.view }

// Update recomputes the view of self at now over members (in the order the
// returned Members keep); linked reports two-way reachability of a peer.
// changed reports a new view; pending, that a lost peer has not reached
// DOWN yet (so the view will change without any other event).
func (d *Detector) Update(now time.Time, self string, members []string, linked func(peer string) bool) (view []distro.Member, changed, pending bool) {
	changed = d.view == nil
	if changed {
		d.view = make(map[string]distro.MemberState, len(members))
	}
	for _, p := range members {
		st := distro.StateUp
		if p != self {
			if linked(p) {
				delete(d.lost, p)
			} else if _, ok := d.lost[p]; !ok {
				d.lost[p] = now
			}
			if since, ok := d.lost[p]; ok {
				switch el := now.Sub(since); {
				case el >= d.DownAfter:
					st = distro.StateDown
				case el >= d.SuspectAfter:
					st = distro.StateSuspicious
					pending = true
				default:
					pending = true
				}
			}
			if f, ok := d.flap[p]; ok {
				if now.Before(f.until) {
					st = max(st, f.state)
				} else {
					delete(d.flap, p)
				}
			}
		}
		if old, ok := d.view[p]; !ok || old != st {
			d.view[p] = st
			changed = true
		}
	}
	view = make([]distro.Member, 0, len(members))
	for _, p := range members {
		view = append(view, distro.Member{Addr: p, State: d.view[p]})
	}
	return view, changed, pending
}
