package nacospb

import (
	"errors"
	"fmt"
	"sort"

	"google.golang.org/protobuf/encoding/protowire"
)

// ErrMalformed is returned for bytes that are not a valid Payload.
var ErrMalformed = errors.New("nacospb: malformed payload")

// Payload is one Nacos gRPC message: the metadata fields flattened, and the
// JSON body.
type Payload struct {
	// Type is Metadata.type: the request or response class name.
	Type string
	// Headers is Metadata.headers (auth token, app name, ...).
	Headers map[string]string
	// ClientIP is Metadata.clientIp: the sender's own idea of its IP.
	ClientIP string
	// Body is the JSON document carried in body.value.
	Body []byte
	// BodyTail, when set, is sent right after Body in the same body.value:
	// the document on the wire is Body followed by BodyTail. Codec then
	// references Body instead of copying it, so one read-only Body (a push
	// built once) can be shared by the messages to many connections, each
	// with its own small tail. Unmarshal never sets it.
	BodyTail []byte
}

// Field numbers of the Nacos proto.
const (
	fieldPayloadMetadata = 2
	fieldPayloadBody     = 3
	fieldMetaType        = 3
	fieldMetaHeaders     = 7
	fieldMetaClientIP    = 8
	fieldMapKey          = 1
	fieldMapValue        = 2
	fieldAnyTypeURL      = 1
	fieldAnyValue        = 2
)

// Size returns the encoded size of p in bytes.
func (p *Payload) Size() int {
	meta := p.metaSize()
	n := 0
	if meta > 0 {
		n += protowire.SizeTag(fieldPayloadMetadata) + protowire.SizeBytes(meta)
	}
	if body := p.bodyLen(); body > 0 {
		anyLen := protowire.SizeTag(fieldAnyValue) + protowire.SizeBytes(body)
		n += protowire.SizeTag(fieldPayloadBody) + protowire.SizeBytes(anyLen)
	}
	return n
}

// bodyLen is the length of the body document on the wire.
func (p *Payload) bodyLen() int { return len(p.Body) + len(p.BodyTail) }

func (p *Payload) metaSize() int {
	n := 0
	if p.Type != "" {
		n += protowire.SizeTag(fieldMetaType) + protowire.SizeBytes(len(p.Type))
	}
	for k, v := range p.Headers {
		e := entrySize(k, v)
		n += protowire.SizeTag(fieldMetaHeaders) + protowire.SizeBytes(e)
	}
	if p.ClientIP != "" {
		n += protowire.SizeTag(fieldMetaClientIP) + protowire.SizeBytes(len(p.ClientIP))
	}
	return n
}

func entrySize(k, v string) int {
	return protowire.SizeTag(fieldMapKey) + protowire.SizeBytes(len(k)) +
		protowire.SizeTag(fieldMapValue) + protowire.SizeBytes(len(v))
}

// Marshal encodes p in protobuf wire format. Header entries are written in
// sorted key order so the output is deterministic.
func (p *Payload) Marshal() []byte {
	return p.AppendMarshal(make([]byte, 0, p.Size()))
}

// AppendMarshal appends the encoding of p to b and returns the result.
func (p *Payload) AppendMarshal(b []byte) []byte {
	b = p.appendHead(b)
	b = append(b, p.Body...)
	return append(b, p.BodyTail...)
}

// appendHead appends everything of p's encoding before the body document.
func (p *Payload) appendHead(b []byte) []byte {
	if meta := p.metaSize(); meta > 0 {
		b = protowire.AppendTag(b, fieldPayloadMetadata, protowire.BytesType)
		b = protowire.AppendVarint(b, uint64(meta))
		if p.Type != "" {
			b = protowire.AppendTag(b, fieldMetaType, protowire.BytesType)
			b = protowire.AppendString(b, p.Type)
		}
		if len(p.Headers) > 0 {
			keys := make([]string, 0, len(p.Headers))
			for k := range p.Headers {
				keys = append(keys, k)
			}
			sort.Strings(keys)
			for _, k := range keys {
				v := p.Headers[k]
				b = protowire.AppendTag(b, fieldMetaHeaders, protowire.BytesType)
				b = protowire.AppendVarint(b, uint64(entrySize(k, v)))
				b = protowire.AppendTag(b, fieldMapKey, protowire.BytesType)
				b = protowire.AppendString(b, k)
				b = protowire.AppendTag(b, fieldMapValue, protowire.BytesType)
				b = protowire.AppendString(b, v)
			}
		}
		if p.ClientIP != "" {
			b = protowire.AppendTag(b, fieldMetaClientIP, protowire.BytesType)
			b = protowire.AppendString(b, p.ClientIP)
		}
	}
	if body := p.bodyLen(); body > 0 {
		b = protowire.AppendTag(b, fieldPayloadBody, protowire.BytesType)
		b = protowire.AppendVarint(b, uint64(protowire.SizeTag(fieldAnyValue)+protowire.SizeBytes(body)))
		b = protowire.AppendTag(b, fieldAnyValue, protowire.BytesType)
		b = protowire.AppendVarint(b, uint64(body))
	}
	return b
}

// Unmarshal decodes b into p, replacing its contents. Unknown fields are
// skipped, as protobuf requires. Body aliases no memory of b.
func (p *Payload) Unmarshal(b []byte) error {
	*p = Payload{}
	return forEachField(b, func(num protowire.Number, typ protowire.Type, v []byte) error {
		switch {
		case num == fieldPayloadMetadata && typ == protowire.BytesType:
			return p.unmarshalMeta(v)
		case num == fieldPayloadBody && typ == protowire.BytesType:
			return forEachField(v, func(num protowire.Number, typ protowire.Type, v []byte) error {
				if num == fieldAnyValue && typ == protowire.BytesType {
					p.Body = append([]byte(nil), v...)
				}
				return nil
			})
		}
		return nil
	})
}

func (p *Payload) unmarshalMeta(b []byte) error {
	return forEachField(b, func(num protowire.Number, typ protowire.Type, v []byte) error {
		if typ != protowire.BytesType {
			return nil
		}
		switch num {
		case fieldMetaType:
			p.Type = string(v)
		case fieldMetaClientIP:
			p.ClientIP = string(v)
		case fieldMetaHeaders:
			var key, val string
			err := forEachField(v, func(num protowire.Number, typ protowire.Type, v []byte) error {
				if typ == protowire.BytesType {
					switch num {
					case fieldMapKey:
						key = string(v)
					case fieldMapValue:
						val = string(v)
					}
				}
				return nil
			})
			if err != nil {
				return err
			}
			if p.Headers == nil {
				p.Headers = make(map[string]string, 2)
			}
			p.Headers[key] = val
		}
		return nil
	})
}

// forEachField walks the top-level fields of one message. For bytes fields v
// is the content; for other wire types v is nil.
func forEachField(b []byte, fn func(protowire.Number, protowire.Type, []byte) error) error {
	for len(b) > 0 {
		num, typ, n := protowire.ConsumeTag(b)
		if n < 0 {
			return fmt.Errorf("%w: %w", ErrMalformed, protowire.ParseError(n))
		}
		b = b[n:]
		var v []byte
		if typ == protowire.BytesType {
			v, n = protowire.ConsumeBytes(b)
		} else {
			n = protowire.ConsumeFieldValue(num, typ, b)
		}
		if n < 0 {
			return fmt.Errorf("%w: %w", ErrMalformed, protowire.ParseError(n))
		}
		b = b[n:]
		if err := fn(num, typ, v); err != nil {
			return err
		}
	}
	return nil
}
