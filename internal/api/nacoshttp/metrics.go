package nacoshttp

import (
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// initMetrics registers the request counter and latency histogram on reg.
// A nil reg disables metrics.
func (s *server) initMetrics(reg prometheus.Registerer) error {
	if reg == nil {
		return nil
	}
	s.reqs = prometheus.NewCounterVec(prometheus.CounterOpts{
		Namespace: "distrod",
		Subsystem: "http",
		Name:      "requests_total",
		Help:      "Nacos HTTP API requests by api and HTTP status code.",
	}, []string{"api", "code"})
	s.lat = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Namespace: "distrod",
		Subsystem: "http",
		Name:      "request_duration_seconds",
		Help:      "Nacos HTTP API request latency by api and HTTP status code.",
		Buckets:   []float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5},
	}, []string{"api", "code"})
	if err := reg.Register(s.reqs); err != nil {
		return err
	}
	return reg.Register(s.lat)
}

func (s *server) observe(api string, status int, d time.Duration) {
	if s.reqs == nil {
		return
	}
	code := strconv.Itoa(status)
	s.reqs.WithLabelValues(api, code).Inc()
	s.lat.WithLabelValues(api, code).Observe(d.Seconds())
}
