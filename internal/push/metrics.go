package push

import (
	"log/slog"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

type metrics struct {
	sent, failed, retried *prometheus.CounterVec
	dropped               *prometheus.CounterVec
	latency               *prometheus.HistogramVec
	subscriptions         prometheus.Gauge
	built                 prometheus.Counter
	totals                totals
}

// newMetrics creates the engine's metrics and registers them on reg (if
// not nil). The queue depth is read from the engine when scraped.
func newMetrics(reg prometheus.Registerer, log *slog.Logger, e *Engine) *metrics {
	m := &metrics{
		sent: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "distrod_push_sent_total", Help: "Pushes acknowledged by subscribers, by transport (grpc, udp).",
		}, []string{"transport"}),
		failed: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "distrod_push_failed_total", Help: "Push attempts that got no successful ack, by transport.",
		}, []string{"transport"}),
		retried: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "distrod_push_retried_total", Help: "Pushes sent again after a failure, by transport.",
		}, []string{"transport"}),
		dropped: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "distrod_push_dropped_total", Help: "Pushes not sent, by reason (queue_full, oversize).",
		}, []string{"reason"}),
		latency: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "distrod_push_ack_seconds",
			Help:    "Time from sending a push to its ack, by transport.",
			Buckets: []float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5},
		}, []string{"transport"}),
		built: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "distrod_push_bodies_built_total",
			Help: "gRPC push bodies built: one per service view (service, cluster list) and change, shared by all its subscribers.",
		}),
		subscriptions: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "distrod_push_subscriptions", Help: "Subscriptions held by this node (gRPC and UDP).",
		}),
	}
	// Every label value exists from the start, at 0, so that dashboards
	// and rate() see the series before the first event.
	for _, tr := range []string{"grpc", "udp"} {
		m.sent.WithLabelValues(tr)
		m.failed.WithLabelValues(tr)
		m.retried.WithLabelValues(tr)
		m.latency.WithLabelValues(tr)
	}
	for _, reason := range []string{"queue_full", "oversize"} {
		m.dropped.WithLabelValues(reason)
	}
	if reg != nil {
		depth := prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "distrod_push_queue_depth", Help: "Pushes waiting to be sent, over all targets.",
		}, func() float64 {
			e.mu.Lock()
			defer e.mu.Unlock()
			return float64(e.depth)
		})
		for _, c := range []prometheus.Collector{m.sent, m.failed, m.retried, m.dropped, m.latency, m.subscriptions, m.built, depth} {
			if err := reg.Register(c); err != nil {
				log.Warn("push: metric not registered", "err", err)
			}
		}
	}
	return m
}

// totals are the engine's push counts over all transports, kept beside the
// Prometheus series so Totals can report them without scraping.
type totals struct {
	acked, failed atomic.Int64
	costSumMicros atomic.Int64
	maxCostMicros atomic.Int64
}

// acked records a push the subscriber acknowledged after d.
func (m *metrics) acked(transport string, d time.Duration) {
	m.sent.WithLabelValues(transport).Inc()
	m.latency.WithLabelValues(transport).Observe(d.Seconds())
	us := d.Microseconds()
	m.totals.acked.Add(1)
	m.totals.costSumMicros.Add(us)
	for {
		old := m.totals.maxCostMicros.Load()
		if us <= old || m.totals.maxCostMicros.CompareAndSwap(old, us) {
			break
		}
	}
}

// fail records a push attempt that got no successful ack.
func (m *metrics) fail(transport string) {
	m.failed.WithLabelValues(transport).Inc()
	m.totals.failed.Add(1)
}

// Totals are the engine's push totals since it started, over all
// transports.
type Totals struct {
	// Acked counts pushes a subscriber acknowledged; Failed counts push
	// attempts that got no successful ack (each retry counts again).
	Acked, Failed int64
	// AckTimeSum is the sum of the acknowledged pushes' times from send to
	// ack; MaxAckTime the longest of them.
	AckTimeSum, MaxAckTime time.Duration
}

// Totals returns the push totals without taking the engine's lock. Safe
// for concurrent use.
func (e *Engine) Totals() Totals {
	t := &e.m.totals
	return Totals{
		Acked:      t.acked.Load(),
		Failed:     t.failed.Load(),
		AckTimeSum: time.Duration(t.costSumMicros.Load()) * time.Microsecond,
		MaxAckTime: time.Duration(t.maxCostMicros.Load()) * time.Microsecond,
	}
}
