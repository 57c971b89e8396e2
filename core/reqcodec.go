package core

import (
	pb "go.etcd.io/etcd/api/v3/etcdserverpb"
	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"
)

// The writes clients send (put, delete, txn) are encoded here by hand
// rather than by proto.Marshal, whose table-driven walk of a txn (three
// nested messages and a oneof per op) cost a txn-put more than its whole
// apply, and which a size check before proposing walked once more. The
// bytes are proto.Marshal's: fields in number order but oneof members
// last, proto3 zero values left out, oneof members always written. Requests of any other kind, or
// carrying fields this code does not know (unknown fields kept from the
// client's encoding), or nil where the marshaler would have to guess, go
// to proto.Marshal.

// MarshalRequest encodes req as proto.Marshal does.
func MarshalRequest(req *pb.InternalRaftRequest) ([]byte, error) {
	if !plainWrite(req) {
		return proto.Marshal(req)
	}
	return appendWrite(make([]byte, 0, sizeWrite(req)), req), nil
}

// RequestSize is len(MarshalRequest(req)), as proto.Size.
func RequestSize(req *pb.InternalRaftRequest) int {
	if plainWrite(req) {
		return sizeWrite(req)
	}
	return proto.Size(req)
}

// PutRequestSize is proto.Size(p).
func PutRequestSize(p *pb.PutRequest) int {
	if !hasUnknown(p) {
		return sizePut(p)
	}
	return proto.Size(p)
}

// InternalRaftRequest's fields written here, by number.
const (
	fieldPut         = 4
	fieldDeleteRange = 5
	fieldTxn         = 6
	fieldHeader      = 100
)

// plainWrite reports whether req holds a header (or none) and exactly one
// of a put, a delete or a txn, and nothing else: no unknown fields in any
// of its messages, no nil op or compare.
func plainWrite(req *pb.InternalRaftRequest) bool {
	n := 0
	for _, set := range [...]bool{req.Put != nil, req.DeleteRange != nil, req.Txn != nil} {
		if set {
			n++
		}
	}
	return n == 1 && req.ID == 0 && req.Range == nil && req.Compaction == nil &&
		req.LeaseGrant == nil && req.LeaseRevoke == nil && req.Alarm == nil &&
		req.LeaseCheckpoint == nil && req.AuthEnable == nil && req.AuthDisable == nil &&
		req.AuthStatus == nil && req.Authenticate == nil && req.AuthUserAdd == nil &&
		req.AuthUserDelete == nil && req.AuthUserGet == nil && req.AuthUserChangePassword == nil &&
		req.AuthUserGrantRole == nil && req.AuthUserRevokeRole == nil && req.AuthUserList == nil &&
		req.AuthRoleList == nil && req.AuthRoleAdd == nil && req.AuthRoleDelete == nil &&
		req.AuthRoleGet == nil && req.AuthRoleGrantPermission == nil &&
		req.AuthRoleRevokePermission == nil && req.ClusterVersionSet == nil &&
		req.ClusterMemberAttrSet == nil && req.DowngradeInfoSet == nil &&
		req.DowngradeVersionTest == nil && !hasUnknown(req) &&
		(req.Header == nil || !hasUnknown(req.Header)) &&
		(req.Put == nil || !hasUnknown(req.Put)) &&
		(req.DeleteRange == nil || !hasUnknown(req.DeleteRange)) &&
		(req.Txn == nil || plainTxn(req.Txn))
}

