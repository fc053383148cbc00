package nacoshttp

import "testing"

// TestV2_GoldenWalkThrough exercises every v2 endpoint and compares the
// exact answers with testdata/v2.golden.
func TestV2_GoldenWalkThrough(t *testing.T) {
	e := newEnv(t, nil)
	runScript(t, e, "v2", []step{
		{Name: "register", Method: "POST", Path: v2 + "/instance", Body: "serviceName=orders&groupName=shop&ip=10.0.1.1&port=9000&weight=2&metadata=%7B%22v%22%3A%221%22%7D"},
		{Name: "register second, cluster c2", Method: "POST", Path: v2 + "/instance", Body: "serviceName=orders&groupName=shop&ip=10.0.1.2&port=9000&clusterName=c2"},
		{Name: "register disabled", Method: "POST", Path: v2 + "/instance", Body: "serviceName=orders&groupName=shop&ip=10.0.1.3&port=9000&enabled=false"},
		{Name: "detail", Method: "GET", Path: v2 + "/instance?serviceName=orders&groupName=shop&ip=10.0.1.1&port=9000"},
		{Name: "list", Method: "GET", Path: v2 + "/instance/list?serviceName=orders&groupName=shop"},
		{Name: "list clusterName filter", Method: "GET", Path: v2 + "/instance/list?serviceName=orders&groupName=shop&clusterName=c2"},
		{Name: "beat is un-enveloped", Method: "PUT", Path: v2 + "/instance/beat", Body: "serviceName=orders&groupName=shop&ip=10.0.1.1&port=9000"},
		{Name: "beat unknown", Method: "PUT", Path: v2 + "/instance/beat", Body: "serviceName=orders&groupName=shop&ip=10.0.9.9&port=9000"},
		{Name: "update", Method: "PUT", Path: v2 + "/instance", Body: "serviceName=orders&groupName=shop&ip=10.0.1.1&port=9000&weight=4&metadata=%7B%22v%22%3A%222%22%7D"},
		{Name: "metadata batch update (all instances)", Method: "PUT", Path: v2 + "/instance/metadata/batch", Body: "serviceName=orders&groupName=shop&metadata=%7B%22zone%22%3A%22a%22%7D"},
		{Name: "metadata batch delete", Method: "DELETE", Path: v2 + "/instance/metadata/batch?serviceName=orders&groupName=shop&metadata=%7B%22zone%22%3A%22%22%7D&instances=%5B%7B%22ip%22%3A%2210.0.1.2%22%2C%22port%22%3A9000%2C%22clusterName%22%3A%22c2%22%7D%5D"},
		{Name: "list after updates", Method: "GET", Path: v2 + "/instance/list?serviceName=orders&groupName=shop"},
		{Name: "create service", Method: "POST", Path: v2 + "/service", Body: "serviceName=pay&groupName=shop&protectThreshold=0.3&metadata=%7B%22team%22%3A%22p%22%7D&selector=%7B%22type%22%3A%22label%22%2C%22expression%22%3A%22CONSUMER.label.a%3DPROVIDER.label.a%22%7D"},
		{Name: "update service", Method: "PUT", Path: v2 + "/service", Body: "serviceName=pay&groupName=shop&protectThreshold=0.4"},
		{Name: "get service", Method: "GET", Path: v2 + "/service?serviceName=pay&groupName=shop"},
		{Name: "get implicit service", Method: "GET", Path: v2 + "/service?serviceName=orders&groupName=shop"},
		{Name: "service list", Method: "GET", Path: v2 + "/service/list?groupName=shop"},
		{Name: "client list", Method: "GET", Path: v2 + "/client/list"},
		{Name: "client detail", Method: "GET", Path: v2 + "/client?clientId=10.0.1.1:9000%23true"},
		{Name: "catalog instances", Method: "GET", Path: v2 + "/catalog/instances?serviceName=orders&groupName=shop"},
		{Name: "metrics", Method: "GET", Path: v2 + "/operator/metrics"},
		{Name: "switches update", Method: "PUT", Path: v2 + "/operator/switches?entry=lightBeatEnabled&value=false"},
		{Name: "beat reflects the switch", Method: "PUT", Path: v2 + "/instance/beat", Body: "serviceName=orders&groupName=shop&ip=10.0.1.1&port=9000"},
		{Name: "deregister", Method: "DELETE", Path: v2 + "/instance?serviceName=orders&groupName=shop&ip=10.0.1.1&port=9000"},
		{Name: "delete service", Method: "DELETE", Path: v2 + "/service?serviceName=pay&groupName=shop"},
		{Name: "service list after delete", Method: "GET", Path: v2 + "/service/list?groupName=shop&pageNo=1&pageSize=10"},
	})
}
