package bench

import (
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"strconv"
)

// Constants a real nacos-sdk-go client puts on the wire.
const (
	// ClientVersionV2 is hard-coded in nacos-sdk-go v2 (even in v2.3.2).
	ClientVersionV2 = "Nacos-Go-Client:v2.2.7"
	// ClientVersionV1 is what nacos-sdk-go v1 sends as Client-Version/User-Agent.
	ClientVersionV1 = "Nacos-Go-Client:v1.0.1"
	// DefaultGroup is the group every scenario uses.
	DefaultGroup = "DEFAULT_GROUP"
	// PublicNamespace is what the v2 SDK sends for an empty namespace id.
	PublicNamespace = "public"
	// AppName is sent in the "app" header / parameter.
	AppName = "distrod-bench"
)

// Request and response type names (Metadata.type).
const (
	TypeServerCheckRequest       = "ServerCheckRequest"
	TypeServerCheckResponse      = "ServerCheckResponse"
	TypeConnectionSetupRequest   = "ConnectionSetupRequest"
	TypeHealthCheckRequest       = "HealthCheckRequest"
	TypeHealthCheckResponse      = "HealthCheckResponse"
	TypeInstanceRequest          = "InstanceRequest"
	TypeInstanceResponse         = "InstanceResponse"
	TypeBatchInstanceRequest     = "BatchInstanceRequest"
	TypeBatchInstanceResponse    = "BatchInstanceResponse"
	TypeServiceQueryRequest      = "ServiceQueryRequest"
	TypeQueryServiceResponse     = "QueryServiceResponse"
	TypeSubscribeServiceRequest  = "SubscribeServiceRequest"
	TypeSubscribeServiceResponse = "SubscribeServiceResponse"
	TypeNotifySubscriberRequest  = "NotifySubscriberRequest"
	TypeNotifySubscriberResponse = "NotifySubscriberResponse"
	TypeClientDetectionRequest   = "ClientDetectionRequest"
	TypeClientDetectionResponse  = "ClientDetectionResponse"
	TypeConnectResetRequest      = "ConnectResetRequest"
	TypeConnectResetResponse     = "ConnectResetResponse"
	TypeErrorResponse            = "ErrorResponse"
)

// Errors classify failed operations; all are counted, never timed.
var (
	// ErrShortAnswer: a 2xx/200 answer whose content is not what a client
	// needs (wrong type, undecodable JSON, missing field, too few hosts).
	ErrShortAnswer = errors.New("bench: unusable answer")
	// ErrNotVisible: a write never became visible on an observing node.
	ErrNotVisible = errors.New("bench: write not visible before deadline")
	// ErrConnBroken: the bi-stream of a gRPC connection ended.
	ErrConnBroken = errors.New("bench: connection broken")
)

// StatusError is a server answer that a client treats as a failure: a
// non-2xx HTTP status, a gRPC ErrorResponse, or resultCode≠200.
type StatusError struct {
	// HTTP is the HTTP status code (0 for gRPC answers).
	HTTP int
	// Type is the gRPC response type (empty for HTTP).
	Type string
	// ResultCode and ErrorCode are the gRPC body codes.
	ResultCode, ErrorCode int
	// Message is the server's message or the start of the HTTP body.
	Message string
}

// Error implements error.
func (e *StatusError) Error() string {
	if e.HTTP != 0 {
		return fmt.Sprintf("bench: http status %d: %s", e.HTTP, e.Message)
	}
	return fmt.Sprintf("bench: %s resultCode=%d errorCode=%d: %s", e.Type, e.ResultCode, e.ErrorCode, e.Message)
}

// Kind is a short label for tallies.
func (e *StatusError) Kind() string {
	if e.HTTP != 0 {
		return "http-" + strconv.Itoa(e.HTTP)
	}
	if e.Type == TypeErrorResponse {
		return "error-response-" + strconv.Itoa(e.ErrorCode)
	}
	return "result-" + strconv.Itoa(e.ResultCode)
}

// Instance is the SDK's instance JSON, every field always present, in the
// SDK's field order (Go zero values for anything unset).
type Instance struct {
	InstanceID                string            `json:"instanceId"`
	IP                        string            `json:"ip"`
	Port                      uint64            `json:"port"`
	Weight                    float64           `json:"weight"`
	Healthy                   bool              `json:"healthy"`
	Enabled                   bool              `json:"enabled"`
	Ephemeral                 bool              `json:"ephemeral"`
	ClusterName               string            `json:"clusterName"`
	ServiceName               string            `json:"serviceName"`
	Metadata                  map[string]string `json:"metadata"`
	InstanceHeartBeatInterval int               `json:"instanceHeartBeatInterval"`
	IPDeleteTimeout           int               `json:"ipDeleteTimeout"`
	InstanceHeartBeatTimeOut  int               `json:"instanceHeartBeatTimeOut"`
}