// plainTxn reports whether t and its nested txns hold no unknown fields
// and no nil compare, op or request.
func plainTxn(t *pb.TxnRequest) bool {
	if hasUnknown(t) {
		return false
	}
	for _, c := range t.Compare {
		if c == nil || hasUnknown(c) {
			return false
		}
		switch c.TargetUnion.(type) {
		case nil, *pb.Compare_Version, *pb.Compare_CreateRevision, *pb.Compare_ModRevision,
			*pb.Compare_Value, *pb.Compare_Lease:
		default:
			return false
		}
	}
	for _, ops := range [...][]*pb.RequestOp{t.Success, t.Failure} {
		for _, op := range ops {
			if op == nil || hasUnknown(op) {
				return false
			}
			var m proto.Message
			switch r := op.Request.(type) {
			case *pb.RequestOp_RequestRange:
				if r.RequestRange == nil {
					return false
				}
				m = r.RequestRange
			case *pb.RequestOp_RequestPut:
				if r.RequestPut == nil {
					return false
				}
				m = r.RequestPut
			case *pb.RequestOp_RequestDeleteRange:
				if r.RequestDeleteRange == nil {
					return false
				}
				m = r.RequestDeleteRange
			case *pb.RequestOp_RequestTxn:
				if r.RequestTxn == nil || !plainTxn(r.RequestTxn) {
					return false
				}
				continue
			default:
				return false
			}
			if hasUnknown(m) {
				return false
			}
		}
	}
	return true
}

func hasUnknown(m proto.Message) bool { return len(m.ProtoReflect().GetUnknown()) > 0 }

// Sizes of proto3 fields as the marshaler writes them: zero values not at
// all, except where always is set (oneof members, messages).
func sizeVarint(num protowire.Number, v uint64) int {
	if v == 0 {
		return 0
	}
	return protowire.SizeTag(num) + protowire.SizeVarint(v)
}

func sizeBool(num protowire.Number, v bool) int {
	if !v {
		return 0
	}
	return protowire.SizeTag(num) + 1
}

func sizeBytes(num protowire.Number, n int, always bool) int {
	if n == 0 && !always {
		return 0
	}
	return protowire.SizeTag(num) + protowire.SizeBytes(n)
}

func appendVarint(b []byte, num protowire.Number, v uint64) []byte {
	if v == 0 {
		return b
	}
	b = protowire.AppendTag(b, num, protowire.VarintType)
	return protowire.AppendVarint(b, v)
}

func appendBool(b []byte, num protowire.Number, v bool) []byte {
	if !v {
		return b
	}
	b = protowire.AppendTag(b, num, protowire.VarintType)
	return append(b, 1)
}

func appendBytes(b []byte, num protowire.Number, v []byte, always bool) []byte {
	if len(v) == 0 && !always {
		return b
	}
	b = protowire.AppendTag(b, num, protowire.BytesType)
	return protowire.AppendBytes(b, v)
}

// appendLen starts a message field of n bytes.
func appendLen(b []byte, num protowire.Number, n int) []byte {
	b = protowire.AppendTag(b, num, protowire.BytesType)
	return protowire.AppendVarint(b, uint64(n))
}

// sizeWrite is the encoded size of req, a plain write.
func sizeWrite(req *pb.InternalRaftRequest) int {
	n := 0
	switch {
	case req.Put != nil:
		n = sizeBytes(fieldPut, sizePut(req.Put), true)
	case req.DeleteRange != nil:
		n = sizeBytes(fieldDeleteRange, sizeDelete(req.DeleteRange), true)
	default:
		n = sizeBytes(fieldTxn, sizeTxn(req.Txn), true)
	}
	if h := req.Header; h != nil {
		n += sizeBytes(fieldHeader, sizeHeader(h), true)
	}
	return n
}

func appendWrite(b []byte, req *pb.InternalRaftRequest) []byte {
	switch {
	case req.Put != nil:
		n := sizePut(req.Put)
		b = appendPut(appendLen(b, fieldPut, n), req.Put)
	case req.DeleteRange != nil:
		n := sizeDelete(req.DeleteRange)
		b = appendDelete(appendLen(b, fieldDeleteRange, n), req.DeleteRange)
	default:
		n := sizeTxn(req.Txn)
		b = appendTxn(appendLen(b, fieldTxn, n), req.Txn)
	}
	if h := req.Header; h != nil {
		n := sizeHeader(h)
		b = appendHeader(appendLen(b, fieldHeader, n), h)
	}
	return b
}

