package nacoshttp

import (
	"context"
	"net/http"
	"strconv"
	"strings"
)

// Loader moves SDK connections between members: the node side of Nacos's
// /v2/core/loader API (ServerLoaderController). The server package
// implements it over the gRPC server and the member list.
type Loader interface {
	// Current lists this node's connections by id, in the shape of Nacos's
	// Connection objects.
	Current() any
	// ReloadCount keeps count SDK connections on this node and asks every
	// other SDK connection to move with ConnectResetRequest, to redirect
	// ("ip:port" of a member's HTTP port) or, when redirect is empty, to a
	// server of the client's choosing.
	ReloadCount(ctx context.Context, count int, redirect string)
	// ReloadClient asks one connection to move, as ReloadCount does.
	ReloadClient(ctx context.Context, id, redirect string)
	// Cluster gathers every member's loader metrics. r's credentials are
	// presented to the members.
	Cluster(ctx context.Context, r *http.Request) any
	// SmartReload moves connections from members above the average by more
	// than factor to members below it by more than factor. It reports
	// whether every member it asked agreed.
	SmartReload(ctx context.Context, r *http.Request, factor float64) bool
}

// defaultLoaderFactor is Nacos's RemoteUtils.LOADER_FACTOR.
const defaultLoaderFactor = 0.1

// registerLoader mounts /v2/core/loader/*. Nacos maps every one of them to
// GET only; with auth on they need ROLE_ADMIN.
func (s *server) registerLoader() {
	if s.o.Loader == nil {
		return
	}
	l := func(path, api string, fn func(*call) (any, error)) {
		s.handle("/v2/core/loader"+path, ms(get), endpoint{api: api, fn: fn})
	}
	l("/current", "core_loader_current", func(c *call) (any, error) { return c.s.o.Loader.Current(), nil })
	l("/reloadCurrent", "core_loader_reload_current", (*call).loaderReloadCurrent)
	l("/reloadClient", "core_loader_reload_client", (*call).loaderReloadClient)
	l("/cluster", "core_loader_cluster", func(c *call) (any, error) { return c.s.o.Loader.Cluster(c.r.Context(), c.r), nil })
	l("/smartReloadCluster", "core_loader_smart_reload", (*call).loaderSmartReload)
}

// redirectAddress reads redirectAddress; Nacos uses it only when it has
// the "ip:port" shape, else the client chooses.
func (c *call) redirectAddress() string {
	v := c.optional("redirectAddress", "")
	if !strings.Contains(v, ":") {
		return ""
	}
	return v
}

func (c *call) loaderReloadCurrent() (any, error) {
	v := c.optional("count", "")
	if v == "" {
		return nil, missingRequestParam("count")
	}
	n, err := strconv.Atoi(v)
	if err != nil {
		return nil, badNumber(v)
	}
	c.s.o.Loader.ReloadCount(c.r.Context(), n, c.redirectAddress())
	return text("success"), nil
}

func (c *call) loaderReloadClient() (any, error) {
	id := c.optional("connectionId", "")
	if id == "" {
		return nil, missingRequestParam("connectionId")
	}
	c.s.o.Loader.ReloadClient(c.r.Context(), id, c.redirectAddress())
	return text("success"), nil
}

func (c *call) loaderSmartReload() (any, error) {
	f := defaultLoaderFactor
	if v := c.optional("loaderFactor", ""); v != "" {
		x, err := strconv.ParseFloat(v, 64)
		if err != nil || x < 0 || x >= 1 {
			return nil, newErr(http.StatusBadRequest, codeParameterValidate, "loaderFactor must be a number from 0 to 1, got %q", v)
		}
		f = x
	}
	if c.s.o.Loader.SmartReload(c.r.Context(), c.r, f) {
		return text("Ok"), nil
	}
	return text("Fail"), nil
}