// BenchInstance is the instance a scenario registers for sequence number
// seq: an address in 127.0.0.0/8 (so nothing ever probes a foreign host),
// set up as a typical SDK user would (weight 1, healthy, enabled,
// ephemeral, cluster DEFAULT).
func BenchInstance(seq uint64) Instance {
	return Instance{IP: SeqIP(seq), Port: SeqPort(seq), Weight: 1, Healthy: true, Enabled: true,
		Ephemeral: true, ClusterName: "DEFAULT", Metadata: map[string]string{"bench": "1"}}
}

// SeqIP maps a sequence number to a distinct loopback address 127.a.b.c
// (with SeqPort, 2^24·1000 distinct endpoints).
func SeqIP(seq uint64) string {
	n := seq/1000%(1<<24-2) + 1
	return net.IPv4(127, byte(n>>16), byte(n>>8), byte(n)).String()
}

// SeqPort is the port half of SeqIP.
func SeqPort(seq uint64) uint64 { return 10000 + seq%1000 }

// internalReq is the body of ServerCheckRequest and HealthCheckRequest.
type internalReq struct {
	RequestID string `json:"requestId"`
	Module    string `json:"module"`
}

type clientAbilities struct{}

type connectionSetupReq struct {
	internalReq
	ClientVersion   string            `json:"clientVersion"`
	Tenant          string            `json:"tenant"`
	Labels          map[string]string `json:"labels"`
	ClientAbilities clientAbilities   `json:"clientAbilities"`
}

type namingReq struct {
	RequestID   string `json:"requestId"`
	Namespace   string `json:"namespace"`
	ServiceName string `json:"serviceName"`
	GroupName   string `json:"groupName"`
	Module      string `json:"module"`
}

func newNamingReq(namespace, service string) namingReq {
	if namespace == "" {
		namespace = PublicNamespace
	}
	return namingReq{Namespace: namespace, ServiceName: service, GroupName: DefaultGroup, Module: "naming"}
}

type instanceReq struct {
	namingReq
	Type     string   `json:"type"`
	Instance Instance `json:"instance"`
}

type batchInstanceReq struct {
	namingReq
	Type      string     `json:"type"`
	Instances []Instance `json:"instances"`
}

type subscribeReq struct {
	namingReq
	Subscribe bool   `json:"subscribe"`
	Clusters  string `json:"clusters"`
}

type serviceQueryReq struct {
	namingReq
	Cluster     string `json:"cluster"`
	HealthyOnly bool   `json:"healthyOnly"`
	UDPPort     int    `json:"udpPort"`
}

// ackResp is the body a client sends back for a server push.
type ackResp struct {
	ResultCode int    `json:"resultCode"`
	ErrorCode  int    `json:"errorCode"`
	Success    bool   `json:"success"`
	Message    string `json:"message"`
	RequestID  string `json:"requestId"`
}

// respHead is the common part of every gRPC response body.
type respHead struct {
	ResultCode int    `json:"resultCode"`
	ErrorCode  int    `json:"errorCode"`
	Success    *bool  `json:"success"`
	Message    string `json:"message"`
}

// Host is the part of a returned instance the scenarios look at.
type Host struct {
	IP   string `json:"ip"`
	Port uint64 `json:"port"`
}

// ServiceInfo is the part of a serviceInfo / instance-list answer the
// scenarios look at.
type ServiceInfo struct {
	Name        string `json:"name"`
	GroupName   string `json:"groupName"`
	Clusters    string `json:"clusters"`
	LastRefTime int64  `json:"lastRefTime"`
	Hosts       []Host `json:"hosts"`
}

type serviceInfoResp struct {
	respHead
	ServiceInfo ServiceInfo `json:"serviceInfo"`
}

// notifyReq is the part of a NotifySubscriberRequest the client reads.
type notifyReq struct {
	RequestID   *string     `json:"requestId"`
	ServiceName string      `json:"serviceName"`
	GroupName   string      `json:"groupName"`
	ServiceInfo ServiceInfo `json:"serviceInfo"`
}

// headed is a response body type that embeds respHead, so one JSON pass
// yields both the common fields and the payload.
type headed interface{ head() *respHead }

func (h *respHead) head() *respHead { return h }

// checkResponse applies the SDK's success rule to a gRPC answer: the type
// must be want (ErrorResponse is a StatusError), and success is the
// "success" key when present, else resultCode==200. We additionally
// require resultCode 200, as the issue asks. The body is decoded into dst
// (a *respHead when the caller needs nothing else) in a single pass.
func checkResponse(typ string, body []byte, want string, dst headed) error {
	if err := json.Unmarshal(body, dst); err != nil {
		return fmt.Errorf("%w: %s body: %v", ErrShortAnswer, typ, err)
	}
	h := dst.head()
	if typ == TypeErrorResponse {
		return &StatusError{Type: typ, ResultCode: h.ResultCode, ErrorCode: h.ErrorCode, Message: h.Message}
	}
	if typ != want {
		return fmt.Errorf("%w: got %s, want %s", ErrShortAnswer, typ, want)
	}
	ok := h.ResultCode == 200
	if h.Success != nil && !*h.Success {
		ok = false
	}
	if !ok {
		return &StatusError{Type: typ, ResultCode: h.ResultCode, ErrorCode: h.ErrorCode, Message: h.Message}
	}
	return nil
}
