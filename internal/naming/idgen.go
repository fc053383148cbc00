package naming

import (
	"hash/fnv"
	"strconv"
	"sync"
	"time"
)

// Instance-id generator names (metadata preserved.instance.id.generator).
const (
	// IDGeneratorSimple derives the id from the instance's coordinates
	// when it is read (Instance.ID).
	IDGeneratorSimple = "simple"
	// IDGeneratorSnowflake gives the instance a unique number when it is
	// registered: "<snowflake>#<cluster>#<group@@service>", as Nacos's
	// SnowFlakeInstanceIdGenerator.
	IDGeneratorSnowflake = "snowflake"
)

// snowflakeEpoch is the start of the ids' 41-bit millisecond clock.
var snowflakeEpoch = time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC).UnixMilli()

// Snowflake generates 64-bit ids: 41 bits of milliseconds, 10 bits of
// worker (from the node's address, so members do not collide), 12 bits of
// sequence. It is safe for concurrent use.
type Snowflake struct {
	mu     sync.Mutex
	worker int64
	last   int64
	seq    int64
}

var (
	snowflakesMu sync.Mutex
	snowflakes   = map[string]*Snowflake{}
)

// SnowflakeFor returns node's generator, one per node address in the
// process, so that the HTTP and gRPC APIs of a node never draw the same id.
func SnowflakeFor(node string) *Snowflake {
	snowflakesMu.Lock()
	defer snowflakesMu.Unlock()
	g := snowflakes[node]
	if g == nil {
		g = NewSnowflake(node)
		snowflakes[node] = g
	}
	return g
}

// NewSnowflake returns a generator whose worker bits come from node.
func NewSnowflake(node string) *Snowflake {
	h := fnv.New32a()
	_, _ = h.Write([]byte(node))
	return &Snowflake{worker: int64(h.Sum32() & 0x3ff)}
}

// Next returns the next id at nowMs (Unix ms). Ids increase even when the
// clock steps back: the generator keeps its own last time.
func (g *Snowflake) Next(nowMs int64) int64 {
	g.mu.Lock()
	defer g.mu.Unlock()
	t := nowMs - snowflakeEpoch
	if t <= g.last {
		t = g.last
		g.seq = (g.seq + 1) & 0xfff
		if g.seq == 0 {
			t++
		}
	} else {
		g.seq = 0
	}
	g.last = t
	return t<<22 | g.worker<<12 | g.seq
}

// AssignID gives in its id at registration when its generator needs one
// (snowflake) and the client chose none; other generators leave it empty
// for Instance.ID to derive.
func (g *Snowflake) AssignID(nowMs int64, in *Instance, svc ServiceKey) {
	if in.InstanceID != "" || in.IDGenerator() != IDGeneratorSnowflake {
		return
	}
	cluster := in.ClusterName
	if cluster == "" {
		cluster = DefaultCluster
	}
	in.InstanceID = strconv.FormatInt(g.Next(nowMs), 10) + "#" + cluster + "#" + svc.Grouped()
}

// AssignID is Snowflake.AssignID for a registration by clientID in svc,
// except that a client registering an endpoint it already holds there
// keeps that endpoint's id: SDKs re-register on every reconnect (and some
// twice at startup), and a new id each time would churn every subscriber's
// view of an instance that did not change.
func (s *Store) AssignID(g *Snowflake, nowMs int64, clientID string, svc ServiceKey, in *Instance) {
	if in.InstanceID != "" || in.IDGenerator() != IDGeneratorSnowflake {
		return
	}
	cluster := in.ClusterName
	if cluster == "" {
		cluster = DefaultCluster
	}
	s.mu.RLock()
	if c := s.clients[clientID]; c != nil {
		if p := c.services.get(svc); p != nil {
			for i := range p.Instances {
				o := &p.Instances[i] // stored instances are normalized
				if o.IP == in.IP && o.Port == in.Port && o.ClusterName == cluster && o.InstanceID != "" {
					in.InstanceID = o.InstanceID
					s.mu.RUnlock()
					return
				}
			}
		}
	}
	s.mu.RUnlock()
	g.AssignID(nowMs, in, svc)
}
