package core

import (
	"errors"
	"fmt"

	"go.etcd.io/raft/v3"
	"go.etcd.io/raft/v3/raftpb"
	"google.golang.org/protobuf/proto"
)

// packedLog is raft's stable log between snapshots, kept where the garbage
// collector need not look. raft.MemoryStorage holds every entry as a
// protobuf message with three pointer fields and a separate Data buffer:
// with a million keys loaded the log holds ~170,000 entries, and marking
// them was a large part of each collection. Here an entry is a fixed,
// pointer-free record (term, type, field presence, where its Data lies)
// in one array, and the Data bytes are copied into large chunks that go as
// compaction passes them. Entries rebuilds messages for the indexes asked.
//
// The newest entries stay as the messages raft appended (the tail), their
// Data not yet copied: the apply of fresh entries and the MsgApps to
// followers that keep up read that part, so the hot path neither rebuilds
// messages nor copies bytes. An entry is spilled (its Data copied into a
// chunk, its message dropped) once Config.LogTailEntries newer ones follow
// it or the tail holds more than tailBytes.
//
// It answers as raft.MemoryStorage does, errors and panics included (the
// property test runs both side by side), with two limits: entries must
// carry their Index and be contiguous (raft's are), and unknown protobuf
// fields of spilled entries are not kept (raft's entries have none). It is
// not safe for concurrent use: the replica's loop owns it.
type packedLog struct {
	hardState *raftpb.HardState
	snapshot  *raftpb.Snapshot

	// base and baseTerm are the index and term of the entry just before
	// the first one held: the snapshot's, or the last compacted one's.
	base, baseTerm uint64
	// recs[i] is the entry at index base+1+i.
	recs []entryRecord

	// tail holds the messages of the newest entries: tail[tailHead:] are
	// the entries at indexes last-(len(tail)-tailHead)+1 .. last, whose
	// Data is not in the chunks yet; tailData sums their Data lengths.
	tail        []*raftpb.Entry
	tailHead    int
	tailData    int
	tailEntries int // the tail's bound in entries (Config.LogTailEntries)

	// chunks hold the spilled entries' Data; chunks[i] is chunk number
	// firstChunk+i, and bytes are appended to the last one. Bytes once
	// written are never rewritten (a conflicting suffix's are left behind):
	// rebuilt entries share them with the caller.
	chunks     [][]byte
	firstChunk uint32
	// chunkBytes is the size of the next chunk: it doubles from
	// minChunkBytes to logChunkBytes, so that a short log (a small
	// cluster, the simulator's) does not hold, zero and fault in a
	// mebibyte it never fills.
	chunkBytes int
}

// entryRecord is one entry, pointer-free; its index is its place in recs.
type entryRecord struct {
	term uint64
	// chunk and off locate Data once spilled; size is len(Data).
	chunk, off, size uint32
	typ              uint8
	has              uint8 // which optional fields are present: has* bits
}

const (
	hasTerm = 1 << iota
	hasType
	hasData
	spilled
)

const (
	// defaultTailEntries and tailBytes bound the tail; past the bounds,
	// entries are spilled. NB: a single member applies what it appended
	// from here (raft drops persisted entries from its unstable log): a
	// 50-client put read up to 64 entries behind the last, a 1,000-client
	// load up to 1,024 (5.6% of the entries it applied were rebuilt with
	// a 512-entry tail).
	defaultTailEntries = 2048
	tailBytes          = 4 << 20
	// logChunkBytes is the size of a Data chunk once the log is long;
	// Data larger than logChunkBytes/4 gets a chunk of its own.
	logChunkBytes = 1 << 20
	minChunkBytes = 4 << 10
)

// errUnpackable: raft never appends such entries, so this is a bug in the
// caller rather than something to store approximately.
var errUnpackable = errors.New("core: raft log entry cannot be packed")

func newPackedLog(tailEntries int) *packedLog {
	return &packedLog{snapshot: raftpb.EnsureSnapshot(nil), tailEntries: max(tailEntries, 0)}
}

var _ raft.Storage = (*packedLog)(nil)

// InitialState implements raft.Storage.
func (l *packedLog) InitialState() (*raftpb.HardState, *raftpb.ConfState, error) {
	return l.hardState, raftpb.EnsureConfState(l.snapshot.GetMetadata().GetConfState()), nil
}