func sizeHeader(h *pb.RequestHeader) int {
	return sizeVarint(1, h.ID) + sizeBytes(2, len(h.Username), false) + sizeVarint(3, h.AuthRevision)
}

func appendHeader(b []byte, h *pb.RequestHeader) []byte {
	b = appendVarint(b, 1, h.ID)
	if h.Username != "" {
		b = protowire.AppendString(protowire.AppendTag(b, 2, protowire.BytesType), h.Username)
	}
	return appendVarint(b, 3, h.AuthRevision)
}

func sizePut(p *pb.PutRequest) int {
	return sizeBytes(1, len(p.Key), false) + sizeBytes(2, len(p.Value), false) +
		sizeVarint(3, uint64(p.Lease)) + sizeBool(4, p.PrevKv) +
		sizeBool(5, p.IgnoreValue) + sizeBool(6, p.IgnoreLease)
}

func appendPut(b []byte, p *pb.PutRequest) []byte {
	b = appendBytes(b, 1, p.Key, false)
	b = appendBytes(b, 2, p.Value, false)
	b = appendVarint(b, 3, uint64(p.Lease))
	b = appendBool(b, 4, p.PrevKv)
	b = appendBool(b, 5, p.IgnoreValue)
	return appendBool(b, 6, p.IgnoreLease)
}

func sizeDelete(d *pb.DeleteRangeRequest) int {
	return sizeBytes(1, len(d.Key), false) + sizeBytes(2, len(d.RangeEnd), false) + sizeBool(3, d.PrevKv)
}

func appendDelete(b []byte, d *pb.DeleteRangeRequest) []byte {
	b = appendBytes(b, 1, d.Key, false)
	b = appendBytes(b, 2, d.RangeEnd, false)
	return appendBool(b, 3, d.PrevKv)
}

func sizeRange(r *pb.RangeRequest) int {
	return sizeBytes(1, len(r.Key), false) + sizeBytes(2, len(r.RangeEnd), false) +
		sizeVarint(3, uint64(r.Limit)) + sizeVarint(4, uint64(r.Revision)) +
		sizeVarint(5, uint64(r.SortOrder)) + sizeVarint(6, uint64(r.SortTarget)) +
		sizeBool(7, r.Serializable) + sizeBool(8, r.KeysOnly) + sizeBool(9, r.CountOnly) +
		sizeVarint(10, uint64(r.MinModRevision)) + sizeVarint(11, uint64(r.MaxModRevision)) +
		sizeVarint(12, uint64(r.MinCreateRevision)) + sizeVarint(13, uint64(r.MaxCreateRevision))
}

func appendRange(b []byte, r *pb.RangeRequest) []byte {
	b = appendBytes(b, 1, r.Key, false)
	b = appendBytes(b, 2, r.RangeEnd, false)
	b = appendVarint(b, 3, uint64(r.Limit))
	b = appendVarint(b, 4, uint64(r.Revision))
	b = appendVarint(b, 5, uint64(r.SortOrder))
	b = appendVarint(b, 6, uint64(r.SortTarget))
	b = appendBool(b, 7, r.Serializable)
	b = appendBool(b, 8, r.KeysOnly)
	b = appendBool(b, 9, r.CountOnly)
	b = appendVarint(b, 10, uint64(r.MinModRevision))
	b = appendVarint(b, 11, uint64(r.MaxModRevision))
	b = appendVarint(b, 12, uint64(r.MinCreateRevision))
	return appendVarint(b, 13, uint64(r.MaxCreateRevision))
}

func sizeCompare(c *pb.Compare) int {
	n := sizeVarint(1, uint64(c.Result)) + sizeVarint(2, uint64(c.Target)) + sizeBytes(3, len(c.Key), false) +
		sizeBytes(64, len(c.RangeEnd), false)
	switch u := c.TargetUnion.(type) {
	case nil:
	case *pb.Compare_Version:
		n += protowire.SizeTag(4) + protowire.SizeVarint(uint64(u.Version))
	case *pb.Compare_CreateRevision:
		n += protowire.SizeTag(5) + protowire.SizeVarint(uint64(u.CreateRevision))
	case *pb.Compare_ModRevision:
		n += protowire.SizeTag(6) + protowire.SizeVarint(uint64(u.ModRevision))
	case *pb.Compare_Value:
		n += sizeBytes(7, len(u.Value), true)
	case *pb.Compare_Lease:
		n += protowire.SizeTag(8) + protowire.SizeVarint(uint64(u.Lease))
	}
	return n
}

