package bench

import (
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// Operations of the beatstorm scenario.
const (
	OpBeatStormBeat       = "beat"
	OpBeatStormBeatAfter  = "beat-after-stop"
	OpBeatStormReg        = "register-before"
	OpBeatStormRegWindow  = "register-in-expiry"
	OpBeatStormList       = "list-before"
	OpBeatStormListWindow = "list-in-expiry"
)

const (
	// beatStormBase keeps the scenario's addresses apart from the other
	// scenarios'.
	beatStormBase = 2_000_000_000
	// beatStormPeriod is the v1 SDK's default beat interval.
	beatStormPeriod = 5 * time.Second
	// beatStormWarm is how long every instance beats after the last
	// registration before a tenth of them go silent.
	beatStormWarm = 12 * time.Second
	// The side load measured before and during the expiry: fresh HTTP
	// registrations and HTTP instance lists of the beating services.
	beatStormWriters, beatStormWriteRate = 8, 100.0
	beatStormReaders, beatStormReadRate  = 8, 200.0
	beatStormPoll                        = 250 * time.Millisecond
	beatStormPad                         = time.Second
)

func init() {
	RegisterScenario(Scenario{Name: "beatstorm",
		Summary: "HTTP v1 instances beat every 5 s (rate = instances/5), a tenth go silent at once; p99 of other HTTP registrations and lists while they expire, expiry check cost",
		Defaults: func(c *Config) {
			setDefault(&c.Instances, 100000)
			setDefault(&c.Services, 1000)
			setDefault(&c.Clients, 256)
			setDefaultDuration(&c.Duration, 45*time.Second)
			if c.Rate <= 0 {
				c.Rate = float64(c.Instances) / beatStormPeriod.Seconds()
			}
		}, Run: BeatStorm})
}

// beatStormSilent reports whether instance k stops beating: a tenth of
// every service's instances.
func beatStormSilent(k, services int) bool { return (k/services)%10 == 0 }

// stamped is one timed operation of the side load.
type stamped struct {
	at      time.Time
	latency time.Duration
	err     error
}

// BeatStorm registers Instances (default 100000) HTTP v1 instances over
// Services (default 1000) services bench-bs-<run>-N on node A and beats
// each of them every Instances/Rate seconds (Rate defaults to Instances/5:
// every 5 s, as the v1 SDK) from Clients (default 256) keep-alive
// connections, each owning the instances k ≡ c (mod Clients) and
// sending their registrations, then their beats, on a fixed timetable (a
// late one is sent at once, never skipped). beatStormWarm after the last
// registration a tenth of every service's instances stop beating at once.
// Meanwhile 8 clients register fresh instances (100/s in all) and 8 list
// the beating services (200/s), from the end of the registrations to the
// end of the run; a monitor polls one service every 250 ms to time the
// silent instances' health flip and removal. The run ends 1 s after the
// last silent instance of the monitored service is gone, or Duration
// (default 45 s) after the stop. Reported: beat latency and the beat rate
// achieved before and after the stop, registration and list latency
// before the stop and inside the expiry window (from the last poll before
// the first flip to 1 s after the removal), the times of flip and removal
// after the stop, and the expiry checks' cost from the distrod_expiry_*
// metrics of node A (absent from builds without the expiry index).
func BeatStorm(ctx context.Context, cfg Config) (*Result, error) {
	res := newResult("beatstorm", cfg)
	target := cfg.Targets[0]
	run := runID()
	names := serviceNames("bench-bs-"+run+"-%d", cfg.Services)
	liveNames := serviceNames("bench-bs-live-"+run+"-%d", 100)
	hcs := make([]*HTTPClient, cfg.Clients)
	for i := range hcs {
		hcs[i] = NewHTTPClient(target, cfg.Timeout)
		defer hcs[i].Close()
	}
	type owned struct {
		svc    string
		inst   Instance
		silent bool
	}
	mine := make([][]owned, cfg.Clients)
	for k := range cfg.Instances {
		c := k % cfg.Clients
		mine[c] = append(mine[c], owned{names[k%len(names)], BenchInstance(beatStormBase + uint64(k)), beatStormSilent(k, cfg.Services)})
	}
	period := time.Duration(float64(time.Second) * float64(cfg.Instances) / cfg.Rate)

	var stopped atomic.Bool
	var registered sync.WaitGroup
	registered.Add(cfg.Clients)
	bctx, stopBeats := context.WithCancel(ctx)
	defer stopBeats()
	preRecs := make([]*Recorder, cfg.Clients)
	beatRecs := make([]*Recorder, cfg.Clients)
	afterRecs := make([]*Recorder, cfg.Clients)
	start := time.Now()
	var beaters sync.WaitGroup
	for c := range cfg.Clients {
		preRecs[c], beatRecs[c], afterRecs[c] = NewRecorder(), NewRecorder(), NewRecorder()
		beaters.Add(1)
		go func() {
			defer beaters.Done()
			list := mine[c]
			if len(list) == 0 {
				registered.Done()
				return
			}
			slot := period / time.Duration(len(list))
			timer := time.NewTimer(time.Hour)
			defer timer.Stop()
			// Each client starts at its own offset, so the beats spread
			// over the period.
			base := start.Add(time.Duration(c) * slot / time.Duration(cfg.Clients))
			for cycle := 0; ; cycle++ {
				for j, o := range list {
					due := base.Add(time.Duration(cycle)*period + time.Duration(j)*slot)
					if d := time.Until(due); d > 0 {
						timer.Reset(d)
						select {
						case <-bctx.Done():
							return
						case <-timer.C:
						}
					} else if bctx.Err() != nil {
						return
					}
					switch {
					case cycle == 0:
						observe(bctx, preRecs[c], OpPreload, func() error { return hcs[c].Register(bctx, cfg.Namespace, o.svc, o.inst) })
					case o.silent && stopped.Load():
					default:
						rec, op := beatRecs[c], OpBeatStormBeat
						if stopped.Load() {
							rec, op = afterRecs[c], OpBeatStormBeatAfter
						}
						observe(bctx, rec, op, func() error {
							_, err := hcs[c].Beat(bctx, cfg.Namespace, o.svc, o.inst)
							return err
						})
					}
				}
				if cycle == 0 {
					registered.Done()
				}
			}
		}()
	}
	registered.Wait()
	loaded := time.Now()
	preElapsed := loaded.Sub(start)

	// Side load and monitor from now until the end.
	sctx, stopSide := context.WithCancel(ctx)
	defer stopSide()
	var side sync.WaitGroup
	writes := make([][]stamped, beatStormWriters)
	reads := make([][]stamped, beatStormReaders)
	for w := range beatStormWriters {
		side.Add(1)
		go func() {
			defer side.Done()
			hc := NewHTTPClient(target, cfg.Timeout)
			defer hc.Close()
			p := newPacer(beatStormWriteRate, beatStormWriters)
			for seq := uint64(0); p.wait(sctx); seq++ {
				g := beatStormBase + uint64(cfg.Instances) + globalSeq(w, beatStormWriters, seq)
				at := time.Now()
				err := hc.Register(sctx, cfg.Namespace, liveNames[seq%uint64(len(liveNames))], BenchInstance(g))
				if err != nil && phaseOver(sctx) {
					return
				}
				writes[w] = append(writes[w], stamped{at, time.Since(at), err})
			}
		}()
	}
	for r := range beatStormReaders {
		side.Add(1)
		go func() {
			defer side.Done()
			hc := NewHTTPClient(target, cfg.Timeout)
			defer hc.Close()
			rng := rand.New(rand.NewPCG(uint64(r), 11))
			p := newPacer(beatStormReadRate, beatStormReaders)
			for p.wait(sctx) {
				at := time.Now()
				_, err := hc.List(sctx, cfg.Namespace, names[rng.IntN(len(names))])
				if err != nil && phaseOver(sctx) {
					return
				}
				reads[r] = append(reads[r], stamped{at, time.Since(at), err})
			}
		}()
	}

	// The monitored service is names[0]: instances k ≡ 0 (mod Services).
	silentHosts, liveHosts := map[Host]bool{}, map[Host]bool{}
	for k := 0; k < cfg.Instances; k += cfg.Services {
		in := BenchInstance(beatStormBase + uint64(k))
		if beatStormSilent(k, cfg.Services) {
			silentHosts[Host{IP: in.IP, Port: in.Port}] = true
		} else {
			liveHosts[Host{IP: in.IP, Port: in.Port}] = true
		}
	}
	timer := time.NewTimer(beatStormWarm)
	select {
	case <-ctx.Done():
		timer.Stop()
		return nil, ctx.Err()
	case <-timer.C:
	}
	stopAt := time.Now()
	stopped.Store(true)
	mon := &bsMonitor{hc: NewHTTPClient(target, cfg.Timeout), cfg: cfg, service: names[0], silent: silentHosts, live: liveHosts, stop: stopAt}
	before := expiryScrape(ctx, target)
	deadline := stopAt.Add(cfg.Duration)
	tick := time.NewTicker(beatStormPoll)
	for !mon.poll(ctx) && time.Now().Before(deadline) {
		select {
		case <-ctx.Done():
		case <-tick.C:
		}
	}
	tick.Stop()
	end := time.Now()
	after := expiryScrape(ctx, target)
	stopSide()
	stopBeats()
	side.Wait()
	beaters.Wait()

	pre, beats, beatsAfter := NewRecorder(), NewRecorder(), NewRecorder()
	for c := range cfg.Clients {
		pre.Merge(preRecs[c])
		beats.Merge(beatRecs[c])
		beatsAfter.Merge(afterRecs[c])
	}
	beats.Declare(OpBeatStormBeat)
	beatsAfter.Declare(OpBeatStormBeatAfter)
	res.AddOp(OpPreload, pre, preElapsed)
	res.AddOp(OpBeatStormBeat, beats, stopAt.Sub(loaded))
	res.AddOp(OpBeatStormBeatAfter, beatsAfter, end.Sub(stopAt))

	winStart, winEnd := mon.window()
	if winEnd.IsZero() || winEnd.After(end) {
		winEnd = end
	}
	split := func(samples [][]stamped, opBefore, opWindow string) {
		b, w := NewRecorder(), NewRecorder()
		b.Declare(opBefore)
		w.Declare(opWindow)
		for _, l := range samples {
			for _, s := range l {
				switch {
				case s.at.Before(stopAt):
					b.Observe(opBefore, s.latency, s.err)
				case !winStart.IsZero() && !s.at.Before(winStart) && !s.at.After(winEnd):
					w.Observe(opWindow, s.latency, s.err)
				}
			}
		}
		res.AddOp(opBefore, b, stopAt.Sub(loaded))
		if !winStart.IsZero() {
			res.AddOp(opWindow, w, winEnd.Sub(winStart))
		}
	}
	split(writes, OpBeatStormReg, OpBeatStormRegWindow)
	split(reads, OpBeatStormList, OpBeatStormListWindow)
	mon.report(res)
	expiryReport(res, before, after)
	res.Gauge("beat_period_s", period.Seconds())
	res.Gauge("offered_beats_per_s", cfg.Rate)
	if rss := readRSS(ctx, cfg, 0); rss > 0 {
		res.Gauge("rss_mib_at_end", float64(rss)/(1<<20))
	}
	return res, nil
}

// bsMonitor watches the monitored service for the silent instances' flip
// and removal (times since the stop).
type bsMonitor struct {
	hc                                *HTTPClient
	cfg                               Config
	service                           string
	silent, live                      map[Host]bool
	stop                              time.Time
	lastAllHealthy                    time.Time
	flipFirst, flipAll                time.Time
	goneFirst, goneAll                time.Time
	liveMissing, liveUnhealthy, polls int
}

type bsHost struct {
	IP      string `json:"ip"`
	Port    uint64 `json:"port"`
	Healthy bool   `json:"healthy"`
}

// poll lists the service once; it reports true once every silent instance
// has been gone for beatStormPad.
func (m *bsMonitor) poll(ctx context.Context) bool {
	out, err := m.hc.do(ctx, http.MethodGet, m.hc.base+"/v1/ns/instance/list?"+ListQuery(m.cfg.Namespace, m.service), "")
	if err != nil {
		return false
	}
	var si struct {
		Hosts []bsHost `json:"hosts"`
	}
	if json.Unmarshal(out, &si) != nil {
		return false
	}
	now := time.Now()
	m.polls++
	present, healthy, liveSeen := 0, 0, 0
	for _, h := range si.Hosts {
		k := Host{IP: h.IP, Port: h.Port}
		switch {
		case m.silent[k]:
			present++
			if h.Healthy {
				healthy++
			}
		case m.live[k]:
			liveSeen++
			if !h.Healthy {
				m.liveUnhealthy++
			}
		}
	}
	if liveSeen < len(m.live) {
		m.liveMissing++
	}
	if healthy == len(m.silent) {
		m.lastAllHealthy = now
	}
	if healthy < len(m.silent) && m.flipFirst.IsZero() {
		m.flipFirst = now
	}
	if healthy == 0 && m.flipAll.IsZero() {
		m.flipAll = now
	}
	if present < len(m.silent) && m.goneFirst.IsZero() {
		m.goneFirst = now
	}
	if present == 0 && m.goneAll.IsZero() {
		m.goneAll = now
	}
	return !m.goneAll.IsZero() && now.Sub(m.goneAll) >= beatStormPad
}

// window is the expiry window: from the last poll that showed every
// silent instance healthy to beatStormPad after the first that showed
// none; zero when no flip was seen.
func (m *bsMonitor) window() (time.Time, time.Time) {
	if m.flipFirst.IsZero() {
		return time.Time{}, time.Time{}
	}
	start := m.lastAllHealthy
	if start.IsZero() || start.After(m.flipFirst) {
		start = m.flipFirst
	}
	if m.goneAll.IsZero() {
		return start, time.Time{}
	}
	return start, m.goneAll.Add(beatStormPad)
}

func (m *bsMonitor) report(res *Result) {
	m.hc.Close()
	since := func(name string, t time.Time) {
		if !t.IsZero() {
			res.Gauge(name, t.Sub(m.stop).Seconds())
		}
	}
	since("first_unhealthy_after_stop_s", m.flipFirst)
	since("all_unhealthy_after_stop_s", m.flipAll)
	since("first_removed_after_stop_s", m.goneFirst)
	since("all_removed_after_stop_s", m.goneAll)
	switch {
	case m.polls == 0:
		res.Note("monitor: no answer from the monitored service")
	case m.flipFirst.IsZero():
		res.Note("expiry window not observed: the silent instances stayed healthy (run longer than the beat timeout)")
	case m.goneAll.IsZero():
		res.Note("the silent instances were not all removed by the end of the run")
	}
	if m.liveMissing > 0 || m.liveUnhealthy > 0 {
		res.Note("beating instances of the monitored service seen missing in %d polls, unhealthy %d times (the beats fell behind the timeout)", m.liveMissing, m.liveUnhealthy)
	}
}

// expiryScrape reads node target's distrod_expiry_* metrics (nil if none).
func expiryScrape(ctx context.Context, target string) map[string]float64 {
	all, err := scrapeMetrics(ctx, target)
	if err != nil {
		return nil
	}
	out := map[string]float64{}
	for k, v := range all {
		if strings.HasPrefix(k, "distrod_expiry_") {
			out[k] = v
		}
	}
	return out
}

// expiryReport adds the expiry checks' cost between two scrapes.
func expiryReport(res *Result, before, after map[string]float64) {
	if len(after) == 0 {
		res.Note("node A exports no distrod_expiry_* metrics: expiry check cost not measured")
		return
	}
	d := func(k string) float64 { return after[k] - before[k] }
	for _, kind := range []string{"due", "full"} {
		sum := d(`distrod_expiry_lock_hold_seconds_sum{kind="` + kind + `"}`)
		n := d(`distrod_expiry_lock_hold_seconds_count{kind="` + kind + `"}`)
		if n <= 0 {
			continue
		}
		res.Gauge("expiry_"+kind+"_passes", n)
		res.Gauge("expiry_"+kind+"_longest_hold_ms_mean", sum/n*1e3)
		// The largest bucket bound a pass of the window fell into.
		worst := 0.0
		for k, v := range after {
			pre := `distrod_expiry_lock_hold_seconds_bucket{kind="` + kind + `",le="`
			if !strings.HasPrefix(k, pre) || v-before[k] <= 0 {
				continue
			}
			var le float64
			if _, err := fmt.Sscanf(strings.TrimSuffix(strings.TrimPrefix(k, pre), `"}`), "%g", &le); err == nil {
				// Buckets are cumulative: the smallest bound holding every
				// pass of the window bounds the slowest one.
				if v-before[k] >= n && (worst == 0 || le < worst) {
					worst = le
				}
			}
		}
		if worst > 0 {
			res.Gauge("expiry_"+kind+"_longest_hold_ms_max_bound", worst*1e3)
		}
	}
	res.Gauge("expiry_lock_ms_per_check", d("distrod_expiry_lock_seconds_total")*1e3/max(1, d(`distrod_expiry_lock_hold_seconds_count{kind="due"}`)+d(`distrod_expiry_lock_hold_seconds_count{kind="full"}`)))
	res.Gauge("expiry_clients_visited", d("distrod_expiry_clients_visited_total"))
	res.Gauge("expiry_clients_rearmed", d("distrod_expiry_clients_rearmed_total"))
	res.Gauge("expiry_changes", d("distrod_expiry_changes_total"))
}
