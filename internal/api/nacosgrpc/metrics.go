package nacosgrpc

import (
	"strconv"

	"github.com/prometheus/client_golang/prometheus"
)

type serverMetrics struct {
	requests     *prometheus.CounterVec
	refused      prometheus.Counter
	detectFailed prometheus.Counter
	// closed counts connections the server closed to protect itself, by
	// reason: per_ip_limit, setup_timeout, slow_consumer.
	closed *prometheus.CounterVec
	// pushBusy counts pushes deferred because all connections together
	// had PushMaxBytes queued.
	pushBusy prometheus.Counter
}

func newServerMetrics(reg prometheus.Registerer, s *Server) (*serverMetrics, error) {
	m := &serverMetrics{
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "distrod_grpc_requests_total", Help: "SDK gRPC requests by type and Nacos result code.",
		}, []string{"type", "code"}),
		refused: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "distrod_grpc_connections_refused_total", Help: "Connection setups refused over MaxConnections or while the node is not ready.",
		}),
		detectFailed: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "distrod_grpc_detection_failures_total", Help: "Idle connections closed after an unanswered ClientDetectionRequest.",
		}),
		closed: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "distrod_grpc_connections_closed_total",
			Help: "SDK connections closed by the server to protect itself, by reason (per_ip_limit, setup_timeout, slow_consumer).",
		}, []string{"reason"}),
		pushBusy: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "distrod_grpc_push_deferred_total", Help: "Pushes deferred (retried later) because queued push bytes reached PushMaxBytes.",
		}),
	}
	if reg == nil {
		return m, nil
	}
	conns := prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "distrod_grpc_connections", Help: "Registered SDK gRPC connections.",
	}, func() float64 { return float64(s.Connections()) })
	for _, c := range []prometheus.Collector{m.requests, m.refused, m.detectFailed, m.closed, m.pushBusy, conns} {
		if err := reg.Register(c); err != nil {
			return nil, err
		}
	}
	return m, nil
}

// request counts one answered request; unknown types share one label
// value so a hostile client cannot grow the series without bound.
func (m *serverMetrics) request(typ string, code int) {
	if newRequest(typ) == nil {
		typ = "other"
	}
	m.requests.WithLabelValues(typ, strconv.Itoa(code)).Inc()
}
