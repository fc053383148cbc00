// Package push delivers service changes to the subscribers held by this
// node: Nacos 2.x SDK connections (NotifySubscriberRequest over the gRPC
// bi-stream) and Nacos 1.x clients (UDP datagrams).
//
// The Engine is fed by naming.Store.OnChange. Changes to one service are
// merged for Options.Delay (the first change anchors the deadline), then
// every subscriber of the service gets the full, freshly built service view
// filtered by its own cluster list.
//
// Per target (a connection or a UDP address) the engine keeps a set of
// pending (service, clusters) keys, not payloads: the payload is built when
// the push is sent, so a client that does not read merges naturally into
// "the latest view per service" and its queue can never hold more entries
// than it has subscriptions (and never more than Options.QueueSize). One push
// per target is in flight at a time, so a slow client delays only itself.
//
// A gRPC push body is built once per service view (service and cluster
// list) and change, by the first worker that needs it while the others
// wait, and shared by every subscriber of that view: the requestId, the
// only field that differs, comes last, so a push is the shared head plus
// a tail of a few bytes. Targets that implement SharedTarget (the gRPC
// connections) send the head without copying it (nacospb.Payload.BodyTail),
// so a change fanned out to thousands of connections is encoded once and
// copied only by the transport that writes it to each socket.
//
// UDP targets must be unicast: the engine refuses unspecified, multicast,
// link-local, reserved (240/4, with 255.255.255.255) and this host's
// directed broadcast addresses, and sends at most Options.UDPRate
// datagrams a second to one target.
//
// The engine only delivers. The serviceInfo documents it pushes are built
// and stamped by a nacoswire.Builder (Options.Wire), which the gRPC API
// also builds its subscribe and query answers with, and the requestIds of
// its pushes come from that builder's Stamps: every serviceInfo a client
// sees carries a strictly increasing lastRefTime and content never older
// than any view stamped earlier.
//
// Lock order: Engine.mu before nothing (it is a leaf; Store calls happen
// outside it); the builder's stripes before naming.Store.mu.
package push
