package push

import (
	"encoding/json"
	"strconv"

	"github.com/distrod/distrod/internal/naming"
)

// notifyHead encodes a NotifySubscriberRequest around an encoded
// serviceInfo, up to the value of its requestId, which comes last:
//
//	{"headers":{},"module":"naming","namespace":…,"serviceName":…,
//	 "groupName":…,"serviceInfo":{…},"requestId":"
//
// The head of one service view is the same for every subscriber; each
// push appends only its own notifyTail. requestId is mandatory: the Go
// SDK dereferences a nil header struct (and crashes the process) when it
// is absent. info must be valid JSON; it is copied in as is.
func notifyHead(svc naming.ServiceKey, info json.RawMessage) []byte {
	b := make([]byte, 0, len(info)+len(svc.Namespace)+len(svc.Name)+len(svc.Group)+128)
	b = append(b, `{"headers":{},"module":"naming","namespace":`...)
	b = appendJSONString(b, svc.Namespace)
	b = append(b, `,"serviceName":`...)
	b = appendJSONString(b, svc.Name)
	b = append(b, `,"groupName":`...)
	b = appendJSONString(b, svc.Group)
	b = append(b, `,"serviceInfo":`...)
	b = append(b, info...)
	b = append(b, `,"requestId":"`...)
	return b[:len(b):len(b)]
}

// notifyTail ends a push whose head is notifyHead: the requestId (a
// decimal sequence number from Stamps, which needs no escaping) and the
// closing brace.
func notifyTail(requestID string) []byte {
	b := make([]byte, 0, len(requestID)+2)
	b = append(b, requestID...)
	return append(b, `"}`...)
}

// appendJSONString appends s as a JSON string.
func appendJSONString(b []byte, s string) []byte {
	if safeJSON(s) {
		return strconv.AppendQuote(b, s)
	}
	q, _ := json.Marshal(s)
	return append(b, q...)
}

// safeJSON reports whether s is printable ASCII without characters whose
// Go quoting differs from JSON's or that encoding/json escapes for HTML.
func safeJSON(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c < 0x20 || c >= 0x7f || c == '"' || c == '\\' || c == '<' || c == '>' || c == '&' {
			return false
		}
	}
	return true
}
