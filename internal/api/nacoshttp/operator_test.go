package nacoshttp

import (
	"fmt"
	"net/http"
	"strings"
	"testing"
)

// TestPutSwitch_EnforcesFloorsAndCeilings: clientBeatInterval=1 would make
// every v1 client beat about a thousand times a second.
func TestPutSwitch_EnforcesFloorsAndCeilings(t *testing.T) {
	e := newEnv(t, nil)
	for entry, b := range switchBounds {
		for _, v := range []int64{1, b[0] - 1, b[1] + 1, 1 << 40} {
			for _, base := range []string{"/nacos/v1/ns/operator", "/nacos/v2/ns/operator"} {
				code, body := e.do(http.MethodPut, fmt.Sprintf("%s/switches?entry=%s&value=%d", base, entry, v), "")
				if code != http.StatusBadRequest || !strings.Contains(body, fmt.Sprintf("must be between %d and %d", b[0], b[1])) {
					t.Errorf("%s %s=%d: %d %s", base, entry, v, code, body)
				}
			}
		}
		for _, v := range []int64{b[0], b[1]} {
			if code, body := e.do(http.MethodPut, fmt.Sprintf("/nacos/v1/ns/operator/switches?entry=%s&value=%d", entry, v), ""); code != http.StatusOK {
				t.Errorf("%s=%d: %d %s", entry, v, code, body)
			}
		}
	}
	_, body := e.do(http.MethodGet, "/nacos/v1/ns/operator/switches", "")
	if !strings.Contains(body, fmt.Sprintf(`"clientBeatInterval":%d`, MaxClientBeatIntervalMs)) {
		t.Fatalf("switches after updates: %s", body)
	}
}