// SetHardState saves the current HardState.
func (l *packedLog) SetHardState(st *raftpb.HardState) error {
	l.hardState = st
	return nil
}

func (l *packedLog) lastIndex() uint64 { return l.base + uint64(len(l.recs)) }

// FirstIndex implements raft.Storage.
func (l *packedLog) FirstIndex() (uint64, error) { return l.base + 1, nil }

// LastIndex implements raft.Storage.
func (l *packedLog) LastIndex() (uint64, error) { return l.lastIndex(), nil }

// Term implements raft.Storage.
func (l *packedLog) Term(i uint64) (uint64, error) {
	switch {
	case i < l.base:
		return 0, raft.ErrCompacted
	case i == l.base:
		return l.baseTerm, nil
	case i > l.lastIndex():
		return 0, raft.ErrUnavailable
	}
	return l.recs[i-l.base-1].term, nil
}

// Snapshot implements raft.Storage.
func (l *packedLog) Snapshot() (*raftpb.Snapshot, error) {
	// NB: as MemoryStorage, fill in the held snapshot's missing fields
	// (AutoLeave) before the copy.
	l.snapshot = raftpb.EnsureSnapshot(l.snapshot)
	return proto.Clone(l.snapshot).(*raftpb.Snapshot), nil
}

// tailFirst is the index of the oldest entry in the tail.
func (l *packedLog) tailFirst() uint64 {
	return l.lastIndex() + 1 - uint64(len(l.tail)-l.tailHead)
}

// Entries implements raft.Storage. The slice is the caller's; the entries
// and their Data are shared and must not be modified.
func (l *packedLog) Entries(lo, hi, maxSize uint64) ([]*raftpb.Entry, error) {
	if lo <= l.base {
		return nil, raft.ErrCompacted
	}
	if hi > l.lastIndex()+1 {
		panic(fmt.Sprintf("core: raft log entries' hi(%d) is out of bound lastindex(%d)", hi, l.lastIndex()))
	}
	if len(l.recs) == 0 {
		return nil, raft.ErrUnavailable
	}
	if lo > hi {
		panic(fmt.Sprintf("core: raft log entries asked for [%d, %d)", lo, hi))
	}
	// raft's limitSize: the longest prefix within maxSize, but at least
	// one entry.
	n := hi - lo
	var size uint64
	for i := lo; i < hi; i++ {
		size += l.recs[i-l.base-1].encodedSize(i)
		if size > maxSize && i > lo {
			n = i - lo
			break
		}
	}
	out := make([]*raftpb.Entry, n)
	i := lo
	if tf := l.tailFirst(); i < tf {
		spilledHi := min(lo+n, tf)
		rebuilt := make([]rebuiltEntry, spilledHi-lo)
		for j := range rebuilt {
			out[j] = l.rebuild(&rebuilt[j], i)
			i++
		}
	}
	if i < lo+n {
		from := l.tailHead + int(i-l.tailFirst())
		copy(out[i-lo:], l.tail[from:from+int(lo+n-i)])
	}
	return out, nil
}

// rebuiltEntry holds a rebuilt message with the fields it points to, so
// that a batch of them is one allocation.
type rebuiltEntry struct {
	entry       raftpb.Entry
	term, index uint64
	typ         raftpb.EntryType
}

var noData = []byte{}

func (l *packedLog) rebuild(b *rebuiltEntry, i uint64) *raftpb.Entry {
	r := &l.recs[i-l.base-1]
	b.index = i
	b.entry.Index = &b.index
	if r.has&hasTerm != 0 {
		b.term = r.term
		b.entry.Term = &b.term
	}
	if r.has&hasType != 0 {
		b.typ = raftpb.EntryType(r.typ)
		b.entry.Type = &b.typ
	}
	if r.has&hasData != 0 {
		if r.size == 0 {
			b.entry.Data = noData
		} else {
			c := l.chunks[r.chunk-l.firstChunk]
			end := r.off + r.size
			b.entry.Data = c[r.off:end:end]
		}
	}
	return &b.entry
}

// encodedSize is proto.Size of the entry at index i: what raft's
// limitSize weighs.
func (r *entryRecord) encodedSize(i uint64) uint64 {
	size := 1 + varintLen(i)
	if r.has&hasTerm != 0 {
		size += 1 + varintLen(r.term)
	}
	if r.has&hasType != 0 {
		size += 1 + varintLen(uint64(r.typ))
	}
	if r.has&hasData != 0 {
		size += 1 + varintLen(uint64(r.size)) + uint64(r.size)
	}
	return size
}

