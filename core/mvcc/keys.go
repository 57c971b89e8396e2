package mvcc

import (
	"encoding/binary"
	"math/bits"

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
	prefixRev    = []byte("r/")
	prefixLease  = []byte("l/")
	prefixDedup  = []byte("d/")
	prefixMember = []byte("m/member/")
	prefixAlarm  = []byte("a/")
	keyRev       = []byte("m/rev")
	keyCompact   = []byte("m/compact")
	keyApplied   = []byte("m/applied")
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
//	<kind:1><create><mod><version><lease><keylen><key><value>
//
// with the five integers as unsigned varints (negative values, which the
// store never writes, round-trip through their two's complement). A
// tombstone carries the key and mod revision only. Varints keep a typical
// header at 10 bytes where fixed-width fields took 37: the record is most
// of a key's memory on the memory engine, and 27 bytes decide its
// allocation size class (a 16-byte key with a 256-byte value moves from
// 352 to 320 bytes).

// The kind byte of a record. The fixed-width encoding of earlier builds
// used 0 and 1, so such a record is refused rather than misread.
const (
	recPut  byte = 2
	recTomb byte = 3
)

// recordSize returns the length of kv's record.
func recordSize(kv *mvccpb.KeyValue) int {
	return 1 + uvarintLen(uint64(kv.CreateRevision)) + uvarintLen(uint64(kv.ModRevision)) +
		uvarintLen(uint64(kv.Version)) + uvarintLen(uint64(kv.Lease)) +
		uvarintLen(uint64(len(kv.Key))) + len(kv.Key) + len(kv.Value)
}

// uvarintLen is the length of x as an unsigned varint.
func uvarintLen(x uint64) int { return (bits.Len64(x|1) + 6) / 7 }

// appendRecord appends the encoding of kv to dst.
func appendRecord(dst []byte, kv *mvccpb.KeyValue, tomb bool) []byte {
	t := recPut
	if tomb {
		t = recTomb
	}
	dst = append(dst, t)
	dst = binary.AppendUvarint(dst, uint64(kv.CreateRevision))
	dst = binary.AppendUvarint(dst, uint64(kv.ModRevision))
	dst = binary.AppendUvarint(dst, uint64(kv.Version))
	dst = binary.AppendUvarint(dst, uint64(kv.Lease))
	dst = binary.AppendUvarint(dst, uint64(len(kv.Key)))
	dst = append(dst, kv.Key...)
	return append(dst, kv.Value...)
}

// decodeRecord fills kv from b; kv.Key and kv.Value alias b (nil Value when
// empty, as protobuf decoding gives). It panics on a malformed record: the
// store wrote it, so corruption is a broken invariant.
func decodeRecord(b []byte, kv *mvccpb.KeyValue) (tomb bool) {
	if len(b) == 0 || (b[0] != recPut && b[0] != recTomb) {
		panic("mvcc: corrupt record, or a record in the fixed-width format of earlier builds")
	}
	rest := b[1:]
	next := func() uint64 {
		x, n := binary.Uvarint(rest)
		if n <= 0 {
			panic("mvcc: corrupt record")
		}
		rest = rest[n:]
		return x
	}
	kv.CreateRevision = int64(next())
	kv.ModRevision = int64(next())
	kv.Version = int64(next())
	kv.Lease = int64(next())
	n := next()
	if n > uint64(len(rest)) {
		panic("mvcc: corrupt record")
	}
	kv.Key = rest[:n:n]
	kv.Value = nil
	if uint64(len(rest)) > n {
		kv.Value = rest[n:]
	}
	return b[0] == recTomb
}
