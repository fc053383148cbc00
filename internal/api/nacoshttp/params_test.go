package nacoshttp

import (
	"errors"
	"net/http"
	"net/url"
	"reflect"
	"strings"
	"testing"
	"time"
)

// TestParseParams_LinearOnAdversarialInput parses inputs on which the
// earlier parser rescanned the rest of the input at every '&' (1 MiB of
// '&' took it 12 s; these 4 MiB inputs would take it minutes). A linear
// parser finishes each in milliseconds; the deadline is generous.
func TestParseParams_LinearOnAdversarialInput(t *testing.T) {
	const size = 4 << 20
	inputs := map[string]string{
		"ampersands":        strings.Repeat("&", size),
		"keys without '='":  strings.Repeat("&a", size/2),
		"raw JSON, no keys": "beat={" + strings.Repeat("&x", size/2),
		"raw JSON, '=' far": "metadata=[" + strings.Repeat("&", size) + "=",
	}
	for name, in := range inputs {
		start := time.Now()
		p := params{}
		if err := parseParams(p, in, 1<<30); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if d := time.Since(start); d > 20*time.Second {
			t.Fatalf("%s: parsing %d bytes took %v", name, len(in), d)
		}
	}
}

func TestParseParams_CapsCountAndKeySize(t *testing.T) {
	p := params{}
	err := parseParams(p, strings.Repeat("a=1&", 11), 10)
	if !errors.Is(err, errTooManyParams) {
		t.Fatalf("11 pairs with max 10: err %v", err)
	}
	// Query and body share the budget.
	p = params{}
	if err := parseParams(p, "a=1&b=2", 3); err != nil {
		t.Fatal(err)
	}
	if err := parseParams(p, "c=3&d=4", 3); !errors.Is(err, errTooManyParams) {
		t.Fatalf("query+body over budget: err %v", err)
	}
	// Empty pairs cost nothing.
	p = params{}
	if err := parseParams(p, strings.Repeat("&", 1000)+"a=1", 1); err != nil || p.get("a") != "1" {
		t.Fatalf("empty pairs: %v %v", err, p)
	}
	if err := parseParams(params{}, strings.Repeat("k", maxKeyBytes+1)+"=v", 10); !errors.Is(err, errKeyTooLong) {
		t.Fatalf("long key: err %v", err)
	}
}

// TestHandler_TooManyParamsIs400 checks the answer a client sees.
func TestHandler_TooManyParamsIs400(t *testing.T) {
	e := newEnv(t, func(o *Options) { o.MaxParams = 5 })
	code, body := e.do(http.MethodPost, "/nacos/v1/ns/instance", strings.Repeat("x=1&", 6))
	if code != http.StatusBadRequest || !strings.Contains(body, "too many parameters") {
		t.Fatalf("v1: %d %s", code, body)
	}
	code, body = e.do(http.MethodGet, "/nacos/v2/ns/instance/list?"+strings.Repeat("x=1&", 6), "")
	if code != http.StatusBadRequest || !strings.Contains(body, `"code":20002`) {
		t.Fatalf("v2: %d %s", code, body)
	}
}

// FuzzParseParams checks that the parser never panics, honours its cap,
// and agrees with net/url on input that url.ParseQuery accepts and that
// holds no raw JSON.
func FuzzParseParams(f *testing.F) {
	for _, s := range []string{
		"", "&", "a=1&b=2", "a=%zz", "serviceName=a%40%40b&x=y+z",
		`beat={"ip":"1.2.3.4","metadata":{"q":"a&b=c"}}&serviceName=s`,
		"metadata=[&&&=", "instances=[{\"ip\":\"1\"}]&ip=2", "=v&k=", "a=1&a=2&&",
		strings.Repeat("&", 100), "beat={" + strings.Repeat("&x", 50),
	} {
		f.Add(s, 8)
	}
	f.Fuzz(func(t *testing.T, s string, max int) {
		max = max%64 + 1
		if max < 1 {
			max += 64
		}
		p := params{}
		err := parseParams(p, s, max)
		n := 0
		for _, v := range p {
			n += len(v)
		}
		if n > max {
			t.Fatalf("%d values with max %d", n, max)
		}
		if err != nil || strings.ContainsAny(s, "{[") {
			return
		}
		want, uerr := url.ParseQuery(s)
		if uerr != nil {
			return
		}
		if len(p) == 0 && len(want) == 0 {
			return
		}
		if !reflect.DeepEqual(map[string][]string(p), map[string][]string(want)) {
			t.Fatalf("parse %q: got %v, net/url %v", s, p, want)
		}
	})
}
