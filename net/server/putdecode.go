package server

import (
	pb "go.etcd.io/etcd/api/v3/etcdserverpb"
	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"
)

// PutRequest field numbers (etcd's rpc.proto).
const (
	putKey         = 1
	putValue       = 2
	putLease       = 3
	putPrevKV      = 4
	putIgnoreValue = 5
	putIgnoreLease = 6
)

// unmarshalPutRequest decodes b into p as proto.Unmarshal does. The key
// and value, which proto copies into an allocation each, share one here
// (each capped at its own length, so an append to one cannot reach the
// other). Anything it does not expect (another field, another wire type,
// a malformed field) goes to proto.Unmarshal, which keeps unknown fields
// and reports errors as it always has.
func unmarshalPutRequest(b []byte, p *pb.PutRequest) error {
	var key, value []byte
	var lease int64
	var prevKV, ignoreValue, ignoreLease bool
	for rest := b; len(rest) > 0; {
		num, typ, n := protowire.ConsumeTag(rest)
		if n < 0 {
			return proto.Unmarshal(b, p)
		}
		rest = rest[n:]
		switch {
		case (num == putKey || num == putValue) && typ == protowire.BytesType:
			v, n := protowire.ConsumeBytes(rest)
			if n < 0 {
				return proto.Unmarshal(b, p)
			}
			rest = rest[n:]
			if num == putKey {
				key = v
			} else {
				value = v
			}
		case num >= putLease && num <= putIgnoreLease && typ == protowire.VarintType:
			v, n := protowire.ConsumeVarint(rest)
			if n < 0 {
				return proto.Unmarshal(b, p)
			}
			rest = rest[n:]
			switch num {
			case putLease:
				lease = int64(v)
			case putPrevKV:
				prevKV = v != 0
			case putIgnoreValue:
				ignoreValue = v != 0
			case putIgnoreLease:
				ignoreLease = v != 0
			}
		default:
			return proto.Unmarshal(b, p)
		}
	}
	p.Reset()
	// proto leaves an empty bytes field nil.
	if len(key)+len(value) > 0 {
		buf := make([]byte, len(key)+len(value))
		copy(buf, key)
		copy(buf[len(key):], value)
		if len(key) > 0 {
			p.Key = buf[:len(key):len(key)]
		}
		if len(value) > 0 {
			p.Value = buf[len(key):]
		}
	}
	p.Lease, p.PrevKv, p.IgnoreValue, p.IgnoreLease = lease, prevKV, ignoreValue, ignoreLease
	return nil
}
