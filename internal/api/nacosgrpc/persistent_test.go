package nacosgrpc

import (
	"context"
	"strings"
	"sync"
	"testing"

	"github.com/distrod/distrod/internal/naming"
)

type fakePersistent struct {
	mu  sync.Mutex
	ins map[string]naming.Instance
}

func (f *fakePersistent) RegisterPersistent(_ context.Context, k naming.ServiceKey, in naming.Instance) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.ins[k.String()+"|"+in.Addr()] = in
	return nil
}

func (f *fakePersistent) DeregisterPersistent(_ context.Context, k naming.ServiceKey, in naming.Instance) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	delete(f.ins, k.String()+"|"+in.Addr())
	return nil
}

// TestServer_PersistentInstanceRequestGoesToTheRegistry: the Java client's
// PersistentInstanceRequest registers and deregisters through the
// persistent registry, and is refused without one.
func TestServer_PersistentInstanceRequestGoesToTheRegistry(t *testing.T) {
	body := strings.Replace(instanceBody, `"ephemeral":true`, `"ephemeral":false`, 1)

	plain := startEnv(t, nil)
	r0 := dialRaw(t, plain.addr)
	r0.setup()
	r0.waitRegistered()
	r0.mustCall(typePersistentInstanceRequest, body, typeErrorResponse, CodeInvalidParam)

	reg := &fakePersistent{ins: map[string]naming.Instance{}}
	e := startEnv(t, func(o *Options) { o.Persistent = reg })
	r := dialRaw(t, e.addr)
	r.setup()
	r.waitRegistered()
	r.mustCall(typePersistentInstanceRequest, body, typeInstanceResponse, 200)
	reg.mu.Lock()
	in, ok := reg.ins["public##DEFAULT_GROUP@@raw|10.9.0.1:80"]
	reg.mu.Unlock()
	if !ok || in.Ephemeral || in.ClusterName != naming.DefaultCluster {
		t.Fatalf("registry holds %+v %v", in, ok)
	}
	r.mustCall(typePersistentInstanceRequest, strings.Replace(body, "registerInstance", "deregisterInstance", 1), typeInstanceResponse, 200)
	reg.mu.Lock()
	n := len(reg.ins)
	reg.mu.Unlock()
	if n != 0 {
		t.Fatalf("%d instances left after deregister", n)
	}
}
