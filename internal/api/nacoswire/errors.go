package nacoswire

import (
	"errors"
	"net/http"
	"strings"

	"github.com/distrod/distrod/internal/cp"
	"github.com/distrod/distrod/internal/naming"
)

// Nacos v2 open-API codes (api/model/v2/ErrorCode) that the error table
// answers with.
const (
	CodeParameterValidate = 20002
	CodeResourceNotFound  = 20004
	CodeInstanceNotFound  = 21003
	CodeServiceExists     = 21007
	CodeServiceNotExist   = 21008
	CodeServiceDeleteFail = 21009
	CodeIllegalNamespace  = 22000
	CodeServerError       = 30000
)

// gRPC resultCodes (which ErrorResponse repeats as errorCode) that the
// error table answers with.
const (
	RPCInvalidParam = 400
	RPCServerError  = 500
)

// Plane says which layer a sentinel error comes from. The HTTP API maps
// control-plane errors only where it runs a control-plane write, because
// there the not-found code depends on what was written.
type Plane int

const (
	// PlaneNaming is the naming store's errors (package naming).
	PlaneNaming Plane = iota
	// PlaneControl is the control plane's errors (package cp).
	PlaneControl
)

// ErrorMapping is how both Nacos APIs answer one sentinel error: the HTTP
// API with Status and, in the v2 envelope, Code; the gRPC API with RPCCode.
// Each API renders it in its own envelope.
type ErrorMapping struct {
	Err     error
	Plane   Plane
	Status  int
	Code    int
	RPCCode int
	// KeepSentinel keeps the sentinel's own words ("instance not found:
	// ...") in Detail when the detail alone would not say what failed.
	KeepSentinel bool
}

// errorTable is the one mapping from sentinel errors to Nacos answers.
// Within a plane the first row an error wraps wins. A control-plane
// not-found is answered with the code of the missing resource, which the
// caller supplies; CodeResourceNotFound stands for it here.
var errorTable = []ErrorMapping{
	{naming.ErrInvalidParam, PlaneNaming, http.StatusBadRequest, CodeParameterValidate, RPCInvalidParam, false},
	{naming.ErrLimitExceeded, PlaneNaming, http.StatusBadRequest, CodeParameterValidate, RPCInvalidParam, false},
	{naming.ErrServiceNotFound, PlaneNaming, http.StatusBadRequest, CodeServiceNotExist, RPCServerError, false},
	{naming.ErrServiceExists, PlaneNaming, http.StatusBadRequest, CodeServiceExists, RPCServerError, false},
	{naming.ErrServiceHasInstances, PlaneNaming, http.StatusBadRequest, CodeServiceDeleteFail, RPCServerError, false},
	{naming.ErrInstanceNotFound, PlaneNaming, http.StatusNotFound, CodeInstanceNotFound, RPCServerError, true},
	{naming.ErrClientNotFound, PlaneNaming, http.StatusNotFound, CodeResourceNotFound, RPCServerError, false},
	{cp.ErrNoLeader, PlaneControl, http.StatusServiceUnavailable, CodeServerError, RPCServerError, false},
	{cp.ErrExists, PlaneControl, http.StatusBadRequest, CodeIllegalNamespace, RPCServerError, false},
	{cp.ErrNotFound, PlaneControl, http.StatusNotFound, CodeResourceNotFound, RPCServerError, false},
	{cp.ErrInvalid, PlaneControl, http.StatusBadRequest, CodeParameterValidate, RPCServerError, false},
}

// LookupError returns the mapping of the first sentinel of plane p that
// err wraps (errors.Is), and false when it wraps none.
func LookupError(err error, p Plane) (ErrorMapping, bool) {
	for _, m := range errorTable {
		if m.Plane == p && errors.Is(err, m.Err) {
			return m, true
		}
	}
	return ErrorMapping{}, false
}

// RPCCodeOf is the gRPC resultCode of err: that of its naming sentinel,
// else of its control-plane sentinel, else RPCServerError.
func RPCCodeOf(err error) int {
	for _, p := range []Plane{PlaneNaming, PlaneControl} {
		if m, ok := LookupError(err, p); ok {
			return m.RPCCode
		}
	}
	return RPCServerError
}

// Detail is err's text as the HTTP API answers it: without the sentinel's
// own words and colon, or, with KeepSentinel, without just the "naming: "
// package prefix.
func (m ErrorMapping) Detail(err error) string {
	if m.KeepSentinel {
		return strings.TrimPrefix(err.Error(), "naming: ")
	}
	return strings.TrimPrefix(err.Error(), m.Err.Error()+": ")
}