func varintLen(v uint64) uint64 {
	n := uint64(1)
	for v >= 0x80 {
		v >>= 7
		n++
	}
	return n
}

// dataLen is len(Data) of the entry at index i, held (base < i <= last).
func (l *packedLog) dataLen(i uint64) uint64 {
	return uint64(l.recs[i-l.base-1].size)
}

// ApplySnapshot replaces the log with snap, as MemoryStorage does.
func (l *packedLog) ApplySnapshot(snap *raftpb.Snapshot) error {
	snap = raftpb.EnsureSnapshot(snap)
	held := l.snapshot.GetMetadata().GetIndex()
	if held != 0 && held >= snap.GetMetadata().GetIndex() {
		return raft.ErrSnapOutOfDate
	}
	l.snapshot = proto.Clone(snap).(*raftpb.Snapshot)
	l.base, l.baseTerm = snap.GetMetadata().GetIndex(), snap.GetMetadata().GetTerm()
	l.recs = nil
	l.tail, l.tailHead, l.tailData = nil, 0, 0
	l.firstChunk += uint32(len(l.chunks))
	l.chunks = nil
	return nil
}

// CreateSnapshot records a snapshot at i (held in the log), as
// MemoryStorage does.
func (l *packedLog) CreateSnapshot(i uint64, cs *raftpb.ConfState, data []byte) (*raftpb.Snapshot, error) {
	if i <= l.snapshot.GetMetadata().GetIndex() {
		return nil, raft.ErrSnapOutOfDate
	}
	if i > l.lastIndex() {
		panic(fmt.Sprintf("core: raft log snapshot %d is out of bound lastindex(%d)", i, l.lastIndex()))
	}
	term, err := l.Term(i)
	if err != nil {
		panic(fmt.Sprintf("core: raft log snapshot %d is before the log's first index %d", i, l.base+1))
	}
	l.snapshot = raftpb.EnsureSnapshot(l.snapshot)
	l.snapshot.Metadata.Index = proto.Uint64(i)
	l.snapshot.Metadata.Term = proto.Uint64(term)
	if cs != nil {
		l.snapshot.Metadata.ConfState = proto.Clone(cs).(*raftpb.ConfState)
	}
	l.snapshot.Data = data
	return proto.Clone(l.snapshot).(*raftpb.Snapshot), nil
}

// Compact drops the entries before compactIndex, as MemoryStorage does.
func (l *packedLog) Compact(compactIndex uint64) error {
	if compactIndex <= l.base {
		return raft.ErrCompacted
	}
	if compactIndex > l.lastIndex() {
		panic(fmt.Sprintf("core: raft log compact %d is out of bound lastindex(%d)", compactIndex, l.lastIndex()))
	}
	if tf := l.tailFirst(); tf <= compactIndex {
		l.dropTailFront(int(compactIndex + 1 - tf))
	}
	drop := int(compactIndex - l.base)
	l.baseTerm = l.recs[drop-1].term
	l.base = compactIndex
	l.recs = l.recs[drop:]
	if len(l.recs) < drop {
		// Most of the array is behind the compaction: move the rest to a
		// new one now, or the old one would stay until the next growth.
		l.recs = append(make([]entryRecord, 0, 2*len(l.recs)+64), l.recs...)
	}
	l.releaseChunks()
	return nil
}

// releaseChunks drops the chunks before the oldest spilled entry's (or
// all but the one being filled when none is spilled).
func (l *packedLog) releaseChunks() {
	if len(l.chunks) == 0 {
		return
	}
	keep := l.firstChunk + uint32(len(l.chunks)) - 1
	if len(l.recs) > 0 && l.recs[0].has&spilled != 0 {
		keep = min(keep, l.recs[0].chunk)
	}
	n := int(keep - l.firstChunk)
	if n == 0 {
		return
	}
	clear(l.chunks[:n])
	l.chunks = l.chunks[n:]
	l.firstChunk = keep
}

func (l *packedLog) dropTailFront(n int) {
	for _, e := range l.tail[l.tailHead : l.tailHead+n] {
		l.tailData -= len(e.GetData())
	}
	clear(l.tail[l.tailHead : l.tailHead+n])
	l.tailHead += n
	if l.tailHead == len(l.tail) {
		l.tail, l.tailHead = l.tail[:0], 0
	}
}

