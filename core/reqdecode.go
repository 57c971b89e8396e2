package core

import (
	"unicode/utf8"

	pb "go.etcd.io/etcd/api/v3/etcdserverpb"
	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"
)

// A follower decodes every entry the leader proposed. proto.Unmarshal gave
// a txn-put nine allocations (each message, the op slice, the oneof
// wrapper, key and value) and walked its oneof through reflection; the
// plain writes MarshalRequest encodes by hand are decoded by hand too,
// into messages allocated together by op. Anything else (another kind of
// request, a field this code does not know, a field proto.Unmarshal would
// merge rather than set) goes to proto.Unmarshal, so the result is always
// proto.Unmarshal's.
//
// An entry's bytes fields are slices of its data, not copies: entry data
// is never modified (the proposal's encoding, the transport's decoding
// and the WAL's give every entry bytes of its own, and packedLog never
// rewrites them), and a put's event, which outlives the apply, refers to
// the store's record on the memory engine (see Store.putKV). A copy cost a
// follower an allocation the size of the entry for every write.

// UnmarshalRequest decodes data as proto.Unmarshal does. The request's
// bytes fields alias data, which must not change while the request or
// what the store returns for it (events, responses) is in use.
func UnmarshalRequest(data []byte) (*pb.InternalRaftRequest, error) {
	return unmarshalRequest(data, nil)
}

// unmarshalRequest is UnmarshalRequest decoding a plain put into *put
// (cleared first) when put is not nil: the request it returns is then
// valid only until put is used again.
func unmarshalRequest(data []byte, put *putWrite) (*pb.InternalRaftRequest, error) {
	d := decoder{size: len(data), alias: true, into: put}
	if req, ok := d.write(data); ok {
		return req, nil
	}
	req := &pb.InternalRaftRequest{}
	return req, proto.Unmarshal(data, req)
}

// decoder copies the bytes fields of one request into arena, allocated at
// the first one with room for the whole input, which holds them all (they
// are parts of it); with alias, it slices them from the input instead.
type decoder struct {
	size  int
	alias bool
	arena []byte
	into  *putWrite // where a plain put goes; nil: a new one
}

// bytes returns v (with alias) or a copy of v in the arena; nil when v is
// empty, as proto.Unmarshal leaves a proto3 bytes field.
func (d *decoder) bytes(v []byte) []byte {
	if len(v) == 0 {
		return nil
	}
	if d.alias {
		return v[:len(v):len(v)]
	}
	if d.arena == nil {
		d.arena = make([]byte, 0, d.size)
	}
	start := len(d.arena)
	d.arena = append(d.arena, v...)
	return d.arena[start:len(d.arena):len(d.arena)]
}

// field reads one field of msg: its number, wire type, varint value (for
// VarintType) or bytes (for BytesType), and the rest of msg. ok is false
// for malformed input and other wire types.
func field(msg []byte) (num protowire.Number, typ protowire.Type, v uint64, b, rest []byte, ok bool) {
	num, typ, n := protowire.ConsumeTag(msg)
	if n < 0 {
		return 0, 0, 0, nil, nil, false
	}
	msg = msg[n:]
	switch typ {
	case protowire.VarintType:
		v, n = protowire.ConsumeVarint(msg)
	case protowire.BytesType:
		b, n = protowire.ConsumeBytes(msg)
	default:
		return 0, 0, 0, nil, nil, false
	}
	if n < 0 {
		return 0, 0, 0, nil, nil, false
	}
	return num, typ, v, b, msg[n:], true
}

// A plain write's request, header and operation, allocated together.
type (
	putWrite struct {
		req pb.InternalRaftRequest
		hdr pb.RequestHeader
		op  pb.PutRequest
	}
	deleteWrite struct {
		req pb.InternalRaftRequest
		hdr pb.RequestHeader
		op  pb.DeleteRangeRequest
	}
	txnWrite struct {
		req pb.InternalRaftRequest
		hdr pb.RequestHeader
		op  pb.TxnRequest
	}
)

// write decodes a plain write: at most one header and exactly one put,
// delete or txn. ok is false for anything proto.Unmarshal must decode.
func (d *decoder) write(msg []byte) (*pb.InternalRaftRequest, bool) {
	var hdr, op []byte
	var kind protowire.Number
	hasHdr := false
	for rest := msg; len(rest) > 0; {
		num, typ, _, b, r, ok := field(rest)
		if !ok || typ != protowire.BytesType {
			return nil, false
		}
		rest = r
		// NB: a message field seen twice is merged by proto.Unmarshal.
		switch num {
		case fieldPut, fieldDeleteRange, fieldTxn:
			if kind != 0 {
				return nil, false
			}
			op, kind = b, num
		case fieldHeader:
			if hasHdr {
				return nil, false
			}
			hdr, hasHdr = b, true
		default:
			return nil, false
		}
	}
	var req *pb.InternalRaftRequest
	var h *pb.RequestHeader
	ok := false
	switch kind {
	case fieldPut:
		a := d.into
		if a == nil {
			a = new(putWrite)
		} else {
			*a = putWrite{}
		}
		req, h = &a.req, &a.hdr
		req.Put = &a.op
		ok = d.put(op, &a.op)
	case fieldDeleteRange:
		a := new(deleteWrite)
		req, h = &a.req, &a.hdr
		req.DeleteRange = &a.op
		ok = d.deleteRange(op, &a.op)
	case fieldTxn:
		a := new(txnWrite)
		req, h = &a.req, &a.hdr
		req.Txn = &a.op
		ok = d.txn(op, &a.op)
	}
	if ok && hasHdr {
		req.Header = h
		ok = d.header(hdr, h)
	}
	return req, ok
}

