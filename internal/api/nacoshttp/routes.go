package nacoshttp

import (
	"net/http"
)

const (
	get   = http.MethodGet
	post  = http.MethodPost
	put   = http.MethodPut
	del   = http.MethodDelete
	patch = http.MethodPatch
)

func ms(m ...string) []string { return m }

// registerV1 mounts /v1/ns/*.
func (s *server) registerV1() {
	r := func(path string, methods []string, api string, tag func(*call) (string, bool), fn func(*call) (any, error)) {
		s.handle("/v1/ns"+path, methods, endpoint{api: api, naming: true, tag: tag, fn: fn})
	}
	r("/instance", ms(post), "v1_instance_register", tagIPPort, (*call).register)
	r("/instance", ms(del), "v1_instance_deregister", tagIPPort, (*call).deregister)
	r("/instance", ms(put), "v1_instance_update", tagIPPort, (*call).update)
	r("/instance", ms(patch), "v1_instance_patch", tagIPPort, (*call).patch)
	r("/instance", ms(get), "v1_instance_detail", nil, (*call).detail)
	r("/instance/list", ms(get), "v1_instance_list", nil, (*call).list)
	r("/instance/beat", ms(put), "v1_instance_beat", tagIPPort, (*call).beat)
	r("/instance/statuses", ms(get, post, put), "v1_instance_statuses", nil, (*call).statuses)
	r("/instance/metadata/batch", ms(put), "v1_instance_metadata_update", tagBatch, func(c *call) (any, error) { return c.metadataBatch(false) })
	r("/instance/metadata/batch", ms(del), "v1_instance_metadata_delete", tagBatch, func(c *call) (any, error) { return c.metadataBatch(true) })

	r("/service", ms(post), "v1_service_create", tagService, (*call).createService)
	r("/service", ms(del), "v1_service_delete", tagService, (*call).deleteService)
	r("/service", ms(put), "v1_service_update", tagService, (*call).updateService)
	r("/service", ms(get), "v1_service_detail", nil, (*call).getService)
	r("/service/list", ms(get), "v1_service_list", nil, (*call).serviceList)
	r("/service/names", ms(get), "v1_service_names", nil, (*call).serviceNames)

	r("/catalog/services", ms(get), "v1_catalog_services", nil, (*call).catalogServices)
	r("/catalog/instances", ms(get), "v1_catalog_instances", nil, (*call).catalogInstances)
	r("/catalog/service", ms(get), "v1_catalog_service", nil, (*call).catalogService)

	// Operator endpoints stay available while the node is not ready: the
	// metrics status is how clients and operators see readiness.
	for _, base := range []string{"/operator", "/ops"} {
		o := func(path string, methods []string, api string, fn func(*call) (any, error)) {
			s.handle("/v1/ns"+base+path, methods, endpoint{api: api, fn: fn})
		}
		o("/metrics", ms(get), "v1_operator_metrics", (*call).metrics)
		o("/switches", ms(get), "v1_operator_switches", (*call).getSwitches)
		o("/switches", ms(put), "v1_operator_switches_update", (*call).putSwitch)
		o("/distro/client", ms(get), "v1_operator_distro_client", (*call).distroClient)
	}
}

// registerV2 mounts /v2/ns/* with the {code,message,data} envelope.
func (s *server) registerV2() {
	r := func(path string, methods []string, api string, tag func(*call) (string, bool), fn func(*call) (any, error)) {
		s.handle("/v2/ns"+path, methods, endpoint{api: api, v2: true, naming: true, tag: tag, fn: fn})
	}
	r("/instance", ms(post), "v2_instance_register", tagIPPort, (*call).register)
	r("/instance", ms(del), "v2_instance_deregister", tagIPPort, (*call).deregister)
	r("/instance", ms(put), "v2_instance_update", tagIPPort, (*call).update)
	r("/instance", ms(get), "v2_instance_detail", nil, (*call).detail)
	r("/instance/list", ms(get), "v2_instance_list", nil, (*call).list)
	s.handle("/v2/ns/instance/beat", ms(put), endpoint{api: "v2_instance_beat", v2: true, raw: true, naming: true, tag: tagIPPort, fn: (*call).beat})
	r("/instance/metadata/batch", ms(put), "v2_instance_metadata_update", tagBatch, func(c *call) (any, error) { return c.metadataBatch(false) })
	r("/instance/metadata/batch", ms(del), "v2_instance_metadata_delete", tagBatch, func(c *call) (any, error) { return c.metadataBatch(true) })

	r("/service", ms(post), "v2_service_create", tagService, (*call).createService)
	r("/service", ms(del), "v2_service_delete", tagService, (*call).deleteService)
	r("/service", ms(put), "v2_service_update", tagService, (*call).updateService)
	r("/service", ms(get), "v2_service_detail", nil, (*call).getService)
	r("/service/list", ms(get), "v2_service_list", nil, (*call).serviceList)

	r("/client/list", ms(get), "v2_client_list", nil, (*call).clientList)
	r("/client", ms(get), "v2_client_detail", nil, (*call).clientInfo)
	r("/catalog/instances", ms(get), "v2_catalog_instances", nil, (*call).catalogInstances)

	o := func(path string, methods []string, api string, fn func(*call) (any, error)) {
		s.handle("/v2/ns/operator"+path, methods, endpoint{api: api, v2: true, fn: fn})
	}
	o("/metrics", ms(get), "v2_operator_metrics", (*call).metrics)
	o("/switches", ms(get), "v2_operator_switches", (*call).getSwitches)
	o("/switches", ms(put), "v2_operator_switches_update", (*call).putSwitch)
}

// registerConsole mounts the console health probes.
func (s *server) registerConsole() {
	s.handle("/v1/console/health/liveness", ms(get), endpoint{api: "console_liveness", fn: func(*call) (any, error) {
		return text("OK"), nil
	}})
	s.handle("/v1/console/health/readiness", ms(get), endpoint{api: "console_readiness", fn: func(c *call) (any, error) {
		if c.s.o.Ready != nil && !c.s.o.Ready() {
			return nil, newErr(http.StatusServiceUnavailable, codeServerError, "server is not ready: snapshot load has not finished")
		}
		return text("OK"), nil
	}})
}
