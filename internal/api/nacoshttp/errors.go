package nacoshttp

import (
	"errors"
	"fmt"
	"net/http"

	"github.com/distrod/distrod/internal/api/nacoswire"
)

// Nacos v2 error codes (api/model/v2/ErrorCode).
const (
	codeSuccess             = 0
	codeParameterMissing    = 10000
	codeParameterValidate   = nacoswire.CodeParameterValidate
	codeResourceNotFound    = nacoswire.CodeResourceNotFound
	codeServiceNameError    = 21000
	codeWeightError         = 21001
	codeInstanceMetaError   = 21002
	codeInstanceNotFound    = nacoswire.CodeInstanceNotFound
	codeInstanceError       = 21004
	codeServiceMetaError    = 21005
	codeSelectorError       = 21006
	codeServiceExists       = nacoswire.CodeServiceExists
	codeServiceNotExist     = nacoswire.CodeServiceNotExist
	codeServiceDeleteFail   = nacoswire.CodeServiceDeleteFail
	codeHealthyParamMiss    = 21010
	codeIllegalNamespace    = nacoswire.CodeIllegalNamespace
	codeNamespaceNotExist   = 22001
	codeServerError         = nacoswire.CodeServerError
	codeBeatOK              = 10200
	codeBeatUnknownInstance = 20404
)

// codeMessages are the v2 envelope messages of each code.
var codeMessages = map[int]string{
	codeSuccess:           "success",
	codeParameterMissing:  "parameter missing",
	codeParameterValidate: "parameter validate error",
	codeResourceNotFound:  "resource not found",
	codeServiceNameError:  "service name error",
	codeWeightError:       "weight error",
	codeInstanceMetaError: "instance metadata error",
	codeInstanceNotFound:  "instance not found",
	codeInstanceError:     "instance error",
	codeServiceMetaError:  "service metadata error",
	codeSelectorError:     "selector error",
	codeServiceExists:     "service already exist",
	codeServiceNotExist:   "service not exist",
	codeServiceDeleteFail: "service delete failure",
	codeHealthyParamMiss:  "healthy param miss",
	codeIllegalNamespace:  "illegal namespace",
	codeNamespaceNotExist: "namespace not exist",
	codeServerError:       "server error",
}

// apiError is a client-facing failure. v1 answers Status with Msg as plain
// text; v2 answers Status with {"code":Code,"message":codeMessages[Code],
// "data":Msg}.
type apiError struct {
	Status int
	Code   int
	Msg    string
}

func (e *apiError) Error() string { return fmt.Sprintf("%d/%d: %s", e.Status, e.Code, e.Msg) }

func newErr(status, code int, format string, args ...any) *apiError {
	return &apiError{Status: status, Code: code, Msg: fmt.Sprintf(format, args...)}
}

// errNotReady answers naming reads while the startup snapshot load has not
// finished.
var errNotReady = newErr(http.StatusServiceUnavailable, codeServerError,
	"server is not ready: still loading the startup snapshot from its peers, please try again later")

// missingParam is Nacos's answer to an absent required parameter: v1
// WebUtils.required text, v2 code 10000.
func missingParam(v2 bool, name, typ string) *apiError {
	if v2 {
		return newErr(http.StatusBadRequest, codeParameterMissing, "Required parameter '%s' type %s is not present", name, typ)
	}
	return newErr(http.StatusBadRequest, codeParameterMissing, "Param '%s' is required.", name)
}

// missingRequestParam is Spring's text for an absent @RequestParam, which
// the v1 catalog and operator controllers use.
func missingRequestParam(name string) *apiError {
	return newErr(http.StatusBadRequest, codeParameterMissing, "Parameter '%s' is missing", name)
}

// badNumber is Java's NumberFormatException text, which Nacos passes on.
func badNumber(s string) *apiError {
	return newErr(http.StatusBadRequest, codeParameterValidate, "For input string: \"%s\"", s)
}

// toAPIError converts any error into an apiError: naming errors by the
// shared error table (nacoswire.LookupError), keeping their detail text
// without the "naming: ...: " prefix; unknown errors are 500. Control-plane
// errors are mapped by controlError where a control-plane write runs.
func toAPIError(err error) *apiError {
	var ae *apiError
	if errors.As(err, &ae) {
		return ae
	}
	if m, ok := nacoswire.LookupError(err, nacoswire.PlaneNaming); ok {
		return &apiError{Status: m.Status, Code: m.Code, Msg: m.Detail(err)}
	}
	return &apiError{Status: http.StatusInternalServerError, Code: codeServerError, Msg: "caused: " + err.Error() + ";"}
}

// withCode overrides the v2 code of a naming error (e.g. a validation
// failure of an instance is 21004, of a service name 21000).
func withCode(err error, code int) error {
	if err == nil {
		return nil
	}
	ae := toAPIError(err)
	if ae.Status == http.StatusBadRequest {
		c := *ae
		c.Code = code
		return &c
	}
	return ae
}
