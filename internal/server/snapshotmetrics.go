package server

import (
	"context"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// snapshotCollector exports the startup snapshot load of the Distro core:
// how many peers are still streaming, done or given up, and how many
// records arrived. Loads that never finish show up as peers stuck in
// "loading" and distrod_distro_ready at 0.
type snapshotCollector struct {
	c                      *cluster
	peers, records, served *prometheus.Desc
}

func newSnapshotCollector(c *cluster) *snapshotCollector {
	d := func(name, help string, labels ...string) *prometheus.Desc {
		return prometheus.NewDesc("distrod_distro_snapshot_"+name, help, labels, nil)
	}
	return &snapshotCollector{
		c:       c,
		peers:   d("peers", "Peers of the startup snapshot load, by state (loading, done, gave_up).", "state"),
		records: d("records_loaded_total", "Records received by the startup snapshot load."),
		served:  d("chunks_served_total", "Snapshot chunks this node served to starting peers."),
	}
}

func (s *snapshotCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- s.peers
	ch <- s.records
	ch <- s.served
}

func (s *snapshotCollector) Collect(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	st, err := s.c.Status(ctx)
	if err != nil {
		return
	}
	sn := st.Snapshot
	ch <- prometheus.MustNewConstMetric(s.peers, prometheus.GaugeValue, float64(sn.Loading), "loading")
	ch <- prometheus.MustNewConstMetric(s.peers, prometheus.GaugeValue, float64(sn.Done), "done")
	ch <- prometheus.MustNewConstMetric(s.peers, prometheus.GaugeValue, float64(sn.GaveUp), "gave_up")
	ch <- prometheus.MustNewConstMetric(s.peers, prometheus.GaugeValue, float64(sn.Refused), "refused")
	ch <- prometheus.MustNewConstMetric(s.records, prometheus.CounterValue, float64(sn.Records))
	ch <- prometheus.MustNewConstMetric(s.served, prometheus.CounterValue, float64(sn.Served))
}
