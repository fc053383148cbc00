package nacoshttp

import (
	"encoding/json"
	"math"
	"strconv"
	"strings"

	"github.com/distrod/distrod/internal/naming"
)

// jfloat is a float64 written the way Java's Double.toString writes it
// (1.0, 2.5, 1.0E7), because Nacos clients and golden outputs see Jackson's
// doubles.
type jfloat float64

// MarshalJSON implements json.Marshaler.
func (f jfloat) MarshalJSON() ([]byte, error) { return []byte(javaDouble(float64(f))), nil }

func javaDouble(f float64) string {
	switch {
	case math.IsNaN(f):
		return `"NaN"`
	case math.IsInf(f, 0):
		return `"Infinity"`
	case f == 0:
		return "0.0"
	}
	a := math.Abs(f)
	if a >= 1e-3 && a < 1e7 {
		s := strconv.FormatFloat(f, 'f', -1, 64)
		if !strings.ContainsRune(s, '.') {
			s += ".0"
		}
		return s
	}
	// Scientific: Go "1.5E+07" -> Java "1.5E7".
	s := strconv.FormatFloat(f, 'E', -1, 64)
	mant, exp, _ := strings.Cut(s, "E")
	if !strings.ContainsRune(mant, '.') {
		mant += ".0"
	}
	e, _ := strconv.Atoi(exp)
	return mant + "E" + strconv.Itoa(e)
}

// selectorJSON is a service selector; Nacos writes {"type":"none"} when no
// selector is set.
type selectorJSON struct {
	Type       string `json:"type"`
	Expression string `json:"expression,omitempty"`
}

func toSelectorJSON(s naming.Selector) selectorJSON {
	if s.Type == "" {
		return selectorJSON{Type: "none"}
	}
	return selectorJSON{Type: s.Type, Expression: s.Expression}
}

type healthCheckerJSON struct {
	Type string `json:"type"`
	// Raw, when set, is the whole checker an operator configured.
	Raw json.RawMessage `json:"-"`
}

// MarshalJSON writes the configured checker as given, else {"type":...}.
func (h healthCheckerJSON) MarshalJSON() ([]byte, error) {
	if len(h.Raw) > 0 {
		return h.Raw, nil
	}
	return json.Marshal(struct {
		Type string `json:"type"`
	}{h.Type})
}

type clusterJSON struct {
	Name          string            `json:"name"`
	HealthChecker healthCheckerJSON `json:"healthChecker"`
	Metadata      map[string]string `json:"metadata"`
}

func clustersJSON(names []string) []clusterJSON {
	out := make([]clusterJSON, 0, len(names))
	for _, n := range names {
		out = append(out, clusterJSON{Name: n, HealthChecker: healthCheckerJSON{Type: "TCP"}, Metadata: map[string]string{}})
	}
	return out
}

func nonNilMap(m map[string]string) map[string]string {
	if m == nil {
		return map[string]string{}
	}
	return m
}
