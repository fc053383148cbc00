package bench

import (
	"bufio"
	"context"
	"io"
	"strings"
	"testing"
	"time"
)

// TestConnsWorker_ConnectsRegistersAndReports drives one conns worker in
// process, as the scenario does through its stdin, against a baseline node:
// every connection is set up (from 127.0.0.x sources) and registers, and
// the worker answers one line per command.
func TestConnsWorker_ConnectsRegistersAndReports(t *testing.T) {
	b := startBaseline(t, 1, BaselineOptions{})
	inR, inW := io.Pipe()
	outR, outW := io.Pipe()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan int, 1)
	go func() {
		done <- mainConnsWorker(ctx, []string{"-target", b.Targets()[0], "-first", "998", "-n", "5", "-services", "2",
			"-timeout", "5s"}, inR, outW, io.Discard)
		outW.Close()
	}()
	out := bufio.NewReader(outR)
	read := func() string {
		t.Helper()
		line, err := out.ReadString('\n')
		if err != nil {
			t.Fatalf("worker output: %v", err)
		}
		return strings.TrimSpace(line)
	}
	if got := read(); got != "hello 5" {
		t.Fatalf("first line %q", got)
	}
	for _, c := range []struct{ cmd, want string }{
		{"connect", "connected 5 0 "},
		{"register", "registered 5 0 "},
		{"stats", "stats 0 0 0 "},
	} {
		io.WriteString(inW, c.cmd+"\n")
		if got := read(); !strings.HasPrefix(got, c.want) {
			t.Fatalf("%s: answer %q, want prefix %q", c.cmd, got, c.want)
		}
	}
	inW.Close()
	select {
	case code := <-done:
		if code != 0 {
			t.Fatalf("worker exit %d", code)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("worker did not end on stdin EOF")
	}
}

// TestConnsWorker_SourceAddressesStayUnderThePerIPCap: connections take
// 127.0.0.2, 127.0.0.3, ... connsPerIP at a time, over the whole run.
func TestConnsWorker_SourceAddressesStayUnderThePerIPCap(t *testing.T) {
	w := &connsClientSet{first: connsPerIP - 1}
	if a, b := w.sourceAddr(0).String(), w.sourceAddr(1).String(); a != "127.0.0.2" || b != "127.0.0.3" {
		t.Fatalf("sources %s, %s; want 127.0.0.2, 127.0.0.3", a, b)
	}
}
