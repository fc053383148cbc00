package naming

import (
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"sort"
	"sync"

	"google.golang.org/protobuf/encoding/protowire"
)

// Publication records travel between nodes in a compact binary form (a
// protobuf wire encoding written by hand, so decoding needs no reflection):
//
//	record   = 0x01 publication
//	publication: 1 batch (varint), 2 instance (bytes, repeated)
//	instance: 1 instanceId, 2 ip, 3 port (varint), 4 weight (fixed64 IEEE
//	          754), 5 healthy, 6 enabled, 7 ephemeral (varint), 8 cluster,
//	          9 metadata entry (bytes: 1 key, 2 value), entries sorted by key,
//	          10 last beat (varint, Unix ms on the writer's clock; 0 or
//	          absent: unknown, the receiver uses its own time)
//
// Unknown fields are skipped, so fields can be added later. Data that starts
// with '{' is the JSON form earlier builds wrote.
const codecV1 = 0x01

var errBadRecord = errors.New("naming: malformed record data")

func encodePublication(p *Publication) []byte {
	b := make([]byte, 0, 16+len(p.Instances)*64)
	b = append(b, codecV1)
	if p.Batch {
		b = protowire.AppendTag(b, 1, protowire.VarintType)
		b = protowire.AppendVarint(b, 1)
	}
	var inst []byte
	for i := range p.Instances {
		inst = appendInstance(inst[:0], &p.Instances[i])
		b = protowire.AppendTag(b, 2, protowire.BytesType)
		b = protowire.AppendBytes(b, inst)
	}
	return b
}

func appendString(b []byte, num protowire.Number, s string) []byte {
	if s == "" {
		return b
	}
	b = protowire.AppendTag(b, num, protowire.BytesType)
	return protowire.AppendString(b, s)
}

func appendBool(b []byte, num protowire.Number, v bool) []byte {
	if !v {
		return b
	}
	b = protowire.AppendTag(b, num, protowire.VarintType)
	return protowire.AppendVarint(b, 1)
}

func appendInstance(b []byte, in *Instance) []byte {
	b = appendString(b, 1, in.InstanceID)
	b = appendString(b, 2, in.IP)
	b = protowire.AppendTag(b, 3, protowire.VarintType)
	b = protowire.AppendVarint(b, uint64(in.Port))
	b = protowire.AppendTag(b, 4, protowire.Fixed64Type)
	b = protowire.AppendFixed64(b, math.Float64bits(in.Weight))
	b = appendBool(b, 5, in.Healthy)
	b = appendBool(b, 6, in.Enabled)
	b = appendBool(b, 7, in.Ephemeral)
	b = appendString(b, 8, in.ClusterName)
	if len(in.Metadata) > 0 {
		keys := make([]string, 0, len(in.Metadata))
		for k := range in.Metadata {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			v := in.Metadata[k]
			b = protowire.AppendTag(b, 9, protowire.BytesType)
			b = protowire.AppendVarint(b, uint64(protowire.SizeTag(1)+protowire.SizeBytes(len(k))+protowire.SizeTag(2)+protowire.SizeBytes(len(v))))
			b = protowire.AppendTag(b, 1, protowire.BytesType)
			b = protowire.AppendString(b, k)
			b = protowire.AppendTag(b, 2, protowire.BytesType)
			b = protowire.AppendString(b, v)
		}
	}
	if in.LastBeat > 0 {
		b = protowire.AppendTag(b, 10, protowire.VarintType)
		b = protowire.AppendVarint(b, uint64(in.LastBeat))
	}
	return b
}

