package nacoshttp

import (
	"errors"
	"fmt"
	"net/http"
	"strings"

	"github.com/distrod/distrod/internal/naming"
)

// Nacos v2 error codes (api/model/v2/ErrorCode).
const (
	codeSuccess             = 0
	codeParameterMissing    = 10000
	codeParameterValidate   = 20002
	codeResourceNotFound    = 20004
	codeServiceNameError    = 21000
	codeWeightError         = 21001
	codeInstanceMetaError   = 21002
	codeInstanceNotFound    = 21003
	codeInstanceError       = 21004
	codeServiceMetaError    = 21005
	codeSelectorError       = 21006
	codeServiceExists       = 21007
	codeServiceNotExist     = 21008
	codeServiceDeleteFail   = 21009
	codeHealthyParamMiss    = 21010
	codeIllegalNamespace    = 22000
	codeNamespaceNotExist   = 22001
	codeServerError         = 30000
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

// errTable maps naming's sentinel errors to HTTP status and v2 code. It is
// the only place that does so.
var errTable = []struct {
	err    error
	status int
	code   int
	// keep keeps the sentinel's own words ("instance not found: ...") when
	// the detail alone would not say what failed.
	keep bool
}{
	{naming.ErrInvalidParam, http.StatusBadRequest, codeParameterValidate, false},
	{naming.ErrLimitExceeded, http.StatusBadRequest, codeParameterValidate, false},
	{naming.ErrServiceNotFound, http.StatusBadRequest, codeServiceNotExist, false},
	{naming.ErrServiceExists, http.StatusBadRequest, codeServiceExists, false},
	{naming.ErrServiceHasInstances, http.StatusBadRequest, codeServiceDeleteFail, false},
	{naming.ErrInstanceNotFound, http.StatusNotFound, codeInstanceNotFound, true},
	{naming.ErrClientNotFound, http.StatusNotFound, codeResourceNotFound, false},
}

// toAPIError converts any error into an apiError. naming errors keep their
// detail text without the "naming: ...: " prefix; unknown errors are 500.
func toAPIError(err error) *apiError {
	var ae *apiError
	if errors.As(err, &ae) {
		return ae
	}
	for _, row := range errTable {
		if errors.Is(err, row.err) {
			msg := strings.TrimPrefix(err.Error(), row.err.Error()+": ")
			if row.keep {
				msg = strings.TrimPrefix(err.Error(), "naming: ")
			}
			return &apiError{Status: row.status, Code: row.code, Msg: msg}
		}
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