func appendCompare(b []byte, c *pb.Compare) []byte {
	b = appendVarint(b, 1, uint64(c.Result))
	b = appendVarint(b, 2, uint64(c.Target))
	b = appendBytes(b, 3, c.Key, false)
	// NB: the marshaler writes oneof members after the other fields.
	b = appendBytes(b, 64, c.RangeEnd, false)
	switch u := c.TargetUnion.(type) {
	case *pb.Compare_Version:
		b = protowire.AppendVarint(protowire.AppendTag(b, 4, protowire.VarintType), uint64(u.Version))
	case *pb.Compare_CreateRevision:
		b = protowire.AppendVarint(protowire.AppendTag(b, 5, protowire.VarintType), uint64(u.CreateRevision))
	case *pb.Compare_ModRevision:
		b = protowire.AppendVarint(protowire.AppendTag(b, 6, protowire.VarintType), uint64(u.ModRevision))
	case *pb.Compare_Value:
		b = appendBytes(b, 7, u.Value, true)
	case *pb.Compare_Lease:
		b = protowire.AppendVarint(protowire.AppendTag(b, 8, protowire.VarintType), uint64(u.Lease))
	}
	return b
}

func sizeRequestOp(op *pb.RequestOp) int {
	switch r := op.Request.(type) {
	case *pb.RequestOp_RequestRange:
		return sizeBytes(1, sizeRange(r.RequestRange), true)
	case *pb.RequestOp_RequestPut:
		return sizeBytes(2, sizePut(r.RequestPut), true)
	case *pb.RequestOp_RequestDeleteRange:
		return sizeBytes(3, sizeDelete(r.RequestDeleteRange), true)
	case *pb.RequestOp_RequestTxn:
		return sizeBytes(4, sizeTxn(r.RequestTxn), true)
	}
	return 0
}

func appendRequestOp(b []byte, op *pb.RequestOp) []byte {
	switch r := op.Request.(type) {
	case *pb.RequestOp_RequestRange:
		n := sizeRange(r.RequestRange)
		b = appendRange(appendLen(b, 1, n), r.RequestRange)
	case *pb.RequestOp_RequestPut:
		n := sizePut(r.RequestPut)
		b = appendPut(appendLen(b, 2, n), r.RequestPut)
	case *pb.RequestOp_RequestDeleteRange:
		n := sizeDelete(r.RequestDeleteRange)
		b = appendDelete(appendLen(b, 3, n), r.RequestDeleteRange)
	case *pb.RequestOp_RequestTxn:
		n := sizeTxn(r.RequestTxn)
		b = appendTxn(appendLen(b, 4, n), r.RequestTxn)
	}
	return b
}

func sizeTxn(t *pb.TxnRequest) int {
	n := 0
	for _, c := range t.Compare {
		n += sizeBytes(1, sizeCompare(c), true)
	}
	for i, ops := range [...][]*pb.RequestOp{t.Success, t.Failure} {
		for _, op := range ops {
			n += sizeBytes(protowire.Number(2+i), sizeRequestOp(op), true)
		}
	}
	return n
}

func appendTxn(b []byte, t *pb.TxnRequest) []byte {
	for _, c := range t.Compare {
		n := sizeCompare(c)
		b = appendCompare(appendLen(b, 1, n), c)
	}
	for i, ops := range [...][]*pb.RequestOp{t.Success, t.Failure} {
		for _, op := range ops {
			n := sizeRequestOp(op)
			b = appendRequestOp(appendLen(b, protowire.Number(2+i), n), op)
		}
	}
	return b
}
