package server

import (
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/distrod/distrod/internal/config"
	"github.com/distrod/distrod/internal/testutil"
)

// TestControl_InstanceEditsAreOverridesKeptAcrossReRegister: on a
// standalone node, PUT /instance sets an override merged over the
// registered metadata (a PUT without metadata keeps it), the next
// re-register does not undo it, PATCH and the metadata batch merge into
// it, and v2 PUT behaves as v1.
func TestControl_InstanceEditsAreOverridesKeptAcrossReRegister(t *testing.T) {
	base, _ := startStandalone(t)
	inst := base + "/nacos/v1/ns/instance?serviceName=s&ip=10.0.0.1&port=80"
	detail := func() string {
		t.Helper()
		code, b := body(t, "GET", inst)
		if code != 200 {
			t.Fatalf("detail: %d %s", code, b)
		}
		return b
	}
	want := func(what string, subs ...string) {
		t.Helper()
		b := detail()
		for _, s := range subs {
			if !strings.Contains(b, s) {
				t.Fatalf("%s: %s lacks %s", what, b, s)
			}
		}
	}
	if code, b := body(t, "POST", inst+"&metadata="+url.QueryEscape(`{"zone":"a"}`)); code != 200 {
		t.Fatalf("register: %d %s", code, b)
	}
	if code, b := body(t, "PUT", inst+"&weight=3"); code != 200 || b != "ok" {
		t.Fatalf("PUT: %d %s", code, b)
	}
	want("PUT without metadata", `"weight":3.0`, `"zone":"a"`)
	if code, b := body(t, "POST", inst+"&metadata="+url.QueryEscape(`{"zone":"b"}`)); code != 200 {
		t.Fatalf("re-register: %d %s", code, b)
	}
	want("re-register", `"weight":3.0`, `"zone":"b"`)
	if code, b := body(t, "PATCH", inst+"&metadata="+url.QueryEscape(`{"owner":"ops"}`)); code != 200 {
		t.Fatalf("PATCH: %d %s", code, b)
	}
	want("PATCH", `"weight":3.0`, `"owner":"ops"`, `"zone":"b"`)
	batch := base + "/nacos/v1/ns/instance/metadata/batch?serviceName=s&metadata=" + url.QueryEscape(`{"rack":"r1"}`)
	if code, b := body(t, "PUT", batch); code != 200 || !strings.Contains(b, "10.0.0.1:80") {
		t.Fatalf("batch: %d %s", code, b)
	}
	want("batch", `"rack":"r1"`, `"owner":"ops"`)
	v2 := base + "/nacos/v2/ns/instance?serviceName=s&ip=10.0.0.1&port=80&weight=5"
	if code, b := body(t, "PUT", v2); code != 200 || !strings.Contains(b, `"data":"ok"`) {
		t.Fatalf("v2 PUT: %d %s", code, b)
	}
	want("v2 PUT", `"weight":5.0`, `"zone":"b"`)
	if code, b := body(t, "PUT", base+"/nacos/v1/ns/instance?serviceName=s&ip=10.0.0.9&port=80"); code == 200 {
		t.Fatalf("PUT of an unknown instance: %d %s", code, b)
	}
}

// TestControl_NamespaceWithServicesIsNotDeleted: a namespace that holds
// services cannot be deleted; once empty it can.
func TestControl_NamespaceWithServicesIsNotDeleted(t *testing.T) {
	base, _ := startStandalone(t)
	if code, b := body(t, "POST", base+"/nacos/v2/console/namespace?namespaceId=team&namespaceName=Team"); code != 200 || !strings.Contains(b, `"data":true`) {
		t.Fatalf("create: %d %s", code, b)
	}
	if code, b := body(t, "POST", base+"/nacos/v2/console/namespace?namespaceId=team&namespaceName=Team"); code != 400 || !strings.Contains(b, "22000") {
		t.Fatalf("duplicate create: %d %s", code, b)
	}
	reg := base + "/nacos/v1/ns/instance?namespaceId=team&serviceName=s&ip=10.0.0.1&port=80"
	if code, b := body(t, "POST", reg); code != 200 {
		t.Fatalf("register: %d %s", code, b)
	}
	if code, b := body(t, "DELETE", base+"/nacos/v2/console/namespace?namespaceId=team"); code != 400 || !strings.Contains(b, "holds 1 service(s)") {
		t.Fatalf("delete of a namespace with a service: %d %s", code, b)
	}
	if code, b := body(t, "DELETE", reg); code != 200 {
		t.Fatalf("deregister: %d %s", code, b)
	}
	if code, b := body(t, "DELETE", base+"/nacos/v1/console/namespaces?namespaceId=team"); code != 200 || b != "true" {
		t.Fatalf("delete of an empty namespace: %d %s", code, b)
	}
	if code, b := body(t, "GET", base+"/nacos/v1/console/namespaces"); code != 200 || strings.Contains(b, `"team"`) {
		t.Fatalf("list after delete: %d %s", code, b)
	}
}

