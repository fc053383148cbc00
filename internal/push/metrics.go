package push

import (
	"log/slog"

	"github.com/prometheus/client_golang/prometheus"
)

type metrics struct {
	sent, failed, retried *prometheus.CounterVec
	dropped               *prometheus.CounterVec
	latency               *prometheus.HistogramVec
	subscriptions         prometheus.Gauge
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
		subscriptions: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "distrod_push_subscriptions", Help: "Subscriptions held by this node (gRPC and UDP).",
		}),
	}
	if reg != nil {
		depth := prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "distrod_push_queue_depth", Help: "Pushes waiting to be sent, over all targets.",
		}, func() float64 {
			e.mu.Lock()
			defer e.mu.Unlock()
			return float64(e.depth)
		})
		for _, c := range []prometheus.Collector{m.sent, m.failed, m.retried, m.dropped, m.latency, m.subscriptions, depth} {
			if err := reg.Register(c); err != nil {
				log.Warn("push: metric not registered", "err", err)
			}
		}
	}
	return m
}
