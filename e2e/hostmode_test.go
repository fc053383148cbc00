package e2e

import (
	"fmt"
	"slices"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/distrod/distrod/internal/testutil"
)

// TestHostnameMode_ClusterOfNamedMembers runs three processes configured as
// Nacos's cluster-hostname example configures its containers: members
// listed by host name, PREFER_HOST_MODE=hostname, no NACOS_SERVER_IP. Each
// must advertise the listed name (here "localhost", on its own port), so
// the cluster has exactly the three listed members, all UP, and replicates.
func TestHostnameMode_ClusterOfNamedMembers(t *testing.T) {
	bin := testutil.BuildDistrod(t)
	nodes := make([]*node, 3)
	var servers []string
	for i := range nodes {
		nodes[i] = &node{port: testutil.PortBlock(t)}
		servers = append(servers, "localhost:"+strconv.Itoa(nodes[i].port))
	}
	for _, nd := range nodes {
		nd.proc = testutil.StartProcess(t, bin, nd.port, []string{
			"MODE=cluster",
			"PREFER_HOST_MODE=hostname",
			"HOSTNAME=localhost",
			"NACOS_SERVERS=" + strings.Join(servers, " "),
			"NACOS_APPLICATION_PORT=" + strconv.Itoa(nd.port),
			"DISTROD_PROBE_INTERVAL=200ms",
			"DISTROD_SNAPSHOT_LOAD_TIMEOUT=3s",
			"DISTROD_CLUSTER_SECRET=" + e2eSecret,
		})
	}
	want := slices.Clone(servers)
	sort.Strings(want)
	for _, nd := range nodes {
		waitReady(t, nd)
		waitMembersUp(t, nd, want, 20*time.Second)
	}
	testutil.Eventually(t, 10*time.Second, "register", func() error {
		return register(nodes[0], "hostmode.demo", "10.5.0.1", 80)
	})
	testutil.Eventually(t, 10*time.Second, "replicated to the last node", func() error {
		h, err := hosts(nodes[2], "hostmode.demo")
		if err != nil {
			return err
		}
		if !h["10.5.0.1:80"] {
			return fmt.Errorf("hosts %v", h)
		}
		return nil
	})
}

// waitMembersUp waits until nd's /distrod/status lists exactly want
// (sorted), every one UP.
func waitMembersUp(t *testing.T, nd *node, want []string, within time.Duration) {
	t.Helper()
	want = slices.Sorted(slices.Values(want))
	testutil.Eventually(t, within, fmt.Sprintf("%s lists %v UP", nd.addr(), want), func() error {
		ms, err := statusMembers(nd)
		if err != nil {
			return err
		}
		var got []string
		for a, st := range ms {
			if st != "UP" {
				return fmt.Errorf("member %s is %s", a, st)
			}
			got = append(got, a)
		}
		sort.Strings(got)
		if !slices.Equal(got, want) {
			return fmt.Errorf("members %v, want %v", got, want)
		}
		return nil
	})
}
