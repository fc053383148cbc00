package bench

import (
	"bytes"
	"context"
	"encoding/json"
	"strings"
	"testing"
)

func TestMain_CompareWritesRatios(t *testing.T) {
	b := startBaseline(t, 1, BaselineOptions{})
	var out, errOut bytes.Buffer
	code := Main(context.Background(), []string{"-scenario", "register", "-targets", b.Targets()[0],
		"-clients", "2", "-duration", "200ms", "-services", "3", "-compare", "-json"}, &out, &errOut)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut.String())
	}
	var c Comparison
	if err := json.Unmarshal(out.Bytes(), &c); err != nil {
		t.Fatalf("%v in %s", err, out.String())
	}
	r, ok := c.Ratios[OpRegister]
	if !ok || r.Throughput <= 0 || c.Baseline.Op(OpRegister).OK == 0 || c.Target.Op(OpRegister).OK == 0 {
		t.Fatalf("comparison %+v", c)
	}
}

func TestMain_MarkdownRowsAndExitCodes(t *testing.T) {
	b := startBaseline(t, 1, BaselineOptions{})
	var out, errOut bytes.Buffer
	code := Main(context.Background(), []string{"-scenario", "beat", "-targets", b.Targets()[0],
		"-clients", "2", "-duration", "200ms", "-instances", "4", "-format", "md", "-md-header"}, &out, &errOut)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut.String())
	}
	if !strings.HasPrefix(out.String(), "| scenario |") || !strings.Contains(out.String(), "| beat | beat |") {
		t.Fatalf("markdown:\n%s", out.String())
	}
	out.Reset()
	if code := Main(context.Background(), []string{"-scenario", "heal", "-targets", b.Targets()[0]}, &out, &errOut); code != 3 {
		t.Fatalf("heal: exit %d, want 3 (needs a cluster)", code)
	}
	if !strings.Contains(errOut.String(), "needs a distrod cluster") {
		t.Fatalf("stderr %q", errOut.String())
	}
}
