package push

import (
	"sort"

	"github.com/distrod/distrod/internal/naming"
)

// Subscription is one service a target subscribes to.
type Subscription struct {
	Service naming.ServiceKey
	// Clusters is the subscribed cluster list ("" for all).
	Clusters string
}

// SubscriptionsOf lists the subscriptions of target id (a connection id,
// or "udp:ip:port"), sorted by service.
func (e *Engine) SubscriptionsOf(id string) []Subscription {
	e.mu.Lock()
	defer e.mu.Unlock()
	tg := e.targets[id]
	if tg == nil {
		return nil
	}
	out := make([]Subscription, 0, len(tg.subs))
	for k := range tg.subs {
		out = append(out, Subscription{Service: k.svc, Clusters: k.clusters})
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].Service != out[j].Service {
			return out[i].Service.Less(out[j].Service)
		}
		return out[i].Clusters < out[j].Clusters
	})
	return out
}

// SubscribedServices lists the services with at least one subscriber on
// this node, sorted.
func (e *Engine) SubscribedServices() []naming.ServiceKey {
	e.mu.Lock()
	defer e.mu.Unlock()
	out := make([]naming.ServiceKey, 0, len(e.bySvc))
	for k, subs := range e.bySvc {
		if len(subs) > 0 {
			out = append(out, k)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Less(out[j]) })
	return out
}
