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
