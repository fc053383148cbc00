package bench

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"slices"
	"strings"
	"text/tabwriter"
	"time"
)

// maxErrorSamples bounds how many distinct error messages an op keeps.
const maxErrorSamples = 8

// opStats is one goroutine's private tally for one operation.
type opStats struct {
	hist   *Histogram
	errs   uint64
	kinds  map[string]uint64
	sample map[string]string
}

// Recorder tallies outcomes per operation name. It is owned by one goroutine
// (no locks on the hot path); a scenario gives each simulated client its own
// Recorder and merges them at the end with Merge.
type Recorder struct {
	ops map[string]*opStats
}

// NewRecorder returns an empty Recorder.
func NewRecorder() *Recorder { return &Recorder{ops: map[string]*opStats{}} }

func (r *Recorder) op(name string) *opStats {
	s := r.ops[name]
	if s == nil {
		s = &opStats{hist: NewHistogram(), kinds: map[string]uint64{}, sample: map[string]string{}}
		r.ops[name] = s
	}
	return s
}

// Observe records one completed operation: its latency when err is nil,
// otherwise only an error, classified by errorKind. A failed operation's
// latency is deliberately dropped.
func (r *Recorder) Observe(name string, latency time.Duration, err error) {
	s := r.op(name)
	if err == nil {
		s.hist.Record(latency)
		return
	}
	s.errs++
	k := errorKind(err)
	s.kinds[k]++
	if _, ok := s.sample[k]; !ok && len(s.sample) < maxErrorSamples {
		s.sample[k] = err.Error()
	}
}

// Declare makes name appear in the results even if nothing is observed.
func (r *Recorder) Declare(name string) { r.op(name) }

// Merge adds o's tallies into r.
func (r *Recorder) Merge(o *Recorder) {
	for name, os := range o.ops {
		s := r.op(name)
		s.hist.Merge(os.hist)
		s.errs += os.errs
		for k, v := range os.kinds {
			s.kinds[k] += v
		}
		for k, v := range os.sample {
			if _, ok := s.sample[k]; !ok && len(s.sample) < maxErrorSamples {
				s.sample[k] = v
			}
		}
	}
}

// renamed returns a recorder holding only op from, under the name to.
func (r *Recorder) renamed(from, to string) *Recorder {
	out := NewRecorder()
	out.Declare(to)
	out.Merge(&Recorder{ops: map[string]*opStats{to: r.op(from)}})
	return out
}

// Hist returns the latency histogram of successful name operations (nil if
// the name was never observed).
func (r *Recorder) Hist(name string) *Histogram {
	if s := r.ops[name]; s != nil {
		return s.hist
	}
	return nil
}

// Errors returns the number of failed name operations.
func (r *Recorder) Errors(name string) uint64 {
	if s := r.ops[name]; s != nil {
		return s.errs
	}
	return 0
}

// OpResult is the summary of one operation. Latencies are in milliseconds.
// OK counts successes only; Throughput is OK / Seconds.
type OpResult struct {
	Name       string            `json:"name"`
	OK         uint64            `json:"ok"`
	Errors     uint64            `json:"errors"`
	Seconds    float64           `json:"seconds"`
	Throughput float64           `json:"throughput"`
	MeanMs     float64           `json:"meanMs"`
	P50Ms      float64           `json:"p50Ms"`
	P99Ms      float64           `json:"p99Ms"`
	MaxMs      float64           `json:"maxMs"`
	ErrorKinds map[string]uint64 `json:"errorKinds,omitempty"`
	ErrorText  map[string]string `json:"errorSamples,omitempty"`
}

// Result is what a scenario reports: one OpResult per operation, plus
// scenario-specific figures (RSS, bytes per instance, ...) in Gauges and
// free-form remarks in Notes.
type Result struct {
	Scenario string             `json:"scenario"`
	Targets  []string           `json:"targets"`
	Clients  int                `json:"clients"`
	Ops      []OpResult         `json:"ops"`
	Gauges   map[string]float64 `json:"gauges,omitempty"`
	Notes    []string           `json:"notes,omitempty"`
}

func ms(v uint64) float64 { return float64(v) / 1e6 }

// AddOps appends one OpResult per operation in rec (sorted by name), with
// throughput computed over elapsed.
func (res *Result) AddOps(rec *Recorder, elapsed time.Duration) {
	for _, name := range slices.Sorted(maps.Keys(rec.ops)) {
		res.AddOp(name, rec, elapsed)
	}
}

// AddOp appends the OpResult of one operation in rec.
func (res *Result) AddOp(name string, rec *Recorder, elapsed time.Duration) {
	s := rec.op(name)
	sec := elapsed.Seconds()
	o := OpResult{Name: name, OK: s.hist.Count(), Errors: s.errs, Seconds: sec,
		MeanMs: s.hist.Mean() / 1e6, P50Ms: ms(s.hist.ValueAt(0.5)), P99Ms: ms(s.hist.ValueAt(0.99)),
		MaxMs: ms(s.hist.Max())}
	if sec > 0 {
		o.Throughput = float64(o.OK) / sec
	}
	if len(s.kinds) > 0 {
		o.ErrorKinds = maps.Clone(s.kinds)
		o.ErrorText = maps.Clone(s.sample)
	}
	res.Ops = append(res.Ops, o)
}

// Gauge sets a scenario-specific figure.
func (res *Result) Gauge(name string, v float64) {
	if res.Gauges == nil {
		res.Gauges = map[string]float64{}
	}
	res.Gauges[name] = v
}

// Note appends a remark.
func (res *Result) Note(format string, args ...any) {
	res.Notes = append(res.Notes, fmt.Sprintf(format, args...))
}

