package mvcc

import (
	"encoding/binary"

	"go.etcd.io/etcd/api/v3/mvccpb"
)

// Engine layout. Every key the store writes starts with a two-byte prefix;
// the prefixes sort apart so each family is one contiguous range.
//
//	r/<main:8><sub:8>  -> record (a key-value version or a tombstone)
//	l/<id:8>           -> lease: <ttl:8><remaining:8>
//	d/<request id:8>   -> dedup record: <raft index:8>
//	m/rev, m/compact   -> <int64:8>; m/applied -> <uint64:8>
//	m/member/<id:8>    -> <learner:1><context>
//	a/<member:8><type:4> -> 1 (an active alarm)
//	u/...              -> auth state (core/auth): users, roles, enabled, revision
//
// Integers are big-endian so byte order is numeric order. The current
// revision is the newest r/ key's, or m/rev when larger: m/rev is written
// only by compaction, which may delete the newest record (a tombstone), so
// an ordinary write costs no extra engine pair for it.
var (
	prefixRev     = []byte("r/")
	prefixLease   = []byte("l/")
	prefixDedup   = []byte("d/")
	prefixMember  = []byte("m/member/")
	prefixAlarm   = []byte("a/")
	keyRev        = []byte("m/rev")
	keyCompact    = []byte("m/compact")
	keyApplied    = []byte("m/applied")
	recHeaderSize = 1 + 4*8 + 4
)

// revision is a position in the history: main is the store revision of a
// request, sub orders the changes inside it.
type revision struct{ main, sub int64 }

func (a revision) less(b revision) bool {
	return a.main < b.main || (a.main == b.main && a.sub < b.sub)
}

// appendRevKey appends the engine key of rev to dst.
func appendRevKey(dst []byte, rev revision) []byte {
	dst = append(dst, prefixRev...)
	dst = binary.BigEndian.AppendUint64(dst, uint64(rev.main))
	return binary.BigEndian.AppendUint64(dst, uint64(rev.sub))
}

func parseRevKey(k []byte) revision {
	return revision{
		main: int64(binary.BigEndian.Uint64(k[2:10])),
		sub:  int64(binary.BigEndian.Uint64(k[10:18])),
	}
}

func idKey(prefix []byte, id uint64) []byte {
	return binary.BigEndian.AppendUint64(append([]byte(nil), prefix...), id)
}

func i64(v int64) []byte { return binary.BigEndian.AppendUint64(nil, uint64(v)) }

// Record encoding (value of an r/ key):
//
//	<tomb:1><create:8><mod:8><version:8><lease:8><keylen:4><key><value>
//
// A tombstone carries the key and mod revision only.

// appendRecord appends the encoding of kv to dst.
func appendRecord(dst []byte, kv *mvccpb.KeyValue, tomb bool) []byte {
	t := byte(0)
	if tomb {
		t = 1
	}
	dst = append(dst, t)
	dst = binary.BigEndian.AppendUint64(dst, uint64(kv.CreateRevision))
	dst = binary.BigEndian.AppendUint64(dst, uint64(kv.ModRevision))
	dst = binary.BigEndian.AppendUint64(dst, uint64(kv.Version))
	dst = binary.BigEndian.AppendUint64(dst, uint64(kv.Lease))
	dst = binary.BigEndian.AppendUint32(dst, uint32(len(kv.Key)))
	dst = append(dst, kv.Key...)
	return append(dst, kv.Value...)
}

// decodeRecord fills kv from b; kv.Key and kv.Value alias b (nil Value when
// empty, as protobuf decoding gives). It panics on a malformed record: the
// store wrote it, so corruption is a broken invariant.
func decodeRecord(b []byte, kv *mvccpb.KeyValue) (tomb bool) {
	if len(b) < recHeaderSize {
		panic("mvcc: corrupt record")
	}
	kv.CreateRevision = int64(binary.BigEndian.Uint64(b[1:]))
	kv.ModRevision = int64(binary.BigEndian.Uint64(b[9:]))
	kv.Version = int64(binary.BigEndian.Uint64(b[17:]))
	kv.Lease = int64(binary.BigEndian.Uint64(b[25:]))
	n := int(binary.BigEndian.Uint32(b[33:]))
	rest := b[recHeaderSize:]
	if n > len(rest) {
		panic("mvcc: corrupt record")
	}
	kv.Key = rest[:n:n]
	kv.Value = nil
	if len(rest) > n {
		kv.Value = rest[n:]
	}
	return b[0] == 1
}
