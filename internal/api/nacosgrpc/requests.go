package nacosgrpc

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	"github.com/distrod/distrod/internal/api/nacoswire"
	"github.com/distrod/distrod/internal/naming"
)

// Nacos error codes used in ErrorResponse (resultCode = errorCode).
const (
	CodeSuccess       = 200
	CodeServerStatus  = 300 // server not started
	CodeUnregistered  = 301 // connection has no registered bi-stream
	CodeNoHandler     = 302 // unknown request type
	CodeInvalidParam  = nacoswire.RPCInvalidParam
	CodeNoRight       = 403
	CodeServerError   = nacoswire.RPCServerError
	CodeBadGateway    = 502 // unparsable body, not a request, forbidden source
	CodeOverThreshold = 503
)

// Request and response type names (Java simple class names).
const (
	typeServerCheckRequest        = "ServerCheckRequest"
	typeServerCheckResponse       = "ServerCheckResponse"
	typeHealthCheckRequest        = "HealthCheckRequest"
	typeHealthCheckResponse       = "HealthCheckResponse"
	typeConnectionSetupRequest    = "ConnectionSetupRequest"
	typeInstanceRequest           = "InstanceRequest"
	typeInstanceResponse          = "InstanceResponse"
	typeBatchInstanceRequest      = "BatchInstanceRequest"
	typeBatchInstanceResponse     = "BatchInstanceResponse"
	typeServiceQueryRequest       = "ServiceQueryRequest"
	typeQueryServiceResponse      = "QueryServiceResponse"
	typeSubscribeServiceRequest   = "SubscribeServiceRequest"
	typeSubscribeServiceResponse  = "SubscribeServiceResponse"
	typeServiceListRequest        = "ServiceListRequest"
	typeServiceListResponse       = "ServiceListResponse"
	typeErrorResponse             = "ErrorResponse"
	typeClientDetectionRequest    = "ClientDetectionRequest"
	typeConnectResetRequest       = "ConnectResetRequest"
	typeNotifySubscriberResponse  = "NotifySubscriberResponse"
	typeClientDetectionResponse   = "ClientDetectionResponse"
	typeConnectResetResponse      = "ConnectResetResponse"
	typeSetupAckRequest           = "SetupAckRequest"
	typeInstanceRegister          = "registerInstance"
	typeInstanceDeregister        = "deregisterInstance"
	typeBatchRegister             = "batchRegisterInstance"
	moduleNaming                  = "naming"
	moduleInternal                = "internal"
	msgUnregistered               = "Connection is unregistered."
	msgServerStarting             = "Server is starting,please try later."
	msgNoHandler                  = "RequestHandler Not Found"
	msgInvalidRequest             = "Invalid request"
	clusterOnlyForbiddenFormatter = " invoke %s from sdk is forbidden"
)

// clusterOnly are request types peers send on the cluster port; the SDK
// port refuses them with 502.
var clusterOnly = map[string]bool{
	"DistroDataRequest":       true,
	"MemberReportRequest":     true,
	"ServerLoaderInfoRequest": true,
	"ServerReloadRequest":     true,
}

// rpcError is a failure answered with ErrorResponse.
type rpcError struct {
	code int
	msg  string
}

func (e *rpcError) Error() string { return fmt.Sprintf("nacosgrpc: %d %s", e.code, e.msg) }

func errorf(code int, format string, args ...any) *rpcError {
	return &rpcError{code: code, msg: fmt.Sprintf(format, args...)}
}

// codeOf is err's Nacos code: an rpcError's own, else the shared error
// table's (nacoswire.RPCCodeOf).
func codeOf(err error) int {
	var re *rpcError
	if errors.As(err, &re) {
		return re.code
	}
	return nacoswire.RPCCodeOf(err)
}

// baseRequest holds the fields every request carries.
type baseRequest struct {
	Headers   map[string]string `json:"headers"`
	RequestID string            `json:"requestId"`
	Module    string            `json:"module"`
}