func (d *decoder) header(msg []byte, h *pb.RequestHeader) bool {
	for len(msg) > 0 {
		num, typ, v, b, rest, ok := field(msg)
		if !ok {
			return false
		}
		msg = rest
		switch {
		case num == 1 && typ == protowire.VarintType:
			h.ID = v
		case num == 2 && typ == protowire.BytesType:
			if !utf8.Valid(b) {
				return false // proto.Unmarshal's error
			}
			h.Username = string(b)
		case num == 3 && typ == protowire.VarintType:
			h.AuthRevision = v
		default:
			return false
		}
	}
	return true
}

func (d *decoder) put(msg []byte, p *pb.PutRequest) bool {
	for len(msg) > 0 {
		num, typ, v, b, rest, ok := field(msg)
		if !ok {
			return false
		}
		msg = rest
		switch {
		case num == 1 && typ == protowire.BytesType:
			p.Key = d.bytes(b)
		case num == 2 && typ == protowire.BytesType:
			p.Value = d.bytes(b)
		case num == 3 && typ == protowire.VarintType:
			p.Lease = int64(v)
		case num == 4 && typ == protowire.VarintType:
			p.PrevKv = v != 0
		case num == 5 && typ == protowire.VarintType:
			p.IgnoreValue = v != 0
		case num == 6 && typ == protowire.VarintType:
			p.IgnoreLease = v != 0
		default:
			return false
		}
	}
	return true
}

func (d *decoder) deleteRange(msg []byte, r *pb.DeleteRangeRequest) bool {
	for len(msg) > 0 {
		num, typ, v, b, rest, ok := field(msg)
		if !ok {
			return false
		}
		msg = rest
		switch {
		case num == 1 && typ == protowire.BytesType:
			r.Key = d.bytes(b)
		case num == 2 && typ == protowire.BytesType:
			r.RangeEnd = d.bytes(b)
		case num == 3 && typ == protowire.VarintType:
			r.PrevKv = v != 0
		default:
			return false
		}
	}
	return true
}

func (d *decoder) rangeRequest(msg []byte, r *pb.RangeRequest) bool {
	for len(msg) > 0 {
		num, typ, v, b, rest, ok := field(msg)
		if !ok {
			return false
		}
		msg = rest
		if typ == protowire.BytesType {
			switch num {
			case 1:
				r.Key = d.bytes(b)
			case 2:
				r.RangeEnd = d.bytes(b)
			default:
				return false
			}
			continue
		}
		switch num {
		case 3:
			r.Limit = int64(v)
		case 4:
			r.Revision = int64(v)
		case 5:
			r.SortOrder = pb.RangeRequest_SortOrder(int32(v))
		case 6:
			r.SortTarget = pb.RangeRequest_SortTarget(int32(v))
		case 7:
			r.Serializable = v != 0
		case 8:
			r.KeysOnly = v != 0
		case 9:
			r.CountOnly = v != 0
		case 10:
			r.MinModRevision = int64(v)
		case 11:
			r.MaxModRevision = int64(v)
		case 12:
			r.MinCreateRevision = int64(v)
		case 13:
			r.MaxCreateRevision = int64(v)
		default:
			return false
		}
	}
	return true
}

// compareAlloc is a compare with every member its target union may hold.
type compareAlloc struct {
	c       pb.Compare
	version pb.Compare_Version
	create  pb.Compare_CreateRevision
	mod     pb.Compare_ModRevision
	value   pb.Compare_Value
	lease   pb.Compare_Lease
}

