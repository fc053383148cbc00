package bench

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"strconv"
	"strings"
	"time"
)

// ReadProcRSS returns a process's resident set size in bytes from the VmRSS
// line of /proc/<pid>/status.
func ReadProcRSS(pid int) (int64, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, err
	}
	return parseVmRSS(b)
}

func parseVmRSS(status []byte) (int64, error) {
	sc := bufio.NewScanner(bytes.NewReader(status))
	for sc.Scan() {
		line := sc.Text()
		if rest, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			f := strings.Fields(rest)
			if len(f) < 1 {
				break
			}
			kb, err := strconv.ParseInt(f[0], 10, 64)
			if err != nil {
				return 0, err
			}
			return kb << 10, nil
		}
	}
	return 0, fmt.Errorf("bench: no VmRSS line")
}

// ScrapeRSS reads process_resident_memory_bytes from a Prometheus text
// page at http://target/metrics.
func ScrapeRSS(ctx context.Context, target string) (int64, error) {
	ctx, cancel := context.WithTimeout(ctx, 3*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+target+"/metrics", nil)
	if err != nil {
		return 0, err
	}
	resp, err := (&http.Client{Transport: &http.Transport{Proxy: nil}}).Do(req)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return 0, fmt.Errorf("bench: %s/metrics: status %d", target, resp.StatusCode)
	}
	return parseMetricsRSS(resp.Body)
}

func parseMetricsRSS(r io.Reader) (int64, error) {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		rest, ok := strings.CutPrefix(line, "process_resident_memory_bytes")
		if !ok || (rest != "" && rest[0] != ' ' && rest[0] != '{') {
			continue
		}
		if rest != "" && rest[0] == '{' {
			end := strings.IndexByte(rest, '}')
			if end < 0 {
				break
			}
			rest = rest[end+1:]
		}
		f := strings.Fields(rest) // value [timestamp]
		if len(f) == 0 {
			break
		}
		v, err := strconv.ParseFloat(f[0], 64)
		if err != nil {
			return 0, err
		}
		return int64(v), nil
	}
	return 0, fmt.Errorf("bench: no process_resident_memory_bytes")
}

// readRSS returns node i's RSS (from -pids, else /metrics), or -1.
func readRSS(ctx context.Context, cfg Config, i int) int64 {
	if i < len(cfg.PIDs) {
		v, err := ReadProcRSS(cfg.PIDs[i])
		if err == nil {
			return v
		}
		return -1
	}
	v, err := ScrapeRSS(ctx, cfg.Targets[i])
	if err != nil {
		return -1
	}
	return v
}

func readAllRSS(ctx context.Context, cfg Config) []int64 {
	out := make([]int64, len(cfg.Targets))
	for i := range out {
		out[i] = readRSS(ctx, cfg, i)
	}
	return out
}
