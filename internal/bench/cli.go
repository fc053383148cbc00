package bench

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
)

// Output formats of the CLI.
const (
	FormatTable = "table"
	FormatJSON  = "json"
	FormatMD    = "md"
)

// Main is the distrod-bench command line; it returns the exit status.
//
//	distrod-bench -scenario NAME -targets host:port[,...] [flags]
//	distrod-bench baseline -listen 127.0.0.1:PORT[,...]
//	distrod-bench list
//
// ctx ends a baseline server (the caller wires it to SIGINT/SIGTERM).
func Main(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	if len(args) > 0 {
		switch args[0] {
		case "baseline":
			return mainBaseline(ctx, args[1:], stdout, stderr)
		case connsWorkerCmd:
			return mainConnsWorker(ctx, args[1:], os.Stdin, stdout, stderr)
		case "list":
			for _, s := range Scenarios() {
				fmt.Fprintf(stdout, "%-12s %s\n", s.Name, s.Summary)
			}
			return 0
		}
	}
	fs := flag.NewFlagSet("distrod-bench", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var (
		scenario  = fs.String("scenario", "", "scenario to run (see `distrod-bench list`)")
		targets   = fs.String("targets", "127.0.0.1:8848", "comma-separated host:httpPort of the nodes (gRPC = port+1000); the first is node A")
		clients   = fs.Int("clients", 0, "simulated clients, one connection and goroutine each (default 16; cprestart 64)")
		duration  = fs.Duration("duration", 0, "measured phase length (default 10s; storm 50s; cpwrite 5s per phase)")
		rate      = fs.Float64("rate", 0, "total ops/s over all clients, 0 = max (replication default 5000, push 1000, storm 200)")
		instances = fs.Int("instances", 0, "instances per service (query 10, scale 10, cprestart 1000) or preloaded instances (beat 1000, storm 10000)")
		services  = fs.Int("services", 0, "services to spread over (register 1000, beat 100, replication/push 100, scale 1000, storm 100, cprestart 100)")
		namespace = fs.String("namespace", "", "namespace id (empty = public)")
		pids      = fs.String("pids", "", "comma-separated node PIDs, one per target, for RSS from /proc (scale, storm) and restarts (join, cprestart)")
		timeout   = fs.Duration("timeout", 0, "per-request timeout (default 10s)")
		settle    = fs.Duration("settle", 0, "how long to wait for stragglers / visibility (default 10s)")
		jsonOut   = fs.Bool("json", false, "print JSON (same as -format json)")
		format    = fs.String("format", FormatTable, "output: table, json or md (markdown rows)")
		mdHeader  = fs.Bool("md-header", false, "with -format md, print the table header first")
		baseline  = fs.String("baseline", "", "also run against these baseline targets (host:port,...) and print target/baseline ratios; \"self\" starts an in-process baseline with one node per target")
		compare   = fs.Bool("compare", false, "same as -baseline self")
	)
	fs.Usage = func() {
		fmt.Fprintf(stderr, "usage:\n  distrod-bench -scenario NAME -targets host:port[,...] [flags]\n  distrod-bench baseline -listen 127.0.0.1:PORT[,...]\n  distrod-bench list\n\nflags:\n")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if *jsonOut {
		*format = FormatJSON
	}
	if *scenario == "" {
		fmt.Fprintln(stderr, "distrod-bench: -scenario is required; scenarios:")
		for _, s := range Scenarios() {
			fmt.Fprintf(stderr, "  %-12s %s\n", s.Name, s.Summary)
		}
		return 2
	}
	if *format != FormatTable && *format != FormatJSON && *format != FormatMD {
		fmt.Fprintf(stderr, "distrod-bench: unknown -format %q\n", *format)
		return 2
	}
	cfg := Config{Targets: splitList(*targets), Clients: *clients, Duration: *duration, Rate: *rate,
		Instances: *instances, Services: *services, Namespace: *namespace, Timeout: *timeout, Settle: *settle}
	for _, p := range splitList(*pids) {
		n, err := strconv.Atoi(p)
		if err != nil {
			fmt.Fprintf(stderr, "distrod-bench: bad pid %q\n", p)
			return 2
		}
		cfg.PIDs = append(cfg.PIDs, n)
	}
	if *compare && *baseline == "" {
		*baseline = "self"
	}

	var base *Result
	if *baseline != "" {
		bcfg := cfg
		bcfg.PIDs = nil
		if *baseline == "self" {
			listens := make([]string, len(cfg.Targets))
			for i := range listens {
				listens[i] = "127.0.0.1:0"
			}
			b, err := StartBaseline(listens, BaselineOptions{})
			if err != nil {
				fmt.Fprintf(stderr, "distrod-bench: %v\n", err)
				return 1
			}
			defer b.Close()
			bcfg.Targets = b.Targets()
		} else {
			bcfg.Targets = splitList(*baseline)
		}
		var err error
		if base, err = Run(ctx, *scenario, bcfg); err != nil {
			return fail(stderr, err)
		}
	}
	res, err := Run(ctx, *scenario, cfg)
	if err != nil {
		return fail(stderr, err)
	}
	switch *format {
	case FormatJSON:
		if base != nil {
			err = WriteJSON(stdout, Compare(base, res))
		} else {
			err = WriteJSON(stdout, res)
		}
	case FormatMD:
		if *mdHeader {
			io.WriteString(stdout, MarkdownHeader)
		}
		err = WriteMarkdown(stdout, res, base)
	default:
		if base != nil {
			err = Compare(base, res).WriteTable(stdout)
		} else {
			err = res.WriteTable(stdout)
		}
	}
	if err != nil {
		return fail(stderr, err)
	}
	return 0
}

func fail(stderr io.Writer, err error) int {
	fmt.Fprintf(stderr, "distrod-bench: %v\n", err)
	if errors.Is(err, ErrNeedsCluster) {
		return 3
	}
	return 1
}

func mainBaseline(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("distrod-bench baseline", flag.ContinueOnError)
	fs.SetOutput(stderr)
	listen := fs.String("listen", "127.0.0.1:18848", "comma-separated host:httpPort per baseline node (gRPC = port+1000); nodes of one process share pushes")
	failEvery := fs.Int("fail-every", 0, "fail every Nth request (testing the error accounting)")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	b, err := StartBaseline(splitList(*listen), BaselineOptions{FailEvery: *failEvery})
	if err != nil {
		fmt.Fprintf(stderr, "distrod-bench baseline: %v\n", err)
		return 1
	}
	defer b.Close()
	for _, t := range b.Targets() {
		g, _ := GRPCAddr(t)
		fmt.Fprintf(stdout, "baseline node http=%s grpc=%s\n", t, g)
	}
	<-ctx.Done()
	g, h := b.Requests()
	fmt.Fprintf(stdout, "baseline stopped after %d gRPC and %d HTTP requests\n", g, h)
	return 0
}

func splitList(s string) []string {
	var out []string
	for _, p := range strings.Split(s, ",") {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out
}
