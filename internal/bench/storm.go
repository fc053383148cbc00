package bench

import (
	"context"
	"sync"
	"time"
)

// stormPreloadBase keeps the preloaded instances' addresses apart from
// every other scenario's (and the baseline's fixed hosts).
const stormPreloadBase = 1_000_000_000

// stormWindowPad extends the observed expiry window past the poll that
// found the watched service empty.
const stormWindowPad = time.Second

// stormSample is one timed registration of the storm's live phase.
type stormSample struct {
	at      time.Time
	latency time.Duration
}

// Storm preloads Instances (default 10000) instances over Services
// (default 100) services bench-storm-<run>-N by HTTP v1 POST and never
// beats them, so they expire together once the server's delete timeout
// passes (30 s in Nacos). Meanwhile Clients HTTP clients keep registering
// fresh instances into separate services at Rate (default 200/s) for
// Duration (default 50s: it must cover the delete timeout). A monitor
// polls one preloaded service on node A every 250ms to find the expiry
// window (from the last poll showing all its instances to the first
// showing none, plus 1s) and samples every node's RSS. Reported: registration latency over
// the whole run and inside the expiry window ("register-in-expiry"), and
// peak RSS per node. If nothing expires within the run the window is
// reported as not observed.
func Storm(ctx context.Context, cfg Config) (*Result, error) {
	res := newResult("storm", cfg)
	target := cfg.Targets[0]
	run := runID()
	preNames := serviceNames("bench-storm-"+run+"-%d", cfg.Services)
	liveNames := serviceNames("bench-storm-live-"+run+"-%d", cfg.Services)
	hcs := make([]*HTTPClient, cfg.Clients)
	for i := range hcs {
		hcs[i] = NewHTTPClient(cfg.Targets[i%len(cfg.Targets)], cfg.Timeout)
		defer hcs[i].Close()
	}

	// Preload, as fast as the clients go.
	preRecs := make([]*Recorder, cfg.Clients)
	start := time.Now()
	_ = forEachClient(cfg.Clients, func(c int) error {
		preRecs[c] = NewRecorder()
		for k := c; k < cfg.Instances; k += cfg.Clients {
			observe(ctx, preRecs[c], OpPreload, func() error {
				return hcs[c].Register(ctx, cfg.Namespace, preNames[k%len(preNames)], BenchInstance(stormPreloadBase+uint64(k)))
			})
		}
		return nil
	})
	pre := NewRecorder()
	for _, r := range preRecs {
		pre.Merge(r)
	}
	preElapsed := time.Since(start)
	// The monitored service is preNames[0]: it holds instances k ≡ 0 (mod
	// Services). Only those hosts are counted, whatever else a list holds.
	watched := map[Host]bool{}
	for k := 0; k < cfg.Instances; k += cfg.Services {
		in := BenchInstance(stormPreloadBase + uint64(k))
		watched[Host{IP: in.IP, Port: in.Port}] = true
	}

	// Monitor: expiry window and peak RSS.
	mctx, stopMon := context.WithCancel(ctx)
	var mon sync.WaitGroup
	var winStart, winEnd, lastFull time.Time
	peak := make([]int64, len(cfg.Targets))
	sampleCount, initial := -1, -1
	mon.Add(1)
	go func() {
		defer mon.Done()
		hc := NewHTTPClient(target, cfg.Timeout)
		defer hc.Close()
		tick := time.NewTicker(250 * time.Millisecond)
		defer tick.Stop()
		for {
			for i := range cfg.Targets {
				peak[i] = max(peak[i], readRSS(mctx, cfg, i))
			}
			if si, err := hc.List(mctx, cfg.Namespace, preNames[0]); err == nil {
				now := time.Now()
				sampleCount = 0
				for _, h := range si.Hosts {
					if watched[h] {
						sampleCount++
					}
				}
				if initial < 0 {
					initial = sampleCount
				}
				if winStart.IsZero() {
					if sampleCount < initial {
						// Expiry began after the last poll that still
						// showed every instance.
						winStart = lastFull
					} else {
						lastFull = now
					}
				}
				if !winStart.IsZero() && winEnd.IsZero() && sampleCount == 0 {
					// The other services' instances expire in the same
					// sweep, possibly a little later: pad the end.
					winEnd = now.Add(stormWindowPad)
				}
			}
			select {
			case <-mctx.Done():
				return
			case <-tick.C:
			}
		}
	}()

	// Live registrations, keeping every sample's time for the window cut.
	samples := make([][]stormSample, cfg.Clients)
	rec, elapsed := timed(ctx, cfg, cfg.Rate, func(ctx context.Context, c int, seq uint64, rec *Recorder) {
		g := uint64(cfg.Instances) + globalSeq(c, cfg.Clients, seq)
		at := time.Now()
		err := hcs[c].Register(ctx, cfg.Namespace, liveNames[seq%uint64(len(liveNames))], BenchInstance(g))
		if err != nil && phaseOver(ctx) {
			return
		}
		lat := time.Since(at)
		rec.Observe(OpStormReg, lat, err)
		if err == nil {
			samples[c] = append(samples[c], stormSample{at, lat})
		}
	})
	end := time.Now()
	stopMon()
	mon.Wait()

	rec.Declare(OpStormReg)
	res.AddOp(OpStormReg, rec, elapsed)
	res.AddOp(OpPreload, pre, preElapsed)
	switch {
	case initial <= 0:
		res.Note("expiry window not observed: the preloaded instances of %s were never listed (%d of %d)", preNames[0], max(initial, 0), len(watched))
	case winStart.IsZero():
		res.Note("expiry window not observed: %s still listed %d of its %d preloaded instances at the end (run longer than the delete timeout)", preNames[0], sampleCount, len(watched))
	default:
		if winEnd.IsZero() {
			res.Note("expiry had not finished at the end of the run")
		}
		if winEnd.IsZero() || winEnd.After(end) {
			winEnd = end
		}
		win := NewRecorder()
		win.Declare(OpStormWindow)
		for _, l := range samples {
			for _, s := range l {
				if !s.at.Before(winStart) && !s.at.After(winEnd) {
					win.Observe(OpStormWindow, s.latency, nil)
				}
			}
		}
		// Errors inside the window are not time-stamped; the whole-run
		// error count is in the register row.
		res.AddOp(OpStormWindow, win, winEnd.Sub(winStart))
		res.Gauge("expiry_window_s", winEnd.Sub(winStart).Seconds())
		res.Gauge("expiry_started_after_preload_s", winStart.Sub(start.Add(preElapsed)).Seconds())
	}
	for i, t := range cfg.Targets {
		if peak[i] > 0 {
			res.Gauge("peak_rss_mib."+t, float64(peak[i])/(1<<20))
		} else {
			res.Note("node %s: RSS unavailable (give -pids or serve /metrics)", t)
		}
	}
	return res, nil
}