// namingRequest holds the fields of every naming request.
type namingRequest struct {
	baseRequest
	Namespace   string `json:"namespace"`
	ServiceName string `json:"serviceName"`
	GroupName   string `json:"groupName"`
}

// serviceKey validates the service coordinates (400 on failure).
func (r *namingRequest) serviceKey() (naming.ServiceKey, error) {
	return naming.ParseServiceKey(r.Namespace, r.ServiceName, r.GroupName)
}

// wireInstance is an Instance as the SDKs send it.
type wireInstance struct {
	InstanceID  string            `json:"instanceId"`
	IP          string            `json:"ip"`
	Port        int               `json:"port"`
	Weight      float64           `json:"weight"`
	Healthy     bool              `json:"healthy"`
	Enabled     bool              `json:"enabled"`
	Ephemeral   bool              `json:"ephemeral"`
	ClusterName string            `json:"clusterName"`
	ServiceName string            `json:"serviceName"`
	Metadata    map[string]string `json:"metadata"`
}

// toNaming keeps what the client sent: the Go SDK's zero values
// (enabled:false, healthy:false, weight:0) are stored as they are. The one
// exception is ephemeral: InstanceRequest and BatchInstanceRequest always
// register ephemeral instances, as Nacos's gRPC handlers do whatever the
// instance says (persistent instances go over HTTP).
func (w *wireInstance) toNaming() naming.Instance {
	return naming.Instance{
		InstanceID:  w.InstanceID,
		IP:          w.IP,
		Port:        w.Port,
		Weight:      w.Weight,
		Healthy:     w.Healthy,
		Enabled:     w.Enabled,
		Ephemeral:   true,
		ClusterName: w.ClusterName,
		Metadata:    w.Metadata,
	}
}

type serverCheckRequest struct{ baseRequest }

type healthCheckRequest struct{ baseRequest }

type connectionSetupRequest struct {
	baseRequest
	ClientVersion string            `json:"clientVersion"`
	Tenant        string            `json:"tenant"`
	Labels        map[string]string `json:"labels"`
	// AbilityTable is present (possibly empty) when the client negotiates
	// abilities (Nacos 2.3+ Java clients); the server then answers with
	// SetupAckRequest carrying its own.
	AbilityTable map[string]bool `json:"abilityTable"`
}

type instanceRequest struct {
	namingRequest
	Type     string       `json:"type"`
	Instance wireInstance `json:"instance"`
}

type batchInstanceRequest struct {
	namingRequest
	Type      string         `json:"type"`
	Instances []wireInstance `json:"instances"`
}

type serviceQueryRequest struct {
	namingRequest
	Cluster     string `json:"cluster"`
	HealthyOnly bool   `json:"healthyOnly"`
	UDPPort     int    `json:"udpPort"`
}

type subscribeServiceRequest struct {
	namingRequest
	Subscribe bool   `json:"subscribe"`
	Clusters  string `json:"clusters"`
}

type serviceListRequest struct {
	namingRequest
	PageNo   int             `json:"pageNo"`
	PageSize int             `json:"pageSize"`
	Selector json.RawMessage `json:"selector"`
}

// newRequest returns an empty request value for a type this server
// handles on /Request/request, or nil.
func newRequest(typ string) any {
	switch typ {
	case typeServerCheckRequest:
		return new(serverCheckRequest)
	case typeHealthCheckRequest:
		return new(healthCheckRequest)
	case typeInstanceRequest:
		return new(instanceRequest)
	case typePersistentInstanceRequest:
		return new(persistentInstanceRequest)
	case typeBatchInstanceRequest:
		return new(batchInstanceRequest)
	case typeServiceQueryRequest:
		return new(serviceQueryRequest)
	case typeSubscribeServiceRequest:
		return new(subscribeServiceRequest)
	case typeServiceListRequest:
		return new(serviceListRequest)
	}
	return nil
}

