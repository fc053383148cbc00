package nacosgrpc

import (
	"strings"

	"github.com/distrod/distrod/internal/auth"
	"github.com/distrod/distrod/internal/nacospb"
	"github.com/distrod/distrod/internal/naming"
)

// accessOf returns what a decoded request needs, as Nacos's @Secured
// handlers: the naming request it carries, the action, and the response
// type a refusal is answered with. ok is false for requests that need no
// identity (server and health checks).
func accessOf(req any) (nr *namingRequest, action, respType string, ok bool) {
	switch r := req.(type) {
	case *instanceRequest:
		return &r.namingRequest, auth.Write, typeInstanceResponse, true
	case *persistentInstanceRequest:
		return &r.namingRequest, auth.Write, typeInstanceResponse, true
	case *batchInstanceRequest:
		return &r.namingRequest, auth.Write, typeBatchInstanceResponse, true
	case *serviceQueryRequest:
		return &r.namingRequest, auth.Read, typeQueryServiceResponse, true
	case *subscribeServiceRequest:
		return &r.namingRequest, auth.Read, typeSubscribeServiceResponse, true
	case *serviceListRequest:
		return &r.namingRequest, auth.Read, typeServiceListResponse, true
	}
	return nil, "", "", false
}

// authorize checks a decoded request against Options.Auth. On refusal it
// returns the answer Nacos's RemoteRequestAuthFilter gives: the handler's
// own response type with resultCode 500, errorCode 403 and the reason
// ("user not found!", "token expired!", "authorization failed!", ...).
func (s *Server) authorize(in *nacospb.Payload, req any) *nacospb.Payload {
	g := s.o.Auth
	if g == nil || !g.Enabled() {
		return nil
	}
	nr, action, respType, ok := accessOf(req)
	if !ok {
		return nil
	}
	err := g.Check(grpcCredentials(in.Headers, nr.Headers, g.IdentityKey()), nr.resource(), action, s.o.Now())
	if err == nil {
		return nil
	}
	s.m.request(in.Type, CodeNoRight)
	s.log.Debug("access denied", "type", in.Type, "reason", auth.Message(err))
	return reply(respType, responseHead{ResultCode: CodeServerError, ErrorCode: CodeNoRight,
		Message: auth.Message(err), RequestID: nr.RequestID})
}

// resource is the naming resource the request touches, parsed as the
// handler parses it so that a grouped serviceName cannot reach a group
// other than the one checked.
func (r *namingRequest) resource() auth.Resource {
	if strings.TrimSpace(r.ServiceName) != "" {
		if k, err := r.serviceKey(); err == nil {
			return auth.Resource{Namespace: k.Namespace, Group: k.Group, Service: k.Name}
		}
	}
	return auth.Resource{Namespace: naming.NormalizeNamespace(r.Namespace), Group: r.GroupName, Service: r.ServiceName}
}

// grpcCredentials reads the identity from the payload's metadata headers,
// where the SDKs put accessToken, then from the request body's headers.
func grpcCredentials(meta, body map[string]string, identityKey string) auth.Credentials {
	pick := func(name string) string {
		if v := meta[name]; v != "" {
			return v
		}
		return body[name]
	}
	var c auth.Credentials
	if b, ok := strings.CutPrefix(pick("Authorization"), "Bearer "); ok && b != "" {
		c.Token = b
	} else {
		c.Token = pick("accessToken")
	}
	c.Username, c.Password = pick("username"), pick("password")
	if identityKey != "" {
		c.Identity = pick(identityKey)
	}
	return c
}
