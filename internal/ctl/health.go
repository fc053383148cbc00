package ctl

import (
	"context"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"time"
)

// Health runs `distrod health`: it probes the readiness endpoint (or, with
// -live, liveness) of the node at -addr (default 127.0.0.1 and the port of
// the environment) and returns the exit status: 0 healthy, 1 not, 2 for a
// usage error.
func Health(args []string, getenv func(string) string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("distrod health", flag.ContinueOnError)
	fs.SetOutput(stderr)
	port := firstNonEmpty(getenv("DISTROD_PORT"), getenv("NACOS_APPLICATION_PORT"), "8848")
	ctxPath := firstNonEmpty(getenv("DISTROD_CONTEXT_PATH"), getenv("SERVER_SERVLET_CONTEXTPATH"), "/nacos")
	addr := fs.String("addr", net.JoinHostPort("127.0.0.1", port), "node's HTTP address host:port")
	live := fs.Bool("live", false, "probe liveness instead of readiness")
	timeout := fs.Duration("timeout", 3*time.Second, "give up after this long")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	path := "/v1/console/health/readiness"
	if *live {
		path = "/v1/console/health/liveness"
	}
	url := "http://" + *addr + ctxPath + path
	ctx, cancel := context.WithTimeout(context.Background(), *timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		fmt.Fprintln(stderr, "distrod health:", err)
		return 2
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		fmt.Fprintln(stderr, "distrod health:", err)
		return 1
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
	if resp.StatusCode != http.StatusOK {
		fmt.Fprintf(stderr, "distrod health: %s: %s %s\n", url, resp.Status, body)
		return 1
	}
	fmt.Fprintf(stdout, "%s\n", body)
	return 0
}

func firstNonEmpty(vs ...string) string {
	for _, v := range vs {
		if v != "" {
			return v
		}
	}
	return ""
}
