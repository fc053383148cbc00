package nacosgrpc

import (
	"context"
	"fmt"
	"time"

	"github.com/distrod/distrod/internal/naming"
)

// typePersistentInstanceRequest is the Java 2.x client's request for a
// persistent (ephemeral=false) instance; its body is an InstanceRequest's.
const typePersistentInstanceRequest = "PersistentInstanceRequest"

type persistentInstanceRequest struct{ instanceRequest }

// PersistentRegistry keeps persistent instances (the control plane). Its
// methods block until the write is committed or has failed.
type PersistentRegistry interface {
	RegisterPersistent(ctx context.Context, k naming.ServiceKey, in naming.Instance) error
	DeregisterPersistent(ctx context.Context, k naming.ServiceKey, in naming.Instance) error
}

// persistentWriteTimeout bounds a persistent instance write; the registry
// has its own, shorter, bound in practice.
const persistentWriteTimeout = 10 * time.Second

// handlePersistent registers or deregisters a persistent instance. Unlike
// an InstanceRequest it is not tied to the connection: the instance stays
// until a deregister, whoever sends it.
func (s *Server) handlePersistent(r *persistentInstanceRequest) (string, any, error) {
	if s.o.Persistent == nil {
		return "", nil, errPersistent
	}
	svc, err := r.serviceKey()
	if err != nil {
		return "", nil, err
	}
	in := r.Instance.toNaming()
	in.Ephemeral = false
	ctx, cancel := context.WithTimeout(context.Background(), persistentWriteTimeout)
	defer cancel()
	switch r.Type {
	case typeInstanceRegister:
		if err := in.Normalize(); err != nil {
			return "", nil, err
		}
		err = s.o.Persistent.RegisterPersistent(ctx, svc, in)
	case typeInstanceDeregister:
		err = s.o.Persistent.DeregisterPersistent(ctx, svc, in)
	default:
		return "", nil, errorf(CodeInvalidParam, "Unsupported request type %s", r.Type)
	}
	if err != nil {
		return "", nil, fmt.Errorf("nacosgrpc: persistent instance: %w", err)
	}
	return typeInstanceResponse, instanceResponse{responseHead: ok(r.RequestID), Type: r.Type}, nil
}