// Append adds entries to the log, dropping any held suffix they conflict
// with and any part already compacted, as MemoryStorage does.
func (l *packedLog) Append(entries []*raftpb.Entry) error {
	if len(entries) == 0 {
		return nil
	}
	for k, e := range entries {
		if e.Index == nil || e.GetIndex() != entries[0].GetIndex()+uint64(k) ||
			e.GetType() < 0 || e.GetType() > 255 || uint64(len(e.GetData())) > 1<<31 {
			return fmt.Errorf("%w: entry %d of %d (index %d, type %d, %d bytes)", errUnpackable, k, len(entries), e.GetIndex(), e.GetType(), len(e.GetData()))
		}
	}
	first := l.base + 1
	start := entries[0].GetIndex()
	if start+uint64(len(entries))-1 < first {
		return nil
	}
	if first > start {
		entries = entries[first-start:]
		start = first
	}
	switch last := l.lastIndex(); {
	case start <= last:
		if tf := l.tailFirst(); start >= tf {
			n := int(start - tf)
			for _, e := range l.tail[l.tailHead+n:] {
				l.tailData -= len(e.GetData())
			}
			clear(l.tail[l.tailHead+n:])
			l.tail = l.tail[:l.tailHead+n]
		} else {
			clear(l.tail)
			l.tail, l.tailHead, l.tailData = l.tail[:0], 0, 0
		}
		l.recs = l.recs[:start-first]
		l.releaseChunks()
	case start == last+1:
	default:
		panic(fmt.Sprintf("core: raft log missing entry [last: %d, append at: %d]", last, start))
	}
	for _, e := range entries {
		r := entryRecord{term: e.GetTerm(), typ: uint8(e.GetType()), size: uint32(len(e.Data))}
		if e.Term != nil {
			r.has |= hasTerm
		}
		if e.Type != nil {
			r.has |= hasType
		}
		if e.Data != nil {
			r.has |= hasData
		}
		l.recs = append(l.recs, r)
		l.tail = append(l.tail, e)
		l.tailData += len(e.Data)
	}
	l.spill()
	return nil
}

// spill moves the tail's oldest entries into the records and chunks until
// the tail is within its bounds.
func (l *packedLog) spill() {
	n := 0
	live, data := len(l.tail)-l.tailHead, l.tailData
	for live-n > l.tailEntries || data > tailBytes {
		data -= len(l.tail[l.tailHead+n].GetData())
		n++
	}
	if n == 0 {
		return
	}
	tf := l.tailFirst()
	for k, e := range l.tail[l.tailHead : l.tailHead+n] {
		r := &l.recs[tf+uint64(k)-l.base-1]
		r.chunk, r.off = l.place(e.GetData())
		r.has |= spilled
	}
	l.dropTailFront(n)
	// NB: after a truncation of the whole log the chunk being filled may
	// have no record left in it.
	l.releaseChunks()
	if l.tailHead > len(l.tail)/2 {
		// Slide the live tail to the front now and then, so the array does
		// not grow with every entry ever appended.
		live := copy(l.tail, l.tail[l.tailHead:])
		clear(l.tail[live:])
		l.tail, l.tailHead = l.tail[:live], 0
	}
}

// place copies data into the chunks and says where it went.
func (l *packedLog) place(data []byte) (chunk, off uint32) {
	n := len(data)
	if n == 0 {
		// Nothing to copy, but the record still names a chunk no older
		// than the previous one's, as releaseChunks expects.
		return l.firstChunk + uint32(max(len(l.chunks)-1, 0)), 0
	}
	if len(l.chunks) > 0 {
		c := l.chunks[len(l.chunks)-1]
		if cap(c)-len(c) >= n {
			off := len(c)
			l.chunks[len(l.chunks)-1] = append(c, data...)
			return l.firstChunk + uint32(len(l.chunks)) - 1, uint32(off)
		}
	}
	size := max(l.chunkBytes, minChunkBytes)
	if n > logChunkBytes/4 {
		size = n
	} else {
		for size < n {
			size *= 2
		}
		l.chunkBytes = min(2*size, logChunkBytes)
	}
	l.chunks = append(l.chunks, append(make([]byte, 0, size), data...))
	return l.firstChunk + uint32(len(l.chunks)) - 1, 0
}
