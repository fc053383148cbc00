package nacosgrpc

import (
	"github.com/distrod/distrod/internal/naming"
)

// handle runs a decoded request for registered connection c (whose mu is
// read-locked) and returns the response type and body.
func (s *Server) handle(c *conn, req any) (string, any, error) {
	switch r := req.(type) {
	case *healthCheckRequest:
		return typeHealthCheckResponse, ok(r.RequestID), nil
	case *serverCheckRequest:
		return typeServerCheckResponse, serverCheckResponse{responseHead: ok(r.RequestID), ConnectionID: c.id}, nil
	case *instanceRequest:
		return s.handleInstance(c, r)
	case *persistentInstanceRequest:
		return s.handlePersistent(r)
	case *batchInstanceRequest:
		return s.handleBatch(c, r)
	case *serviceQueryRequest:
		svc, err := r.serviceKey()
		if err != nil {
			return "", nil, err
		}
		info := s.o.Wire.BuildJSON(svc, r.Cluster, r.HealthyOnly)
		if err := s.checkAnswer(info); err != nil {
			return "", nil, err
		}
		return typeQueryServiceResponse, withServiceInfo(ok(r.RequestID), info), nil
	case *subscribeServiceRequest:
		svc, err := r.serviceKey()
		if err != nil {
			return "", nil, err
		}
		// Subscribe first, build second: a change after the build is
		// pushed, a change before it is in the answer.
		if r.Subscribe {
			s.o.Push.Subscribe(c, svc, r.Clusters)
		} else {
			s.o.Push.Unsubscribe(c.id, svc, r.Clusters)
		}
		info := s.o.Wire.BuildJSON(svc, r.Clusters, false)
		if err := s.checkAnswer(info); err != nil {
			return "", nil, err
		}
		head := ok(r.RequestID)
		head.Message = "success"
		return typeSubscribeServiceResponse, withServiceInfo(head, info), nil
	case *serviceListRequest:
		return s.handleList(r)
	}
	return "", nil, errorf(CodeNoHandler, msgNoHandler)
}

// errPersistent refuses PersistentInstanceRequest (persistent.go) when no
// PersistentRegistry is configured. (An InstanceRequest with
// ephemeral=false registers an ephemeral instance, as Nacos does.)
var errPersistent = errorf(CodeInvalidParam,
	"distrod serves ephemeral instances only: persistent instances (ephemeral=false) are not supported")

// handleInstance registers or deregisters the connection's single
// registration for the service: a register replaces whatever the
// connection had there (even another ip:port), a deregister removes it
// whatever ip:port it names. Both are idempotent, as the SDK's redo needs.
func (s *Server) handleInstance(c *conn, r *instanceRequest) (string, any, error) {
	svc, err := r.serviceKey()
	if err != nil {
		return "", nil, err
	}
	now := s.o.Now().UnixMilli()
	switch r.Type {
	case typeInstanceRegister:
		in := r.Instance.toNaming()
		s.o.Store.AssignID(s.ids, now, c.id, svc, &in)
		if err := s.o.Store.Publish(now, c.id, svc, naming.Publication{Instances: []naming.Instance{in}}); err != nil {
			return "", nil, err
		}
	case typeInstanceDeregister:
		s.o.Store.Unpublish(now, c.id, svc)
	default:
		return "", nil, errorf(CodeInvalidParam, "Unsupported request type %s", r.Type)
	}
	return typeInstanceResponse, instanceResponse{responseHead: ok(r.RequestID), Type: r.Type}, nil
}

// handleBatch replaces the connection's registration for the service with
// the whole batch.
func (s *Server) handleBatch(c *conn, r *batchInstanceRequest) (string, any, error) {
	svc, err := r.serviceKey()
	if err != nil {
		return "", nil, err
	}
	if r.Type != typeBatchRegister {
		return "", nil, errorf(CodeInvalidParam, "Unsupported request type %s", r.Type)
	}
	now := s.o.Now().UnixMilli()
	if len(r.Instances) == 0 {
		s.o.Store.Unpublish(now, c.id, svc)
	} else {
		ins := make([]naming.Instance, len(r.Instances))
		for i := range r.Instances {
			ins[i] = r.Instances[i].toNaming()
			s.o.Store.AssignID(s.ids, now, c.id, svc, &ins[i])
		}
		if err := s.o.Store.Publish(now, c.id, svc, naming.Publication{Batch: true, Instances: ins}); err != nil {
			return "", nil, err
		}
	}
	return typeBatchInstanceResponse, instanceResponse{responseHead: ok(r.RequestID), Type: r.Type}, nil
}

// handleList answers the bare names of one page (1-based, Java's clamping)
// of the services of a namespace and group, with the group's total count.
func (s *Server) handleList(r *serviceListRequest) (string, any, error) {
	ns := naming.NormalizeNamespace(r.Namespace)
	group := r.GroupName
	if group == "" {
		group = naming.DefaultGroup
	}
	all := s.o.Store.Services(ns, func(k naming.ServiceKey) bool { return k.Group == group })
	start, end := 0, 0
	if r.PageSize > 0 {
		if r.PageNo > 1 {
			// Compare before multiplying: pageNo*pageSize may overflow.
			if r.PageNo-1 >= (len(all)+r.PageSize-1)/r.PageSize {
				start = len(all)
			} else {
				start = (r.PageNo - 1) * r.PageSize
			}
		}
		end = start + min(r.PageSize, len(all)-start)
	}
	names := []string{}
	for i := start; i < end; i++ {
		names = append(names, all[i].Key.Name)
	}
	return typeServiceListResponse, serviceListResponse{responseHead: ok(r.RequestID), Count: len(all), ServiceNames: names}, nil
}

// checkAnswer refuses a serviceInfo larger than MaxAnswerBytes.
func (s *Server) checkAnswer(info []byte) error {
	if max := s.o.MaxAnswerBytes; max > 0 && len(info) > max {
		return errorf(CodeServerError, "answer of %d bytes exceeds the limit of %d bytes (max-list-answer-bytes): narrow the query", len(info), max)
	}
	return nil
}