// TestControl_ClusterSettingsShowInServiceDetail: PUT /v1/ns/cluster keeps
// a cluster's checker and metadata, which the v1 and v2 service details
// show; an unknown service is refused.
func TestControl_ClusterSettingsShowInServiceDetail(t *testing.T) {
	base, _ := startStandalone(t)
	if code, b := body(t, "POST", base+"/nacos/v1/ns/service?serviceName=s"); code != 200 {
		t.Fatalf("create service: %d %s", code, b)
	}
	q := url.Values{"serviceName": {"s"}, "clusterName": {"c1"}, "checkPort": {"81"}, "useInstancePort4Check": {"false"},
		"healthChecker": {`{"type":"HTTP","path":"/health","headers":"","expectedResponseCode":200}`}, "metadata": {"dc=east"}}
	if code, b := body(t, "PUT", base+"/nacos/v1/ns/cluster?"+q.Encode()); code != 200 || b != "ok" {
		t.Fatalf("PUT cluster: %d %s", code, b)
	}
	code, b := body(t, "GET", base+"/nacos/v1/ns/service?serviceName=s")
	if code != 200 || !strings.Contains(b, `"name":"c1"`) || !strings.Contains(b, `"path":"/health"`) || !strings.Contains(b, `"dc":"east"`) {
		t.Fatalf("v1 service detail: %d %s", code, b)
	}
	code, b = body(t, "GET", base+"/nacos/v2/ns/service?serviceName=s")
	if code != 200 || !strings.Contains(b, `"c1":{"clusterName":"c1"`) {
		t.Fatalf("v2 service detail: %d %s", code, b)
	}
	q.Set("serviceName", "nope")
	if code, b := body(t, "PUT", base+"/nacos/v1/ns/cluster?"+q.Encode()); code == 200 {
		t.Fatalf("PUT cluster of an unknown service: %d %s", code, b)
	}
}

// TestControl_EmptyServicesAreCleanedUp: an explicitly created service
// without instances is removed after empty-service-clean-after, one with
// an instance stays.
func TestControl_EmptyServicesAreCleanedUp(t *testing.T) {
	cfg := config.DefaultLocalConfig()
	cfg.Port = testutil.PortBlock(t)
	cfg.EmptyServiceCleanAfter = 300 * time.Millisecond
	_, base, _ := startServer(t, cfg, slog.New(slog.DiscardHandler))
	for _, svc := range []string{"empty", "used"} {
		if code, b := body(t, "POST", base+"/nacos/v1/ns/service?serviceName="+svc); code != 200 {
			t.Fatalf("create %s: %d %s", svc, code, b)
		}
	}
	if code, b := body(t, "POST", base+"/nacos/v1/ns/instance?serviceName=used&ip=10.0.0.1&port=80"); code != 200 {
		t.Fatalf("register: %d %s", code, b)
	}
	testutil.Eventually(t, 10*time.Second, "empty service removed", func() error {
		if code, _ := body(t, "GET", base+"/nacos/v1/ns/service?serviceName=empty"); code == 200 {
			return errors.New("still there")
		}
		return nil
	})
	if code, b := body(t, "GET", base+"/nacos/v1/ns/service?serviceName=used"); code != 200 {
		t.Fatalf("service with an instance removed: %d %s", code, b)
	}
}

// TestControl_OverridesOfDepartedInstancesExpire: the override of an
// instance that deregistered is removed after expired-metadata-clean-after.
func TestControl_OverridesOfDepartedInstancesExpire(t *testing.T) {
	cfg := config.DefaultLocalConfig()
	cfg.Port = testutil.PortBlock(t)
	cfg.ExpiredMetadataCleanAfter = 300 * time.Millisecond
	srv, base, _ := startServer(t, cfg, slog.New(slog.DiscardHandler))
	inst := base + "/nacos/v1/ns/instance?serviceName=s&ip=10.0.0.1&port=80"
	if code, b := body(t, "POST", inst); code != 200 {
		t.Fatalf("register: %d %s", code, b)
	}
	if code, b := body(t, "PUT", inst+"&weight=2"); code != 200 {
		t.Fatalf("PUT: %d %s", code, b)
	}
	if n := len(srv.ctl.fsm.OverrideKeys()); n != 1 {
		t.Fatalf("%d overrides, want 1", n)
	}
	if code, b := body(t, "DELETE", inst); code != 200 {
		t.Fatalf("deregister: %d %s", code, b)
	}
	testutil.Eventually(t, 10*time.Second, "override removed", func() error {
		if n := len(srv.ctl.fsm.OverrideKeys()); n != 0 {
			return fmt.Errorf("%d overrides left", n)
		}
		return nil
	})
}