// decodePublication decodes record data in either form.
func decodePublication(data []byte) (*Publication, error) {
	if len(data) > 0 && data[0] == '{' {
		var w struct {
			Batch     bool       `json:"b,omitempty"`
			Instances []Instance `json:"i"`
		}
		if err := json.Unmarshal(data, &w); err != nil {
			return nil, fmt.Errorf("%w: %w", errBadRecord, err)
		}
		return &Publication{Batch: w.Batch, Instances: append([]Instance(nil), w.Instances...)}, nil
	}
	if len(data) == 0 || data[0] != codecV1 {
		return nil, fmt.Errorf("%w: unknown encoding", errBadRecord)
	}
	p := &Publication{}
	n := 0
	err := walk(data[1:], func(num protowire.Number, typ protowire.Type, v []byte, x uint64) error {
		if num == 2 && typ == protowire.BytesType {
			n++
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	p.Instances = make([]Instance, 0, n)
	var scratch []byte
	err = walk(data[1:], func(num protowire.Number, typ protowire.Type, v []byte, x uint64) error {
		switch {
		case num == 1 && typ == protowire.VarintType:
			p.Batch = x != 0
		case num == 2 && typ == protowire.BytesType:
			var in Instance
			if err := decodeInstance(v, &in, &scratch); err != nil {
				return err
			}
			p.Instances = append(p.Instances, in)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return p, nil
}

// metaCache shares decoded metadata maps. The instances of a record, and
// of the many records a peer sends, mostly carry identical metadata, which
// the store interns anyway (internMetaLocked): decoding each copy into a
// map of its own only made garbage, a map per instance during a snapshot
// load. It is keyed by the encoded entries and emptied when full. Shared
// maps are never modified: stored metadata is replaced, never changed in
// place.
var metaCache struct {
	sync.Mutex
	m map[string]map[string]string
}

// metaCacheMax bounds the maps metaCache holds.
const metaCacheMax = 4096

// decodeMetadata returns the metadata map of the encoded entries enc (each
// length-prefixed), shared through metaCache.
func decodeMetadata(enc []byte) (map[string]string, error) {
	metaCache.Lock()
	m, ok := metaCache.m[string(enc)]
	metaCache.Unlock()
	if ok {
		return m, nil
	}
	m = make(map[string]string, 2)
	for b := enc; len(b) > 0; {
		v, n := protowire.ConsumeBytes(b)
		if n < 0 {
			return nil, fmt.Errorf("%w: %w", errBadRecord, protowire.ParseError(n))
		}
		b = b[n:]
		var k, val string
		err := walk(v, func(num protowire.Number, _ protowire.Type, v []byte, _ uint64) error {
			switch num {
			case 1:
				k = string(v)
			case 2:
				val = string(v)
			}
			return nil
		})
		if err != nil {
			return nil, err
		}
		m[k] = val
	}
	metaCache.Lock()
	if metaCache.m == nil || len(metaCache.m) >= metaCacheMax {
		metaCache.m = make(map[string]map[string]string)
	}
	metaCache.m[string(enc)] = m
	metaCache.Unlock()
	return m, nil
}

// decodeInstance decodes one instance; scratch is a buffer it may reuse.
func decodeInstance(b []byte, in *Instance, scratch *[]byte) error {
	meta := (*scratch)[:0]
	defer func() { *scratch = meta[:0] }()
	err := walk(b, func(num protowire.Number, typ protowire.Type, v []byte, x uint64) error {
		switch num {
		case 1:
			in.InstanceID = string(v)
		case 2:
			in.IP = string(v)
		case 3:
			if x > math.MaxInt32 {
				return fmt.Errorf("%w: port %d", errBadRecord, x)
			}
			in.Port = int(x)
		case 4:
			in.Weight = math.Float64frombits(x)
		case 5:
			in.Healthy = x != 0
		case 6:
			in.Enabled = x != 0
		case 7:
			in.Ephemeral = x != 0
		case 8:
			if string(v) == DefaultCluster {
				in.ClusterName = DefaultCluster // no copy of the common name
			} else {
				in.ClusterName = string(v)
			}
		case 9:
			meta = protowire.AppendBytes(meta, v) // v is nil (an empty entry) unless a bytes field
		case 10:
			if x > math.MaxInt64 {
				return fmt.Errorf("%w: last beat %d", errBadRecord, x)
			}
			in.LastBeat = int64(x)
		}
		return nil
	})
	if err != nil || len(meta) == 0 {
		return err
	}
	in.Metadata, err = decodeMetadata(meta)
	return err
}

// walk calls fn for each field of one message: v for bytes fields, x for
// varint and fixed64 fields.
func walk(b []byte, fn func(num protowire.Number, typ protowire.Type, v []byte, x uint64) error) error {
	for len(b) > 0 {
		num, typ, n := protowire.ConsumeTag(b)
		if n < 0 {
			return fmt.Errorf("%w: %w", errBadRecord, protowire.ParseError(n))
		}
		b = b[n:]
		var v []byte
		var x uint64
		switch typ {
		case protowire.BytesType:
			v, n = protowire.ConsumeBytes(b)
		case protowire.VarintType:
			x, n = protowire.ConsumeVarint(b)
		case protowire.Fixed64Type:
			x, n = protowire.ConsumeFixed64(b)
		default:
			n = protowire.ConsumeFieldValue(num, typ, b)
		}
		if n < 0 {
			return fmt.Errorf("%w: %w", errBadRecord, protowire.ParseError(n))
		}
		b = b[n:]
		if err := fn(num, typ, v, x); err != nil {
			return err
		}
	}
	return nil
}
