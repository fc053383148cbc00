package server

import (
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/distrod/distrod/internal/naming"
)

// expiryMetrics observes the store's heartbeat expiry checks: how long
// each holds the store's write lock and how many clients it judged, so an
// operator sees the cost of expiry grow with what expires, not with the
// number of HTTP clients.
type expiryMetrics struct {
	holdSeconds *prometheus.HistogramVec
	lockSeconds prometheus.Counter
	visited     prometheus.Counter
	rearmed     prometheus.Counter
	changes     prometheus.Counter
	lastVisited prometheus.Gauge
}

// watchExpiry registers the expiry metrics on reg and makes store report
// every check to them.
func watchExpiry(store *naming.Store, reg prometheus.Registerer) {
	m := &expiryMetrics{
		holdSeconds: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "distrod_expiry_lock_hold_seconds",
			Help:    "Longest single hold of the store's write lock in each heartbeat expiry check (a check releases it every 1024 clients), by kind (full: every HTTP client judged; due: only those due).",
			Buckets: []float64{.00001, .00005, .0001, .0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1},
		}, []string{"kind"}),
		lockSeconds: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "distrod_expiry_lock_seconds_total", Help: "Time heartbeat expiry checks held the store's write lock, in all.",
		}),
		visited: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "distrod_expiry_clients_visited_total", Help: "HTTP (ip:port) clients judged by heartbeat expiry checks.",
		}),
		rearmed: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "distrod_expiry_clients_rearmed_total", Help: "HTTP clients whose expiry deadline came but had moved on (a beat arrived): scheduled again without being judged.",
		}),
		changes: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "distrod_expiry_changes_total", Help: "Records changed or refreshed by heartbeat expiry checks (health flips, removals, beat refreshes).",
		}),
		lastVisited: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "distrod_expiry_last_pass_clients", Help: "HTTP clients judged by the latest expiry check.",
		}),
	}
	reg.MustRegister(m.holdSeconds, m.lockSeconds, m.visited, m.rearmed, m.changes, m.lastVisited)
	start := time.Now()
	store.SetExpiryObserver(func() int64 { return int64(time.Since(start)) }, m.observe)
}

func (m *expiryMetrics) observe(p naming.ExpiryPass) {
	kind := "due"
	if p.Full {
		kind = "full"
	}
	m.holdSeconds.WithLabelValues(kind).Observe(float64(p.LongestHoldNanos) / 1e9)
	m.lockSeconds.Add(float64(p.Nanos) / 1e9)
	m.visited.Add(float64(p.Visited))
	m.rearmed.Add(float64(p.Rearmed))
	m.changes.Add(float64(p.Changes))
	m.lastVisited.Set(float64(p.Visited))
}
