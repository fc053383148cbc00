package membership

import (
	"context"
	"slices"
	"time"
)

// Watcher polls a Source and reports changes of its member list. Poll and
// Run must not be called concurrently; the callbacks run on the calling
// goroutine, one at a time, and should not block for long.
type Watcher struct {
	// Source is polled. Required.
	Source Source
	// OnChange receives the new list (sorted, normalised; the callee may
	// keep it) on the first successful poll and whenever it differs from
	// the previous one. Required.
	OnChange func(members []string)
	// OnError, if set, receives each failed poll's error; the last good
	// list stays in force.
	OnError func(err error)
	// Tick, if set, replaces the ticker in Run: each receive triggers a
	// poll. Tests feed it by hand.
	Tick <-chan time.Time

	last []string
	have bool
}

// Poll asks the Source once and calls OnChange if the list changed. It
// reports whether it did; errors are returned (and passed to OnError).
func (w *Watcher) Poll(ctx context.Context) (changed bool, err error) {
	m, err := w.Source.Members(ctx)
	if err != nil {
		if w.OnError != nil {
			w.OnError(err)
		}
		return false, err
	}
	m = slices.Clone(m)
	slices.Sort(m)
	m = slices.Compact(m)
	if w.have && slices.Equal(m, w.last) {
		return false, nil
	}
	w.last, w.have = m, true
	w.OnChange(slices.Clone(m))
	return true, nil
}

// Run polls at once, then on every tick of interval (or of Tick, if set),
// until ctx is done; it returns ctx.Err().
func (w *Watcher) Run(ctx context.Context, interval time.Duration) error {
	tick := w.Tick
	if tick == nil {
		t := time.NewTicker(interval)
		defer t.Stop()
		tick = t.C
	}
	for {
		_, _ = w.Poll(ctx) // errors go to OnError; keep polling
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-tick:
		}
	}
}

// Watch polls src every interval until ctx is done, calling onChange with
// the first list and each changed one, and onError (may be nil) with each
// failure. It blocks; run it in its own goroutine. It returns ctx.Err().
func Watch(ctx context.Context, src Source, interval time.Duration, onChange func([]string), onError func(error)) error {
	w := &Watcher{Source: src, OnChange: onChange, OnError: onError}
	return w.Run(ctx, interval)
}
