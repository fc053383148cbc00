package nacoswire

import (
	"errors"
	"fmt"
	"net/http"
	"testing"

	"github.com/distrod/distrod/internal/cp"
	"github.com/distrod/distrod/internal/naming"
)

func TestLookupError_ScopesRowsToTheirPlane(t *testing.T) {
	// cp wraps the validation error of a command in cp.ErrInvalid: each
	// plane sees its own sentinel.
	both := fmt.Errorf("%w: %w", cp.ErrInvalid, fmt.Errorf("%w: bad port", naming.ErrInvalidParam))
	n, ok := LookupError(both, PlaneNaming)
	if !ok || n.Err != naming.ErrInvalidParam || n.Status != http.StatusBadRequest || n.Code != CodeParameterValidate || n.RPCCode != RPCInvalidParam {
		t.Fatalf("naming row: %+v %v", n, ok)
	}
	c, ok := LookupError(both, PlaneControl)
	if !ok || c.Err != cp.ErrInvalid || c.Status != http.StatusBadRequest || c.Code != CodeParameterValidate {
		t.Fatalf("control row: %+v %v", c, ok)
	}
	if _, ok := LookupError(cp.ErrNoLeader, PlaneNaming); ok {
		t.Fatal("a control-plane error matched a naming row")
	}
	if _, ok := LookupError(errors.New("other"), PlaneControl); ok {
		t.Fatal("an unknown error matched a row")
	}
}

func TestRPCCodeOf_InvalidParamsAre400AndTheRest500(t *testing.T) {
	for err, want := range map[error]int{
		fmt.Errorf("%w: x", naming.ErrInvalidParam):    RPCInvalidParam,
		fmt.Errorf("%w: x", naming.ErrLimitExceeded):   RPCInvalidParam,
		fmt.Errorf("%w: x", naming.ErrServiceNotFound): RPCServerError,
		cp.ErrNoLeader:      RPCServerError,
		errors.New("other"): RPCServerError,
	} {
		if got := RPCCodeOf(err); got != want {
			t.Errorf("RPCCodeOf(%v) = %d, want %d", err, got, want)
		}
	}
}

func TestErrorMapping_DetailDropsTheSentinelUnlessKept(t *testing.T) {
	err := fmt.Errorf("%w: service DEFAULT_GROUP@@a not found", naming.ErrServiceNotFound)
	m, _ := LookupError(err, PlaneNaming)
	if got := m.Detail(err); got != "service DEFAULT_GROUP@@a not found" {
		t.Errorf("Detail = %q", got)
	}
	err = fmt.Errorf("%w: 10.0.0.1:80", naming.ErrInstanceNotFound)
	m, _ = LookupError(err, PlaneNaming)
	if got, want := m.Detail(err), naming.ErrInstanceNotFound.Error()[len("naming: "):]+": 10.0.0.1:80"; !m.KeepSentinel || got != want {
		t.Errorf("Detail = %q, want %q", got, want)
	}
}
