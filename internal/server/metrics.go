package server

import (
	"context"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/distrod/distrod/internal/naming"
	"github.com/distrod/distrod/internal/transport"
)

// storeCollector exports the naming store's counts at scrape time.
type storeCollector struct {
	store                                     *naming.Store
	services, instances, clients, connClients *prometheus.Desc
	ipPortClients, tombstones                 *prometheus.Desc
}

func newStoreCollector(s *naming.Store) *storeCollector {
	d := func(name, help string) *prometheus.Desc {
		return prometheus.NewDesc("distrod_naming_"+name, help, nil, nil)
	}
	return &storeCollector{
		store:         s,
		services:      d("services", "Services held by this node."),
		instances:     d("instances", "Instances held by this node."),
		clients:       d("clients", "Live clients (publishers) held by this node."),
		connClients:   d("connection_clients", "Live gRPC connection clients held by this node."),
		ipPortClients: d("ip_port_clients", "Live HTTP (ip:port) clients held by this node."),
		tombstones:    d("tombstones", "Client tombstones kept for replication."),
	}
}

func (c *storeCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{c.services, c.instances, c.clients, c.connClients, c.ipPortClients, c.tombstones} {
		ch <- d
	}
}

func (c *storeCollector) Collect(ch chan<- prometheus.Metric) {
	st := c.store.Stats()
	g := func(d *prometheus.Desc, v int) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, float64(v))
	}
	g(c.services, st.Services)
	g(c.instances, st.Instances)
	g(c.clients, st.Clients)
	g(c.connClients, st.ConnectionClients)
	g(c.ipPortClients, st.IPPortClients)
	g(c.tombstones, st.Tombstones)
}

// clusterCollector exports the Distro core's status at scrape time.
type clusterCollector struct {
	c                                           *cluster
	ready, pending, oldest, retry, inflight     *prometheus.Desc
	verifyRounds, repairs, applied, stale, keys *prometheus.Desc
	sentMsgs, sentBytes, recvMsgs, recvBytes    *prometheus.Desc
	refused, future                             *prometheus.Desc
}

func newClusterCollector(c *cluster) *clusterCollector {
	d := func(name, help string, labels ...string) *prometheus.Desc {
		return prometheus.NewDesc("distrod_distro_"+name, help, labels, nil)
	}
	return &clusterCollector{
		c:            c,
		ready:        d("ready", "1 once the startup snapshot load finished."),
		pending:      d("peer_pending_keys", "Keys queued for sync to a peer.", "peer"),
		oldest:       d("peer_oldest_pending_seconds", "Age of the oldest key queued for a peer (replication lag bound).", "peer"),
		retry:        d("peer_retry_keys", "Queued keys that failed at least once (retry depth).", "peer"),
		inflight:     d("peer_inflight_batches", "Unacknowledged sync batches to a peer.", "peer"),
		verifyRounds: d("verify_rounds_total", "Verify rounds started by this node."),
		repairs:      d("repairs_total", "Records repaired by verify.", "kind"),
		applied:      d("records_applied_total", "Remote records installed (sync, pull, snapshot)."),
		stale:        d("records_stale_total", "Remote records ignored as not newer."),
		keys:         d("records", "Replicated records held, by kind.", "kind"),
		sentMsgs:     d("sent_messages_total", "Cluster messages sent, by type.", "type"),
		sentBytes:    d("sent_bytes_total", "Encoded bytes of cluster messages sent, by type.", "type"),
		recvMsgs:     d("received_messages_total", "Cluster messages received, by type.", "type"),
		recvBytes:    d("received_bytes_total", "Encoded bytes of cluster messages received, by type.", "type"),
		refused:      d("refused_total", "Cluster connections, messages and sends refused, by reason (handshake, not_member, forged_from, unknown_destination).", "reason"),
		future:       d("records_future_refused_total", "Remote records refused because their version lies beyond max-clock-offset in the future."),
	}
}

func (c *clusterCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{c.ready, c.pending, c.oldest, c.retry, c.inflight, c.verifyRounds, c.repairs, c.applied, c.stale, c.keys, c.sentMsgs, c.sentBytes, c.recvMsgs, c.recvBytes, c.refused, c.future} {
		ch <- d
	}
}

func (c *clusterCollector) Collect(ch chan<- prometheus.Metric) {
	for _, tr := range c.c.tr.Traffic() {
		ch <- prometheus.MustNewConstMetric(c.sentMsgs, prometheus.CounterValue, float64(tr.SentMessages), tr.Type)
		ch <- prometheus.MustNewConstMetric(c.sentBytes, prometheus.CounterValue, float64(tr.SentBytes), tr.Type)
		ch <- prometheus.MustNewConstMetric(c.recvMsgs, prometheus.CounterValue, float64(tr.RecvMessages), tr.Type)
		ch <- prometheus.MustNewConstMetric(c.recvBytes, prometheus.CounterValue, float64(tr.RecvBytes), tr.Type)
	}
	for i, n := range c.c.tr.Refused() {
		ch <- prometheus.MustNewConstMetric(c.refused, prometheus.CounterValue, float64(n), transport.RefusalNames[i])
	}
	ch <- prometheus.MustNewConstMetric(c.future, prometheus.CounterValue, float64(c.c.futureRefused.Load()))
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	st, err := c.c.Status(ctx)
	if err != nil {
		return
	}
	ready := 0.0
	if st.Ready {
		ready = 1
	}
	ch <- prometheus.MustNewConstMetric(c.ready, prometheus.GaugeValue, ready)
	for _, p := range st.Peers {
		ch <- prometheus.MustNewConstMetric(c.pending, prometheus.GaugeValue, float64(p.Pending), p.Addr)
		ch <- prometheus.MustNewConstMetric(c.oldest, prometheus.GaugeValue, p.OldestPending.Seconds(), p.Addr)
		ch <- prometheus.MustNewConstMetric(c.retry, prometheus.GaugeValue, float64(p.RetryKeys), p.Addr)
		ch <- prometheus.MustNewConstMetric(c.inflight, prometheus.GaugeValue, float64(p.Inflight), p.Addr)
	}
	ch <- prometheus.MustNewConstMetric(c.verifyRounds, prometheus.CounterValue, float64(st.VerifyRoundsSent))
	ch <- prometheus.MustNewConstMetric(c.repairs, prometheus.CounterValue, float64(st.RepairsPulled), "pulled")
	ch <- prometheus.MustNewConstMetric(c.repairs, prometheus.CounterValue, float64(st.RepairsPushed), "pushed")
	ch <- prometheus.MustNewConstMetric(c.repairs, prometheus.CounterValue, float64(st.RepairsDropped), "dropped")
	ch <- prometheus.MustNewConstMetric(c.applied, prometheus.CounterValue, float64(st.RecordsApplied))
	ch <- prometheus.MustNewConstMetric(c.stale, prometheus.CounterValue, float64(st.RecordsStale))
	ch <- prometheus.MustNewConstMetric(c.keys, prometheus.GaugeValue, float64(st.Live), "live")
	ch <- prometheus.MustNewConstMetric(c.keys, prometheus.GaugeValue, float64(st.Tombstones), "tombstone")
}
