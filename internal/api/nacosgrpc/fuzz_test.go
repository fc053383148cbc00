package nacosgrpc

import (
	"math"
	"testing"

	"github.com/distrod/distrod/internal/naming"
)

// FuzzDecodeRequest feeds arbitrary type names and bodies to the request
// decoder: it must return a typed request or a 302/502 error, never panic.
func FuzzDecodeRequest(f *testing.F) {
	f.Add(typeInstanceRequest, []byte(instanceBody))
	f.Add(typeBatchInstanceRequest, []byte(`{"namespace":"public","serviceName":"s","groupName":"g","type":"batchRegisterInstance","instances":[{"ip":"1.1.1.1","port":1}]}`))
	f.Add(typeSubscribeServiceRequest, []byte(`{"namespace":"public","serviceName":"s","subscribe":true,"clusters":"a,b"}`))
	f.Add(typeServiceQueryRequest, []byte(`{"serviceName":"s","cluster":"","healthyOnly":true,"udpPort":0}`))
	f.Add(typeServiceListRequest, []byte(`{"groupName":"G","pageNo":1,"pageSize":10,"selector":""}`))
	f.Add(typeHealthCheckRequest, []byte(`{"requestId":"","module":"internal"}`))
	f.Add("DistroDataRequest", []byte(`{}`))
	f.Add("Nope", []byte(`{`))
	f.Add(typeInstanceRequest, []byte(`{"instance":{"port":"1"}}`))
	f.Fuzz(func(t *testing.T, typ string, body []byte) {
		req, err := decodeRequest(typ, body)
		if err != nil {
			if req != nil || (err.code != CodeNoHandler && err.code != CodeBadGateway) {
				t.Fatalf("decodeRequest(%q) = %v, %v", typ, req, err)
			}
			return
		}
		// What handlers do first must not panic either.
		switch r := req.(type) {
		case *instanceRequest:
			_, _ = r.serviceKey()
			in := r.Instance.toNaming()
			_ = in.Normalize()
		case *batchInstanceRequest:
			_, _ = r.serviceKey()
			for i := range r.Instances {
				in := r.Instances[i].toNaming()
				_ = in.Normalize()
			}
		case *subscribeServiceRequest:
			_, _ = r.serviceKey()
		case *serviceQueryRequest:
			_, _ = r.serviceKey()
		case *serviceListRequest, *healthCheckRequest, *serverCheckRequest:
		default:
			t.Fatalf("decodeRequest(%q) returned %T", typ, req)
		}
	})
}

func TestServer_ServiceListPagingClampsLikeNacos(t *testing.T) {
	e := startEnv(t, nil)
	for _, n := range []string{"a", "b", "c"} {
		e.store.Publish(1, "c1", naming.NewServiceKey("", "", n), naming.Publication{Instances: []naming.Instance{{IP: "1.1.1.1", Port: 1}}})
	}
	for _, c := range []struct {
		pageNo, pageSize int
		want             []string
	}{
		{1, 2, []string{"a", "b"}}, {2, 2, []string{"c"}}, {3, 2, nil}, {0, 2, []string{"a", "b"}}, {-5, 2, []string{"a", "b"}},
		{1, 0, nil}, {1, -1, nil}, {math.MaxInt, math.MaxInt, nil}, {2, math.MaxInt, nil}, {1, math.MaxInt, []string{"a", "b", "c"}},
	} {
		_, resp, err := e.srv.handleList(&serviceListRequest{PageNo: c.pageNo, PageSize: c.pageSize})
		r := resp.(serviceListResponse)
		if err != nil || r.Count != 3 || len(r.ServiceNames) != len(c.want) || r.ServiceNames == nil {
			t.Fatalf("page %d/%d = %+v, %v; want %v", c.pageNo, c.pageSize, r, err, c.want)
		}
		for i := range c.want {
			if r.ServiceNames[i] != c.want[i] {
				t.Fatalf("page %d/%d = %v; want %v", c.pageNo, c.pageSize, r.ServiceNames, c.want)
			}
		}
	}
}