// lookup is the pipeline's handler-lookup step: 302 for a type nobody
// handles, 502 for types that are not requests or are cluster-only.
func lookup(typ string) *rpcError {
	if newRequest(typ) != nil {
		return nil
	}
	if clusterOnly[typ] {
		return errorf(CodeBadGateway, clusterOnlyForbiddenFormatter, typ)
	}
	if strings.HasSuffix(typ, "Response") {
		return errorf(CodeBadGateway, msgInvalidRequest)
	}
	return errorf(CodeNoHandler, msgNoHandler)
}

// decodeRequest turns a payload's type and JSON body into a typed request.
// It fails with 302 for an unknown type and 502 for a body that is not a
// JSON object of the type's shape. It never panics.
func decodeRequest(typ string, body []byte) (any, *rpcError) {
	if err := lookup(typ); err != nil {
		return nil, err
	}
	req := newRequest(typ)
	if err := decodeObject(body, req); err != nil {
		return nil, errorf(CodeBadGateway, "%s", err.Error())
	}
	return req, nil
}

// decodeObject unmarshals body into v, insisting on a JSON object.
func decodeObject(body []byte, v any) error {
	b := bytes.TrimSpace(body)
	if len(b) == 0 || b[0] != '{' {
		return errors.New(msgInvalidRequest)
	}
	if err := json.Unmarshal(b, v); err != nil {
		return fmt.Errorf("parse %T: %w", v, err)
	}
	return nil
}

// requestIDOf extracts requestId from a body, best effort.
func requestIDOf(body []byte) string {
	var h struct {
		RequestID any `json:"requestId"`
	}
	if json.Unmarshal(body, &h) != nil {
		return ""
	}
	if s, ok := h.RequestID.(string); ok {
		return s
	}
	return ""
}

// responseHead holds the fields every response carries. Success is always
// written and agrees with ResultCode, as Java's.
type responseHead struct {
	ResultCode int    `json:"resultCode"`
	ErrorCode  int    `json:"errorCode"`
	Message    string `json:"message,omitempty"`
	RequestID  string `json:"requestId"`
	Success    bool   `json:"success"`
}

func ok(requestID string) responseHead {
	return responseHead{ResultCode: CodeSuccess, RequestID: requestID, Success: true}
}

type serverCheckResponse struct {
	responseHead
	ConnectionID string `json:"connectionId"`
	// SupportAbilityNegotiation tells a Nacos 2.3+ client to send its
	// ability table in ConnectionSetupRequest and wait for SetupAckRequest.
	SupportAbilityNegotiation bool `json:"supportAbilityNegotiation"`
}

// setupAckRequest ends ability negotiation: the server's abilities, sent
// once after a ConnectionSetupRequest that carried an ability table.
type setupAckRequest struct {
	serverRequest
	AbilityTable map[string]bool `json:"abilityTable"`
}

// ServerAbilities are the abilities a server announces in SetupAckRequest,
// under Nacos's key names. persistent says whether it keeps persistent
// instances (Options.Persistent): without, a negotiating client registers
// them over HTTP, as it does against a Nacos server without that ability.
func ServerAbilities(persistent bool) map[string]bool {
	return map[string]bool{"supportPersistentInstanceByGrpc": persistent}
}

type instanceResponse struct {
	responseHead
	Type string `json:"type"`
}

type serviceListResponse struct {
	responseHead
	Count        int      `json:"count"`
	ServiceNames []string `json:"serviceNames"`
}

// ackResponse is a client's answer to a server request on the bi-stream.
type ackResponse struct {
	ResultCode int    `json:"resultCode"`
	ErrorCode  int    `json:"errorCode"`
	Message    string `json:"message"`
	RequestID  string `json:"requestId"`
}

type serverRequest struct {
	Headers   map[string]string `json:"headers"`
	RequestID string            `json:"requestId"`
	Module    string            `json:"module"`
}

type connectResetRequest struct {
	serverRequest
	ServerIP     string `json:"serverIp"`
	ServerPort   string `json:"serverPort"` // a JSON string: the Go SDK fails to decode a number
	ConnectionID string `json:"connectionId"`
}
