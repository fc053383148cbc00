package server

import (
	"errors"
	"sync/atomic"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/distrod/distrod/internal/cp"
)

// cpCollector exports the control plane's Raft state and the outcome of
// its writes, so that a node without a leader, or a cluster whose writes
// fail, shows on a dashboard.
type cpCollector struct {
	ctl                                   *control
	leader, term, applied, commit, voters *prometheus.Desc
	writes                                *prometheus.Desc
}

// writeCounts counts control plane writes by outcome.
type writeCounts struct{ ok, noLeader, refused atomic.Uint64 }

func (w *writeCounts) observe(err error) {
	switch {
	case err == nil:
		w.ok.Add(1)
	case errors.Is(err, cp.ErrNoLeader):
		w.noLeader.Add(1)
	default:
		w.refused.Add(1)
	}
}

func newCPCollector(ctl *control) *cpCollector {
	d := func(name, help string, labels ...string) *prometheus.Desc {
		return prometheus.NewDesc("distrod_cp_"+name, help, labels, nil)
	}
	return &cpCollector{
		ctl:     ctl,
		leader:  d("leader", "1 when this node is the control plane's Raft leader."),
		term:    d("term", "The Raft term this node is in."),
		applied: d("applied_index", "The last Raft log index this node applied."),
		commit:  d("commit_index", "The last Raft log index this node knows committed."),
		voters:  d("voters", "Voters in the Raft configuration."),
		writes:  d("writes_total", "Control plane writes taken by this node, by result (ok, no_leader, refused).", "result"),
	}
}

func (c *cpCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{c.leader, c.term, c.applied, c.commit, c.voters, c.writes} {
		ch <- d
	}
}

func (c *cpCollector) Collect(ch chan<- prometheus.Metric) {
	w := &c.ctl.writes
	ch <- prometheus.MustNewConstMetric(c.writes, prometheus.CounterValue, float64(w.ok.Load()), "ok")
	ch <- prometheus.MustNewConstMetric(c.writes, prometheus.CounterValue, float64(w.noLeader.Load()), "no_leader")
	ch <- prometheus.MustNewConstMetric(c.writes, prometheus.CounterValue, float64(w.refused.Load()), "refused")
	n := c.ctl.node.Load()
	if n == nil {
		return
	}
	st := n.Status()
	leader := 0.0
	if n.IsLeader() {
		leader = 1
	}
	ch <- prometheus.MustNewConstMetric(c.leader, prometheus.GaugeValue, leader)
	ch <- prometheus.MustNewConstMetric(c.term, prometheus.GaugeValue, float64(st.Term))
	ch <- prometheus.MustNewConstMetric(c.applied, prometheus.GaugeValue, float64(st.AppliedIndex))
	ch <- prometheus.MustNewConstMetric(c.commit, prometheus.GaugeValue, float64(st.CommitIndex))
	ch <- prometheus.MustNewConstMetric(c.voters, prometheus.GaugeValue, float64(len(st.Voters)))
}
