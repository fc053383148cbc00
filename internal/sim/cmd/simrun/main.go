// Command simrun runs many seeds of the distrod cluster simulation
// (internal/sim) and prints the failures and a summary:
//
//	go run ./internal/sim/cmd/simrun -seeds 5000 -start 1
//	go run ./internal/sim/cmd/simrun -seeds 500 -drop 0.3 -chaos 40s
//
// With -drop, -dup, -chaos or a planted defect (-no-deadline,
// -ready-before-load) the printed reproduction command runs the default
// options, not the overridden ones.
//
// Seeds are independent, so they run on every core; each seed is itself
// single-threaded and deterministic. Exit status 1 if any seed failed.
package main

import (
	"flag"
	"fmt"
	"os"
	"runtime"
	"sort"
	"sync"
	"time"

	"github.com/distrod/distrod/internal/sim"
)

func main() {
	seeds := flag.Int("seeds", 1000, "number of seeds to run")
	start := flag.Uint64("start", 1, "first seed")
	workers := flag.Int("workers", runtime.GOMAXPROCS(0), "seeds run in parallel")
	verbose := flag.Bool("v", false, "print every run's summary line")
	all := flag.Bool("all", false, "print every violation of a failed seed, not just the first")
	drop := flag.Float64("drop", -1, "override the message drop probability during chaos")
	dup := flag.Float64("dup", -1, "override the message duplication probability during chaos")
	chaos := flag.Duration("chaos", 0, "override the chaos duration (virtual)")
	noDeadline := flag.Bool("no-deadline", false, "plant a defect: owners execute forwarded writes past their deadline")
	readyEarly := flag.Bool("ready-before-load", false, "plant a defect: nodes serve as ready before their snapshot load")
	probeEvery := flag.Duration("probe-interval", 0, "override the probe interval (virtual)")
	probeTimeout := flag.Duration("probe-timeout", 0, "override the probe timeout (virtual)")
	noHold := flag.Bool("no-expiry-hold", false, "plant a defect: nodes expire on their own silence while cut off from most members or right after a member came back")
	flag.Parse()
	options := func(seed uint64) sim.Options {
		o := sim.DefaultOptions(seed)
		if *drop >= 0 {
			o.Faults.Drop = *drop
			o.ReadyWithin = 0 // a lossy load is slow but progresses
		}
		if *dup >= 0 {
			o.Faults.Duplicate = *dup
		}
		if *chaos > 0 {
			o.Chaos = *chaos
		}
		if *probeEvery > 0 {
			o.ProbeInterval = *probeEvery
		}
		if *probeTimeout > 0 {
			o.ProbeTimeout = *probeTimeout
		}
		o.Flaws.NoExpiryHold = *noHold
		o.NoForwardDeadline = *noDeadline
		o.ReadyBeforeLoad = *readyEarly
		return o
	}

	began := time.Now()
	jobs := make(chan uint64)
	results := make(chan sim.Result)
	var wg sync.WaitGroup
	for range max(1, *workers) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for seed := range jobs {
				results <- sim.Run(options(seed))
			}
		}()
	}
	go func() {
		for i := range *seeds {
			jobs <- *start + uint64(i)
		}
		close(jobs)
		wg.Wait()
		close(results)
	}()

	var failed []sim.Result
	var lags []time.Duration
	n := 0
	for r := range results {
		n++
		if *verbose {
			fmt.Println(r.Summary())
		}
		if r.ConvergedAfter >= 0 {
			lags = append(lags, r.ConvergedAfter)
		}
		if !r.OK() {
			failed = append(failed, r)
			fmt.Printf("FAIL seed %d (%d violations): %s\n", r.Seed, r.ViolationCount, r.Violations[0])
			if *all {
				for _, v := range r.Violations[1:] {
					fmt.Printf("     %s\n", v)
				}
			}
			fmt.Printf("     reproduce with: %s\n", sim.Repro(r.Seed))
		}
	}
	sort.Slice(lags, func(i, j int) bool { return lags[i] < lags[j] })
	pct := func(p float64) time.Duration {
		if len(lags) == 0 {
			return -1
		}
		return lags[min(len(lags)-1, int(p*float64(len(lags))))]
	}
	fmt.Printf("%d seeds from %d: %d failed; convergence after last change p50=%v p99=%v max=%v; %v\n",
		n, *start, len(failed), pct(0.5), pct(0.99), pct(1), time.Since(began).Round(time.Millisecond))
	if len(failed) > 0 {
		os.Exit(1)
	}
}