func (d *decoder) compare(msg []byte) (*pb.Compare, bool) {
	a := new(compareAlloc)
	c := &a.c
	for len(msg) > 0 {
		num, typ, v, b, rest, ok := field(msg)
		if !ok {
			return nil, false
		}
		msg = rest
		if typ == protowire.BytesType {
			switch num {
			case 3:
				c.Key = d.bytes(b)
			case 7:
				// NB: a oneof member is set even when empty.
				a.value.Value = d.bytes(b)
				if a.value.Value == nil {
					a.value.Value = []byte{}
				}
				c.TargetUnion = &a.value
			case 64:
				c.RangeEnd = d.bytes(b)
			default:
				return nil, false
			}
			continue
		}
		switch num {
		case 1:
			c.Result = pb.Compare_CompareResult(int32(v))
		case 2:
			c.Target = pb.Compare_CompareTarget(int32(v))
		case 4:
			a.version.Version = int64(v)
			c.TargetUnion = &a.version
		case 5:
			a.create.CreateRevision = int64(v)
			c.TargetUnion = &a.create
		case 6:
			a.mod.ModRevision = int64(v)
			c.TargetUnion = &a.mod
		case 8:
			a.lease.Lease = int64(v)
			c.TargetUnion = &a.lease
		default:
			return nil, false
		}
	}
	return c, true
}

// An op's message, wrapper and request, allocated together.
type (
	rangeOp struct {
		op  pb.RequestOp
		w   pb.RequestOp_RequestRange
		req pb.RangeRequest
	}
	putOp struct {
		op  pb.RequestOp
		w   pb.RequestOp_RequestPut
		req pb.PutRequest
	}
	deleteOp struct {
		op  pb.RequestOp
		w   pb.RequestOp_RequestDeleteRange
		req pb.DeleteRangeRequest
	}
	txnOp struct {
		op  pb.RequestOp
		w   pb.RequestOp_RequestTxn
		req pb.TxnRequest
	}
)

// requestOp decodes an op holding one request, as every encoder writes
// it (proto.Unmarshal merges or replaces a second one).
func (d *decoder) requestOp(msg []byte) (*pb.RequestOp, bool) {
	if len(msg) == 0 {
		return nil, false
	}
	num, typ, _, b, rest, ok := field(msg)
	if !ok || typ != protowire.BytesType || len(rest) > 0 {
		return nil, false
	}
	switch num {
	case 1:
		a := new(rangeOp)
		a.w.RequestRange, a.op.Request = &a.req, &a.w
		return &a.op, d.rangeRequest(b, &a.req)
	case 2:
		a := new(putOp)
		a.w.RequestPut, a.op.Request = &a.req, &a.w
		return &a.op, d.put(b, &a.req)
	case 3:
		a := new(deleteOp)
		a.w.RequestDeleteRange, a.op.Request = &a.req, &a.w
		return &a.op, d.deleteRange(b, &a.req)
	case 4:
		a := new(txnOp)
		a.w.RequestTxn, a.op.Request = &a.req, &a.w
		return &a.op, d.txn(b, &a.req)
	}
	return nil, false
}

func (d *decoder) txn(msg []byte, t *pb.TxnRequest) bool {
	// Count first, so that each list is allocated once at its length.
	var counts [4]int
	for rest := msg; len(rest) > 0; {
		num, typ, _, _, r, ok := field(rest)
		if !ok || typ != protowire.BytesType || num < 1 || num > 3 {
			return false
		}
		counts[num]++
		rest = r
	}
	if counts[1] > 0 {
		t.Compare = make([]*pb.Compare, 0, counts[1])
	}
	if counts[2] > 0 {
		t.Success = make([]*pb.RequestOp, 0, counts[2])
	}
	if counts[3] > 0 {
		t.Failure = make([]*pb.RequestOp, 0, counts[3])
	}
	for len(msg) > 0 {
		num, _, _, b, rest, _ := field(msg)
		msg = rest
		if num == 1 {
			c, ok := d.compare(b)
			if !ok {
				return false
			}
			t.Compare = append(t.Compare, c)
			continue
		}
		op, ok := d.requestOp(b)
		if !ok {
			return false
		}
		if num == 2 {
			t.Success = append(t.Success, op)
		} else {
			t.Failure = append(t.Failure, op)
		}
	}
	return true
}

// UnmarshalPutRequest decodes a client's PutRequest into p as
// proto.Unmarshal does, its key and value copied into one allocation (a
// server may reuse data's buffer; each is capped at its length, so an
// append to one cannot reach the other).
func UnmarshalPutRequest(data []byte, p *pb.PutRequest) error {
	p.Reset()
	d := decoder{size: len(data)}
	if d.put(data, p) {
		return nil
	}
	// NB: proto.Unmarshal clears what the hand decoding left in p.
	return proto.Unmarshal(data, p)
}

// UnmarshalTxnRequest decodes a client's TxnRequest into t as
// proto.Unmarshal does, by hand for the txns plain writes carry: what
// proto.Unmarshal spends on a txn-put's oneof and its seven allocations
// (four with this) is a gRPC server's to save, which decodes every txn a
// client sends before the service sees it.
func UnmarshalTxnRequest(data []byte, t *pb.TxnRequest) error {
	t.Reset()
	d := decoder{size: len(data)} // NB: copies; a server may reuse data's buffer
	if d.txn(data, t) {
		return nil
	}
	// NB: proto.Unmarshal clears what the hand decoding left in t.
	return proto.Unmarshal(data, t)
}
