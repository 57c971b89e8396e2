package core

import (
	"fmt"
	"testing"

	"go.etcd.io/raft/v3"
	"go.etcd.io/raft/v3/raftpb"
	"google.golang.org/protobuf/proto"
	"pgregory.net/rapid"
)

// TestPackedLogMatchesMemoryStorage runs random operation sequences on a
// packedLog and a raft.MemoryStorage side by side: every answer, error and
// panic must be the same. Entries are small and the tail bounds are
// crossed often (Config.LogTailEntries, tailBytes), so spilled, tail and mixed
// reads all happen.
func TestPackedLogMatchesMemoryStorage(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		tailEntries := rapid.IntRange(0, 2*defaultTailEntries).Draw(t, "tailEntries")
		packed, mem := newPackedLog(tailEntries), raft.NewMemoryStorage()
		term := uint64(1)
		bigData := rapid.IntRange(0, 2).Draw(t, "bigData") == 0
		for step := range rapid.IntRange(1, 60).Draw(t, "steps") {
			first, _ := mem.FirstIndex()
			last, _ := mem.LastIndex()
			switch op := rapid.IntRange(0, 9).Draw(t, "op"); op {
			case 0, 1, 2: // append, possibly overwriting a suffix or reaching into the compacted part
				start := rapid.Uint64Range(max(first, 3)-2, last+1).Draw(t, "start")
				if rapid.Bool().Draw(t, "newTerm") {
					term++
				}
				n := rapid.IntRange(1, defaultTailEntries).Draw(t, "n")
				ents := make([]*raftpb.Entry, n)
				for k := range ents {
					ents[k] = drawEntry(t, start+uint64(k), term, bigData)
				}
				same(t, step, "Append", func() (any, error) { return nil, packed.Append(ents) },
					func() (any, error) { return nil, mem.Append(ents) })
			case 3: // append leaving a gap: both panic
				ents := []*raftpb.Entry{drawEntry(t, last+2, term, false)}
				same(t, step, "Append gap", func() (any, error) { return nil, packed.Append(ents) },
					func() (any, error) { return nil, mem.Append(ents) })
			case 4:
				lo := rapid.Uint64Range(max(first, 2)-1, last+1).Draw(t, "lo")
				hi := rapid.Uint64Range(lo, last+2).Draw(t, "hi")
				maxSize := rapid.OneOf(rapid.Uint64Range(0, 200), rapid.Uint64Range(0, 1<<20), rapid.Just(uint64(1<<64-1))).Draw(t, "maxSize")
				same(t, step, fmt.Sprintf("Entries(%d, %d, %d)", lo, hi, maxSize),
					func() (any, error) { return packed.Entries(lo, hi, maxSize) },
					func() (any, error) { return mem.Entries(lo, hi, maxSize) })
			case 5:
				i := rapid.Uint64Range(max(first, 3)-2, last+2).Draw(t, "i")
				same(t, step, fmt.Sprintf("Term(%d)", i), func() (any, error) { return packed.Term(i) },
					func() (any, error) { return mem.Term(i) })
			case 6:
				i := rapid.Uint64Range(max(first, 2)-1, last+1).Draw(t, "compact")
				same(t, step, fmt.Sprintf("Compact(%d)", i), func() (any, error) { return nil, packed.Compact(i) },
					func() (any, error) { return nil, mem.Compact(i) })
			case 7:
				i := rapid.Uint64Range(max(first, 2)-1, last+1).Draw(t, "snapAt")
				cs := &raftpb.ConfState{Voters: []uint64{rapid.Uint64Range(1, 5).Draw(t, "voter")}}
				data := []byte(fmt.Sprint("snap", step))
				same(t, step, fmt.Sprintf("CreateSnapshot(%d)", i),
					func() (any, error) { return packed.CreateSnapshot(i, cs, data) },
					func() (any, error) { return mem.CreateSnapshot(i, cs, data) })
			case 8:
				snapIndex := rapid.Uint64Range(0, last+defaultTailEntries).Draw(t, "applyAt")
				term = max(term, rapid.Uint64Range(term, term+2).Draw(t, "snapTerm"))
				snap := &raftpb.Snapshot{Data: []byte("leader's"), Metadata: &raftpb.SnapshotMetadata{
					Index: proto.Uint64(snapIndex), Term: proto.Uint64(term),
					ConfState: &raftpb.ConfState{Voters: []uint64{1, 2, 3}},
				}}
				same(t, step, fmt.Sprintf("ApplySnapshot(%d)", snapIndex),
					func() (any, error) { return nil, packed.ApplySnapshot(snap) },
					func() (any, error) { return nil, mem.ApplySnapshot(snap) })
			case 9:
				hs := &raftpb.HardState{Term: proto.Uint64(term), Commit: proto.Uint64(last)}
				same(t, step, "SetHardState", func() (any, error) { return nil, packed.SetHardState(hs) },
					func() (any, error) { return nil, mem.SetHardState(hs) })
			}
			same(t, step, "FirstIndex", packed.FirstIndex, mem.FirstIndex)
			same(t, step, "LastIndex", packed.LastIndex, mem.LastIndex)
			same(t, step, "Snapshot", func() (any, error) { return packed.Snapshot() },
				func() (any, error) { return mem.Snapshot() })
			same(t, step, "InitialState", func() (any, error) {
				hs, cs, err := packed.InitialState()
				return []proto.Message{hs, cs}, err
			}, func() (any, error) {
				hs, cs, err := mem.InitialState()
				return []proto.Message{hs, cs}, err
			})
			// The whole log, and the data lengths compactIndex reads.
			first, _ = mem.FirstIndex()
			last, _ = mem.LastIndex()
			same(t, step, "all Entries", func() (any, error) { return packed.Entries(first, last+1, 1<<64-1) },
				func() (any, error) { return mem.Entries(first, last+1, 1<<64-1) })
			if ents, err := mem.Entries(first, last+1, 1<<64-1); err == nil {
				for _, e := range ents {
					if got := packed.dataLen(e.GetIndex()); got != uint64(len(e.GetData())) {
						t.Fatalf("step %d: dataLen(%d) = %d, MemoryStorage's entry has %d bytes", step, e.GetIndex(), got, len(e.GetData()))
					}
				}
			}
			checkPackedLog(t, packed)
		}
	})
}

