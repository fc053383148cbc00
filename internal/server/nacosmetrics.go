package server

import (
	"github.com/prometheus/client_golang/prometheus"

	"github.com/distrod/distrod/internal/naming"
	"github.com/distrod/distrod/internal/push"
)

// nacosMonitorNames are the naming gauges Nacos registers as
// nacos_monitor{module="naming",name=...}, which existing Nacos Grafana
// dashboards and alerts query. Push costs are in milliseconds, as there.
var nacosMonitorNames = []string{
	"mysqlHealthCheck", "httpHealthCheck", "tcpHealthCheck",
	"serviceCount", "ipCount", "subscriberCount",
	"maxPushCost", "avgPushCost", "leaderStatus",
	"totalPush", "totalPushCountForAvg", "totalPushCostForAvg", "failedPush",
}

// nacosExceptionNames are the naming counters Nacos registers as
// nacos_exception_total{module="naming",name=...}; distrod has neither a
// disk store nor a Raft leader, so they stay 0.
var nacosExceptionNames = []string{"disk", "leaderSendBeatFailed"}

// nacosMonitorCollector exports distrod's naming state under Nacos's
// metric names, so dashboards built for Nacos work unchanged. The distrod_*
// series carry the same data with units and labels of their own.
type nacosMonitorCollector struct {
	store           *naming.Store
	push            *push.Engine
	probes          *probeCounts
	monitor, except *prometheus.Desc
}

func newNacosMonitorCollector(store *naming.Store, p *push.Engine, probes *probeCounts) *nacosMonitorCollector {
	return &nacosMonitorCollector{
		store:  store,
		push:   p,
		probes: probes,
		monitor: prometheus.NewDesc("nacos_monitor",
			"Nacos-compatible naming gauges (module=naming): counts, push totals and push costs in ms.",
			[]string{"module", "name"}, nil),
		except: prometheus.NewDesc("nacos_exception_total",
			"Nacos-compatible naming exception counters (module=naming); always 0 in distrod.",
			[]string{"module", "name"}, nil),
	}
}

func (c *nacosMonitorCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- c.monitor
	ch <- c.except
}

func (c *nacosMonitorCollector) Collect(ch chan<- prometheus.Metric) {
	st := c.store.Stats()
	ps := c.push.Stats()
	pt := c.push.Totals()
	// Nacos reports -1 for the push costs until a push was acknowledged.
	maxCost, avgCost := -1.0, -1.0
	if pt.Acked > 0 {
		maxCost = float64(pt.MaxAckTime.Milliseconds())
		avgCost = float64(pt.AckTimeSum.Milliseconds()) / float64(pt.Acked)
	}
	v := map[string]float64{
		"serviceCount":         float64(st.Services),
		"ipCount":              float64(st.Instances),
		"subscriberCount":      float64(ps.Subscriptions),
		"maxPushCost":          maxCost,
		"avgPushCost":          avgCost,
		"totalPush":            float64(pt.Acked + pt.Failed),
		"totalPushCountForAvg": float64(pt.Acked),
		"totalPushCostForAvg":  float64(pt.AckTimeSum.Milliseconds()),
		"failedPush":           float64(pt.Failed),
		// Health checks of persistent instances since the start (Nacos
		// resets its counts periodically). distrod has no MySQL checker,
		// and Nacos 2.5 never sets leaderStatus: both stay 0.
		"tcpHealthCheck":  float64(c.probes.tcp.Load()),
		"httpHealthCheck": float64(c.probes.http.Load()),
	}
	for _, name := range nacosMonitorNames {
		ch <- prometheus.MustNewConstMetric(c.monitor, prometheus.GaugeValue, v[name], "naming", name)
	}
	for _, name := range nacosExceptionNames {
		ch <- prometheus.MustNewConstMetric(c.except, prometheus.CounterValue, 0, "naming", name)
	}
}
