package nacoshttp

import (
	"fmt"
	"math"
	"net/http"
	"strings"
	"testing"
)

// TestPage_MatchesNaiveOracle compares page with a loop over the items,
// including sizes whose product overflows.
func TestPage_MatchesNaiveOracle(t *testing.T) {
	vals := []int{math.MinInt, -1, 0, 1, 2, 3, 7, 1 << 31, math.MaxInt / 2, math.MaxInt - 1, math.MaxInt}
	for n := 0; n <= 9; n++ {
		for _, no := range vals {
			for _, size := range vals {
				from, to := page(n, no, size)
				// Oracle: item i is on page i/size+1.
				wantFrom, wantTo := n, n
				if size >= 1 {
					first := max(no, 1)
					for i := 0; i < n; i++ {
						if i/size+1 == first {
							wantFrom = min(wantFrom, i)
							if wantTo == n || i+1 > wantTo {
								wantTo = i + 1
							}
						}
					}
					if wantFrom == n {
						wantTo = n
					}
				} else {
					wantFrom, wantTo = 0, 0
				}
				if from != wantFrom || to != wantTo {
					t.Fatalf("page(%d, %d, %d) = %d,%d; want %d,%d", n, no, size, from, to, wantFrom, wantTo)
				}
			}
		}
	}
}

// TestPagedEndpoints_NeverPanicOnHugePages sends overflowing pageNo and
// pageSize to every paged endpoint; each must answer 200 with its usual
// shape (an earlier build panicked with a negative slice index).
func TestPagedEndpoints_NeverPanicOnHugePages(t *testing.T) {
	e := newEnv(t, nil)
	for i := 0; i < 3; i++ {
		if code, body := e.do(http.MethodPost, fmt.Sprintf("/nacos/v1/ns/instance?serviceName=s%d&ip=10.0.0.%d&port=80", i, i+1), ""); code != 200 {
			t.Fatalf("register: %d %s", code, body)
		}
	}
	paths := []string{
		"/nacos/v1/ns/service/list?",
		"/nacos/v2/ns/service/list?",
		"/nacos/v1/ns/catalog/services?",
		"/nacos/v1/ns/catalog/services?withInstances=true&",
		"/nacos/v1/ns/catalog/instances?serviceName=s0&",
		"/nacos/v2/ns/catalog/instances?serviceName=s0&",
	}
	pages := [][2]string{
		{"2", fmt.Sprint(math.MaxInt64)}, {fmt.Sprint(math.MaxInt64), "2"},
		{fmt.Sprint(math.MaxInt64), fmt.Sprint(math.MaxInt64)}, {"4611686018427387905", "2"},
		{"-5", "-5"}, {"1", "1"},
	}
	for _, p := range paths {
		for _, pg := range pages {
			code, body := e.do(http.MethodGet, p+"pageNo="+pg[0]+"&pageSize="+pg[1], "")
			if code != http.StatusOK || strings.Contains(body, "panic") {
				t.Fatalf("%s pageNo=%s pageSize=%s: %d %s", p, pg[0], pg[1], code, body)
			}
		}
	}
}
