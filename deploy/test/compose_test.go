package deploytest

import (
	"bufio"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"sigs.k8s.io/yaml"

	"github.com/distrod/distrod/internal/config"
)

type composeFile struct {
	Services map[string]struct {
		Image       string            `json:"image"`
		Hostname    string            `json:"hostname"`
		EnvFile     string            `json:"env_file"`
		Environment map[string]string `json:"environment"`
		Ports       []string          `json:"ports"`
		Volumes     []string          `json:"volumes"`
	} `json:"services"`
}

func readCompose(t *testing.T, name string) composeFile {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(repoRoot(), "deploy", "compose", name))
	if err != nil {
		t.Fatal(err)
	}
	var c composeFile
	if err := yaml.Unmarshal(b, &c); err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	return c
}

// readEnvFile parses a compose env file: KEY=VALUE lines, # comments.
func readEnvFile(t *testing.T, path string) map[string]string {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	env := map[string]string{}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		k, v, ok := strings.Cut(line, "=")
		if !ok {
			t.Fatalf("%s: bad line %q", path, line)
		}
		env[k] = v
	}
	return env
}

// TestCompose_ClusterMembersAgreeAndPrometheusScrapesThemAll loads each
// member's environment of cluster.yaml (as the container gets it: the
// env file, the environment block, HOSTNAME) with config.Load: the members
// must form one cluster, each advertising its own host name; the shipped
// env file example must not hold a usable secret; prometheus.yml must
// scrape every member on a path distrod serves.
func TestCompose_ClusterMembersAgreeAndPrometheusScrapesThemAll(t *testing.T) {
	c := readCompose(t, "cluster.yaml")
	dir := filepath.Join(repoRoot(), "deploy", "compose")
	example := readEnvFile(t, filepath.Join(dir, "cluster.env.example"))
	var members []string
	var targets []string
	for name, s := range c.Services {
		if !strings.HasPrefix(name, "distrod") {
			continue
		}
		if s.EnvFile != "cluster.env" || s.Hostname != name {
			t.Fatalf("%s: env_file %q hostname %q; want cluster.env and the service name", name, s.EnvFile, s.Hostname)
		}
		env := map[string]string{"HOSTNAME": s.Hostname}
		for k, v := range example {
			env[k] = v
		}
		for k, v := range s.Environment {
			env[k] = v
		}
		// The example as shipped: no secret, so cluster mode refuses.
		if _, err := config.Load(nil, func(k string) string { return env[k] }); !errors.Is(err, config.ErrClusterSecret) {
			t.Fatalf("%s with cluster.env.example as is: err %v, want ErrClusterSecret", name, err)
		}
		env["DISTROD_CLUSTER_SECRET"] = "a-secret-the-user-generated-0123456789"
		cfg, err := config.Load(nil, func(k string) string { return env[k] })
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if cfg.SelfAddr() != s.Hostname+":8848" || cfg.Mode != config.ModeCluster {
			t.Fatalf("%s advertises %s in mode %s", name, cfg.SelfAddr(), cfg.Mode)
		}
		if members == nil {
			members = cfg.Members
		} else if !slices.Equal(members, cfg.Members) {
			t.Fatalf("%s sees members %v, another member %v", name, cfg.Members, members)
		}
		targets = append(targets, cfg.SelfAddr())
		if len(s.Volumes) != 1 || !strings.HasSuffix(s.Volumes[0], ":/home/nacos/data") {
			t.Errorf("%s: volumes %v, want the data directory on a volume", name, s.Volumes)
		}
	}
	if len(members) != 3 {
		t.Fatalf("members %v, want 3", members)
	}

	var prom struct {
		ScrapeConfigs []struct {
			MetricsPath   string `json:"metrics_path"`
			StaticConfigs []struct {
				Targets []string `json:"targets"`
			} `json:"static_configs"`
		} `json:"scrape_configs"`
	}
	b, err := os.ReadFile(filepath.Join(dir, "prometheus.yml"))
	if err != nil {
		t.Fatal(err)
	}
	if err := yaml.UnmarshalStrict(b, &struct {
		Global        map[string]string `json:"global"`
		ScrapeConfigs any               `json:"scrape_configs"`
	}{}); err != nil {
		t.Fatalf("prometheus.yml: %v", err)
	}
	if err := yaml.Unmarshal(b, &prom); err != nil {
		t.Fatal(err)
	}
	var scraped []string
	for _, sc := range prom.ScrapeConfigs {
		if sc.MetricsPath != "/nacos/actuator/prometheus" && sc.MetricsPath != "/metrics" {
			t.Errorf("metrics_path %q is not served by distrod", sc.MetricsPath)
		}
		for _, st := range sc.StaticConfigs {
			scraped = append(scraped, st.Targets...)
		}
	}
	slices.Sort(scraped)
	slices.Sort(targets)
	if !slices.Equal(scraped, targets) || !slices.Equal(scraped, members) {
		t.Fatalf("prometheus scrapes %v; members are %v", scraped, members)
	}
}

func TestCompose_StandaloneLoads(t *testing.T) {
	c := readCompose(t, "standalone.yaml")
	s, ok := c.Services["distrod"]
	if !ok {
		t.Fatal("no distrod service")
	}
	env := map[string]string{"HOSTNAME": s.Hostname}
	for k, v := range s.Environment {
		env[k] = v
	}
	cfg, err := config.Load(nil, func(k string) string { return env[k] })
	if err != nil || cfg.Mode != config.ModeStandalone {
		t.Fatalf("standalone: %v %s", err, cfg.Mode)
	}
	if !slices.Contains(s.Ports, "8848:8848") || !slices.Contains(s.Ports, "9848:9848") {
		t.Fatalf("ports %v: want 8848 and 9848 published", s.Ports)
	}
}