// TestControl_ManualHealthOfPersistentInstances walks the operator's
// health endpoints (v1 /health, /health/instance, v2 /health/instance)
// against testdata/health.golden: a persistent instance in a cluster whose
// checker is NONE takes the health set, through the control plane; a
// cluster with another checker or no settings is refused as Nacos does;
// an address without a persistent instance there (an ephemeral one
// included) is answered ok and left as it is.
func TestControl_ManualHealthOfPersistentInstances(t *testing.T) {
	cfg := config.DefaultLocalConfig()
	cfg.Port = testutil.PortBlock(t)
	_, base, _ := startServer(t, cfg, slog.New(slog.DiscardHandler))
	cluster := func(name, checker string) string {
		q := url.Values{"serviceName": {"s"}, "clusterName": {name}, "checkPort": {"80"}, "useInstancePort4Check": {"true"}, "healthChecker": {checker}}
		return "/nacos/v1/ns/cluster?" + q.Encode()
	}
	const inst = "/nacos/v1/ns/instance?serviceName=s&port=80"
	steps := []coreStep{
		{"cluster of an unknown service", "PUT", cluster("c1", `{"type":"NONE"}`), ""},
		{"create the service", "POST", "/nacos/v1/ns/service?serviceName=s", ""},
		{"cluster c1 without a checker", "PUT", cluster("c1", `{"type":"NONE"}`), ""},
		{"cluster c2 checked over TCP", "PUT", cluster("c2", `{"type":"TCP"}`), ""},
		{"persistent instance in c1", "POST", inst + "&ip=10.0.0.1&clusterName=c1&ephemeral=false", ""},
		{"persistent instance in c2", "POST", inst + "&ip=10.0.0.2&clusterName=c2&ephemeral=false", ""},
		{"ephemeral instance in c1", "POST", inst + "&ip=10.0.0.3&clusterName=c1", ""},
		{"v1 set unhealthy in c1", "PUT", "/nacos/v1/ns/health/instance", "serviceName=s&ip=10.0.0.1&port=80&clusterName=c1&healthy=false"},
		{"the instance is unhealthy", "GET", inst + "&ip=10.0.0.1&clusterName=c1", ""},
		{"v2 set healthy in c1", "PUT", "/nacos/v2/ns/health/instance", "serviceName=s&groupName=DEFAULT_GROUP&ip=10.0.0.1&port=80&clusterName=c1&healthy=true"},
		{"the instance is healthy again", "GET", inst + "&ip=10.0.0.1&clusterName=c1", ""},
		{"v1 /health with the valid alias", "PUT", "/nacos/v1/ns/health", "serviceName=DEFAULT_GROUP@@s&ip=10.0.0.1&port=80&clusterName=c1&valid=false"},
		{"valid=false took effect", "GET", inst + "&ip=10.0.0.1&clusterName=c1", ""},
		{"v1 in a TCP-checked cluster is refused", "PUT", "/nacos/v1/ns/health/instance", "serviceName=s&ip=10.0.0.2&port=80&clusterName=c2&healthy=false"},
		{"v2 in a TCP-checked cluster is refused", "PUT", "/nacos/v2/ns/health/instance", "serviceName=s&ip=10.0.0.2&port=80&clusterName=c2&healthy=false"},
		{"v1 in a cluster without settings is refused", "PUT", "/nacos/v1/ns/health", "serviceName=s&ip=10.0.0.1&port=80&healthy=false"},
		{"v1 of an ephemeral instance in c1 is ok and changes nothing", "PUT", "/nacos/v1/ns/health/instance", "serviceName=s&ip=10.0.0.3&port=80&clusterName=c1&healthy=false"},
		{"the ephemeral instance is still healthy", "GET", inst + "&ip=10.0.0.3&clusterName=c1", ""},
		{"v1 of an unknown address is ok", "PUT", "/nacos/v1/ns/health/instance", "serviceName=s&ip=10.0.0.9&port=80&clusterName=c1&healthy=false"},
		{"v1 missing healthy", "PUT", "/nacos/v1/ns/health/instance", "serviceName=s&ip=10.0.0.1&port=80&clusterName=c1"},
		{"v2 missing healthy (valid is v1 only)", "PUT", "/nacos/v2/ns/health/instance", "serviceName=s&ip=10.0.0.1&port=80&clusterName=c1&valid=true"},
		{"v2 service detail of a service with persistent instances", "GET", "/nacos/v2/ns/service?serviceName=s", ""},
		{"metadata batch of the persistent instances", "PUT", "/nacos/v1/ns/instance/metadata/batch", "serviceName=s&consistencyType=persist&metadata=rack%3Dr1"},
		{"metadata batch of the ephemeral instances", "PUT", "/nacos/v1/ns/instance/metadata/batch", "serviceName=s&metadata=rack%3Dr2"},
		{"the persistent instance has its metadata", "GET", inst + "&ip=10.0.0.1&clusterName=c1", ""},
		{"the ephemeral instance has its own", "GET", inst + "&ip=10.0.0.3&clusterName=c1", ""},
		{"deregister the persistent instance of c2 without naming its cluster", "DELETE", inst + "&ip=10.0.0.2", ""},
		{"the instance is gone", "GET", inst + "&ip=10.0.0.2&clusterName=c2", ""},
		{"v2 missing ip", "PUT", "/nacos/v2/ns/health/instance", "serviceName=s&port=80&clusterName=c1&healthy=true"},
	}
	walkGolden(t, base, cfg.Port, steps, "health.golden")
}
