// Command distrod-bench is distrod's load generator and limit baseline
// server; the logic lives in internal/bench. Run `distrod-bench list` for
// the scenarios and `distrod-bench -h` for the flags.
package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"

	"github.com/distrod/distrod/internal/bench"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := bench.Main(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}
