package wal

import (
	"encoding/binary"
	"hash/crc32"

	"go.etcd.io/raft/v3/raftpb"
	"google.golang.org/protobuf/proto"
)

// recordType tags a record's payload. Zero is invalid, so a run of zero
// bytes never parses as a record.
type recordType byte

const (
	recEntry     recordType = 1 // raftpb.Entry
	recHardState recordType = 2 // raftpb.HardState
	recSnapshot  recordType = 3 // SnapMarker: index u64, term u64
)

const (
	headerBytes       = 9 // length u32 | crc u32 | type u8
	markerPayloadSize = 16
)

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// SnapMarker names a raft snapshot the replica saved: its index and term.
// The zero SnapMarker means no snapshot.
type SnapMarker struct {
	Index, Term uint64
}

// appendRecord appends one framed record to buf. fill appends the payload.
func appendRecord(buf []byte, typ recordType, fill func([]byte) ([]byte, error)) ([]byte, error) {
	start := len(buf)
	buf = append(buf, 0, 0, 0, 0, 0, 0, 0, 0, byte(typ))
	buf, err := fill(buf)
	if err != nil {
		return buf[:start], err
	}
	binary.LittleEndian.PutUint32(buf[start:], uint32(len(buf)-start-headerBytes))
	binary.LittleEndian.PutUint32(buf[start+4:], crc32.Checksum(buf[start+8:], castagnoli))
	return buf, nil
}

var marshal = proto.MarshalOptions{}

func appendEntry(buf []byte, e *raftpb.Entry) ([]byte, error) {
	return appendRecord(buf, recEntry, func(b []byte) ([]byte, error) { return marshal.MarshalAppend(b, e) })
}

func appendHardState(buf []byte, hs *raftpb.HardState) ([]byte, error) {
	return appendRecord(buf, recHardState, func(b []byte) ([]byte, error) { return marshal.MarshalAppend(b, hs) })
}

func appendMarker(buf []byte, m SnapMarker) []byte {
	buf, _ = appendRecord(buf, recSnapshot, func(b []byte) ([]byte, error) {
		b = binary.LittleEndian.AppendUint64(b, m.Index)
		return binary.LittleEndian.AppendUint64(b, m.Term), nil
	})
	return buf
}

// decodeRecord parses the record at buf[off:]. ok is false when there is no
// complete, intact record of a known type there; next is the offset just
// past the record.
func decodeRecord(buf []byte, off int) (typ recordType, payload []byte, next int, ok bool) {
	if len(buf)-off < headerBytes {
		return 0, nil, 0, false
	}
	length := int64(binary.LittleEndian.Uint32(buf[off:]))
	end := int64(off) + headerBytes + length
	if end > int64(len(buf)) {
		return 0, nil, 0, false
	}
	typ = recordType(buf[off+8])
	if typ < recEntry || typ > recSnapshot {
		return 0, nil, 0, false
	}
	if crc32.Checksum(buf[off+8:end], castagnoli) != binary.LittleEndian.Uint32(buf[off+4:]) {
		return 0, nil, 0, false
	}
	return typ, buf[off+headerBytes : end], int(end), true
}

// nextIntactRecord returns where the first intact record in buf[from:]
// starts, if any does.
// NB: this is what separates a torn tail from corruption. Its cost is
// bounded by the distance to the next intact record (corruption) or to the
// end of the file (a torn tail, at most one unsynced write long). An entry
// whose payload itself embeds a well-formed WAL record could make a torn
// tail look corrupt; user data would have to be crafted for it.
func nextIntactRecord(buf []byte, from int) (int, bool) {
	for p := from; p+headerBytes <= len(buf); p++ {
		if _, _, _, ok := decodeRecord(buf, p); ok {
			return p, true
		}
	}
	return 0, false
}

// sectorBytes is the smallest unit a disk writes whole.
const sectorBytes = 512

// zeroSectorIn reports whether a whole, aligned sector of zeros lies in
// buf[from:to].
// NB: this is what tells a write the disk never made from corruption. The
// kernel writes dirty pages back in any order, so after a crash an unsynced
// later page can be on disk while an earlier one is not; over a segment's
// zero-ahead region the earlier one then reads as zeros. Records after such
// a hole were never synced (a sync covers every earlier page), so they are
// a torn tail and go with it, as etcd's WAL treats a zeroed sector. The
// price: a medium that zeroes synced sectors loses the records after them
// instead of failing Open.
func zeroSectorIn(buf []byte, from, to int) bool {
	for s := (from + sectorBytes - 1) / sectorBytes * sectorBytes; s+sectorBytes <= to; s += sectorBytes {
		if allZero(buf[s : s+sectorBytes]) {
			return true
		}
	}
	return false
}

func allZero(b []byte) bool {
	for _, c := range b {
		if c != 0 {
			return false
		}
	}
	return true
}

func decodeMarker(p []byte) (SnapMarker, bool) {
	if len(p) != markerPayloadSize {
		return SnapMarker{}, false
	}
	return SnapMarker{Index: binary.LittleEndian.Uint64(p), Term: binary.LittleEndian.Uint64(p[8:])}, true
}