// Op returns the named OpResult, or nil.
func (res *Result) Op(name string) *OpResult {
	for i := range res.Ops {
		if res.Ops[i].Name == name {
			return &res.Ops[i]
		}
	}
	return nil
}

// TotalErrors sums Errors over all operations.
func (res *Result) TotalErrors() uint64 {
	var n uint64
	for _, o := range res.Ops {
		n += o.Errors
	}
	return n
}

// WriteTable prints res as an aligned text table.
func (res *Result) WriteTable(w io.Writer) error {
	fmt.Fprintf(w, "scenario %s  targets %s  clients %d\n", res.Scenario, strings.Join(res.Targets, ","), res.Clients)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "op\tok\terrors\tops/s\tmean ms\tp50 ms\tp99 ms\tmax ms\t")
	for _, o := range res.Ops {
		fmt.Fprintf(tw, "%s\t%d\t%d\t%.0f\t%.3f\t%.3f\t%.3f\t%.3f\t\n",
			o.Name, o.OK, o.Errors, o.Throughput, o.MeanMs, o.P50Ms, o.P99Ms, o.MaxMs)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	for _, o := range res.Ops {
		for _, k := range slices.Sorted(maps.Keys(o.ErrorKinds)) {
			fmt.Fprintf(w, "  error %s %s x%d: %s\n", o.Name, k, o.ErrorKinds[k], o.ErrorText[k])
		}
	}
	for _, k := range slices.Sorted(maps.Keys(res.Gauges)) {
		fmt.Fprintf(w, "  %s = %s\n", k, fmtGauge(res.Gauges[k]))
	}
	for _, n := range res.Notes {
		fmt.Fprintf(w, "  note: %s\n", n)
	}
	return nil
}

func fmtGauge(v float64) string {
	if v == float64(int64(v)) {
		return fmt.Sprintf("%d", int64(v))
	}
	return fmt.Sprintf("%.3f", v)
}

// Comparison is one scenario run against the baseline and against the
// target, with target/baseline ratios per operation.
type Comparison struct {
	Baseline *Result          `json:"baseline"`
	Target   *Result          `json:"target"`
	Ratios   map[string]Ratio `json:"ratios"`
}

// Ratio holds target/baseline ratios of one operation's figures (0 when
// the baseline figure is 0).
type Ratio struct {
	Throughput float64 `json:"throughput"`
	P50        float64 `json:"p50"`
	P99        float64 `json:"p99"`
}

func div(a, b float64) float64 {
	if b == 0 {
		return 0
	}
	return a / b
}

// Compare pairs the two results operation by operation.
func Compare(baseline, target *Result) *Comparison {
	c := &Comparison{Baseline: baseline, Target: target, Ratios: map[string]Ratio{}}
	for _, t := range target.Ops {
		if b := baseline.Op(t.Name); b != nil {
			c.Ratios[t.Name] = Ratio{Throughput: div(t.Throughput, b.Throughput),
				P50: div(t.P50Ms, b.P50Ms), P99: div(t.P99Ms, b.P99Ms)}
		}
	}
	return c
}

// WriteTable prints both results and the ratios.
func (c *Comparison) WriteTable(w io.Writer) error {
	fmt.Fprintln(w, "== baseline")
	if err := c.Baseline.WriteTable(w); err != nil {
		return err
	}
	fmt.Fprintln(w, "== target")
	if err := c.Target.WriteTable(w); err != nil {
		return err
	}
	fmt.Fprintln(w, "== target/baseline")
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "op\tops/s ratio\tp50 ratio\tp99 ratio\t")
	for _, name := range slices.Sorted(maps.Keys(c.Ratios)) {
		r := c.Ratios[name]
		fmt.Fprintf(tw, "%s\t%.3f\t%.2f\t%.2f\t\n", name, r.Throughput, r.P50, r.P99)
	}
	return tw.Flush()
}

// MarkdownHeader is the header of the rows WriteMarkdown prints.
const MarkdownHeader = "| scenario | op | ok | errors | ops/s | p50 ms | p99 ms | max ms | baseline ops/s | ratio | extra |\n" +
	"|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---|\n"

// WriteMarkdown prints one markdown table row per operation of target;
// baseline may be nil.
func WriteMarkdown(w io.Writer, target, baseline *Result) error {
	extra := gaugeText(target)
	for _, o := range target.Ops {
		bops, ratio := "-", "-"
		if baseline != nil {
			if b := baseline.Op(o.Name); b != nil {
				bops = fmt.Sprintf("%.0f", b.Throughput)
				ratio = fmt.Sprintf("%.3f", div(o.Throughput, b.Throughput))
			}
		}
		_, err := fmt.Fprintf(w, "| %s | %s | %d | %d | %.0f | %.3f | %.3f | %.3f | %s | %s | %s |\n",
			target.Scenario, o.Name, o.OK, o.Errors, o.Throughput, o.P50Ms, o.P99Ms, o.MaxMs, bops, ratio, extra)
		if err != nil {
			return err
		}
		extra = ""
	}
	return nil
}

func gaugeText(res *Result) string {
	var parts []string
	for _, k := range slices.Sorted(maps.Keys(res.Gauges)) {
		parts = append(parts, k+"="+fmtGauge(res.Gauges[k]))
	}
	parts = append(parts, res.Notes...)
	return strings.ReplaceAll(strings.Join(parts, "; "), "|", "/")
}

// WriteJSON prints v as indented JSON.
func WriteJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

// errorKind classifies an error for the per-kind tally.
func errorKind(err error) string {
	var se *StatusError
	switch {
	case errors.As(err, &se):
		return se.Kind()
	case errors.Is(err, ErrShortAnswer):
		return "short-answer"
	case errors.Is(err, ErrNotVisible):
		return "not-visible"
	case errors.Is(err, ErrConnBroken):
		return "conn-broken"
	default:
		return "transport"
	}
}
