package push

import (
	"encoding/json"

	"github.com/distrod/distrod/internal/naming"
)

// notifyBody encodes a NotifySubscriberRequest around an encoded
// serviceInfo. requestId is mandatory: the Go SDK dereferences a nil header
// struct (and crashes the process) when it is absent.
func notifyBody(requestID string, svc naming.ServiceKey, info json.RawMessage) []byte {
	body, _ := json.Marshal(struct {
		Headers     map[string]string `json:"headers"`
		RequestID   string            `json:"requestId"`
		Module      string            `json:"module"`
		Namespace   string            `json:"namespace"`
		ServiceName string            `json:"serviceName"`
		GroupName   string            `json:"groupName"`
		ServiceInfo json.RawMessage   `json:"serviceInfo"`
	}{map[string]string{}, requestID, "naming", svc.Namespace, svc.Name, svc.Group, info})
	return body
}