func drawEntry(t *rapid.T, index, term uint64, big bool) *raftpb.Entry {
	e := &raftpb.Entry{Index: proto.Uint64(index)}
	if rapid.IntRange(0, 9).Draw(t, "noTerm") > 0 {
		e.Term = proto.Uint64(term)
	}
	if rapid.Bool().Draw(t, "hasType") {
		e.Type = raftpb.EntryType(rapid.IntRange(0, 2).Draw(t, "type")).Enum()
	}
	switch size := rapid.IntRange(-1, 40).Draw(t, "size"); {
	case size == -1: // no Data at all, unlike empty Data
	case size == 0:
		e.Data = []byte{}
	case big && size > 30:
		e.Data = make([]byte, logChunkBytes/4+size*1000)
		e.Data[len(e.Data)-1] = byte(index)
	default:
		e.Data = []byte(fmt.Sprintf("%d/%d/%s", index, term, make([]byte, size)))
	}
	return e
}

// same calls both and fails unless they return equal values and errors, or
// both panic.
func same[V any](t *rapid.T, step int, what string, packed, mem func() (V, error)) {
	t.Helper()
	pv, perr, ppanic := catch(packed)
	mv, merr, mpanic := catch(mem)
	if (ppanic != nil) != (mpanic != nil) {
		t.Fatalf("step %d: %s: packed panicked: %v; MemoryStorage panicked: %v", step, what, ppanic, mpanic)
	}
	if ppanic != nil {
		return
	}
	if perr != merr {
		t.Fatalf("step %d: %s: packed error %v, MemoryStorage error %v", step, what, perr, merr)
	}
	if !equalAnswers(pv, mv) {
		t.Fatalf("step %d: %s: packed answered %v, MemoryStorage %v", step, what, pv, mv)
	}
}

func catch[V any](f func() (V, error)) (v V, err error, panicked any) {
	defer func() { panicked = recover() }()
	v, err = f()
	return v, err, nil
}

func equalAnswers(a, b any) bool {
	switch a := a.(type) {
	case []*raftpb.Entry:
		b := b.([]*raftpb.Entry)
		if len(a) != len(b) {
			return false
		}
		for i := range a {
			if !proto.Equal(a[i], b[i]) || (a[i].Data == nil) != (b[i].Data == nil) {
				return false
			}
		}
		return true
	case proto.Message:
		return proto.Equal(a, b.(proto.Message))
	case []proto.Message:
		b := b.([]proto.Message)
		for i := range a {
			if !proto.Equal(a[i], b[i]) {
				return false
			}
		}
		return true
	}
	return a == b
}

// checkPackedLog checks what the answers cannot show: the tail within its
// bounds and covering the newest entries, the records before it spilled,
// no chunk kept that no record needs.
func checkPackedLog(t *rapid.T, l *packedLog) {
	t.Helper()
	live := len(l.tail) - l.tailHead
	if live > l.tailEntries || l.tailData > tailBytes || live > len(l.recs) {
		t.Fatalf("tail of %d entries, %d bytes, over %d records", live, l.tailData, len(l.recs))
	}
	data := 0
	for k, e := range l.tail[l.tailHead:] {
		data += len(e.GetData())
		if e.GetIndex() != l.tailFirst()+uint64(k) {
			t.Fatalf("tail entry %d has index %d, want %d", k, e.GetIndex(), l.tailFirst()+uint64(k))
		}
	}
	if data != l.tailData {
		t.Fatalf("tailData %d, tail holds %d", l.tailData, data)
	}
	for _, e := range l.tail[:l.tailHead] {
		if e != nil {
			t.Fatalf("a spilled tail slot still holds an entry")
		}
	}
	spilledRecs := len(l.recs) - live
	for i, r := range l.recs {
		if (r.has&spilled != 0) != (i < spilledRecs) {
			t.Fatalf("record %d of %d (tail from %d): spilled %v", i, len(l.recs), spilledRecs, r.has&spilled != 0)
		}
	}
	if spilledRecs > 0 && l.recs[0].chunk != l.firstChunk && len(l.chunks) > 1 {
		t.Fatalf("chunk %d kept, the oldest record needs chunk %d", l.firstChunk, l.recs[0].chunk)
	}
	if len(l.chunks) > 1 && spilledRecs == 0 {
		t.Fatalf("%d chunks kept with no spilled record", len(l.chunks))
	}
}
