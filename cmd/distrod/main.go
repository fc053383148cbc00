// Command distrod runs one node of the distrod service registry.
//
// With no configuration it starts a standalone node: HTTP open API on 8848
// under /nacos, Nacos gRPC on 9848. See README.md for cluster mode.
//
// Two subcommands talk to a running node over HTTP (internal/ctl):
// `distrod health` probes readiness and exits 0 or 1 (the container
// image's HEALTHCHECK), `distrod ctl` is the operator CLI.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"github.com/distrod/distrod/internal/config"
	"github.com/distrod/distrod/internal/ctl"
	"github.com/distrod/distrod/internal/server"
)

func main() {
	if len(os.Args) > 1 {
		switch os.Args[1] {
		case "health":
			os.Exit(ctl.Health(os.Args[2:], os.Getenv, os.Stdout, os.Stderr))
		case "ctl":
			os.Exit(ctl.Main(os.Args[2:], os.Getenv, os.Stdout, os.Stderr))
		}
	}
	cfg, err := config.Load(os.Args[1:], os.Getenv)
	if errors.Is(err, flag.ErrHelp) {
		config.PrintUsage(os.Stdout)
		return
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "distrod:", err)
		os.Exit(2)
	}
	log := server.NewLogger(os.Stderr, cfg)
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	srv, err := server.New(cfg, log)
	if err != nil {
		log.Error("cannot start", "err", err)
		os.Exit(1)
	}
	if err := srv.Run(ctx); err != nil {
		log.Error("stopped with error", "err", err)
		os.Exit(1)
	}
}
