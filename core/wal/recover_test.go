package wal_test

import (
	"bytes"
	"errors"
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"

	"go.etcd.io/raft/v3/raftpb"

	"metastore/core/disk"
	"metastore/core/wal"
)

// TestTornTailEveryOffset cuts the last record at every byte and checks that
// Open keeps every earlier record, truncates the tail, and appends after it.
func TestTornTailEveryOffset(t *testing.T) {
	m, w := newWAL(t, wal.Options{})
	want := ents(1, 6, 1)
	for _, e := range want[:5] {
		must(t, w.Save(nil, []*raftpb.Entry{e}, true))
	}
	seg := segments(t, m)[0]
	start := fileSize(t, m, seg)
	must(t, w.Save(nil, want[5:], true))
	end := fileSize(t, m, seg)
	for cut := start; cut < end; cut++ {
		c := m.Clone()
		f, err := c.OpenAppend(dir + "/" + seg)
		must(t, err)
		must(t, f.Truncate(cut))
		must(t, f.Close())

		w2, rec := reopen(t, c, wal.Options{})
		equalEntries(t, rec.Entries, want[:5])
		if got := fileSize(t, c, seg); got != start {
			t.Fatalf("cut at %d: file is %d bytes after Open, want the tail truncated to %d", cut, got, start)
		}
		must(t, w2.Save(nil, want[5:], true))
		must(t, w2.Close())
		_, rec = reopen(t, c, wal.Options{})
		equalEntries(t, rec.Entries, want)
	}
}

func TestTrailingZerosTruncated(t *testing.T) {
	m, w := newWAL(t, wal.Options{})
	must(t, w.Save(hardState(1, 1, 2), ents(1, 3, 1), true))
	seg := segments(t, m)[0]
	end := fileSize(t, m, seg)
	for _, zeros := range []int{1, 8, 9, 100} {
		c := m.Clone()
		rewrite(t, c, seg, append(readBytes(t, m, seg), make([]byte, zeros)...))
		_, rec := reopen(t, c, wal.Options{})
		equalEntries(t, rec.Entries, ents(1, 3, 1))
		if rec.HardState.GetCommit() != 2 {
			t.Fatalf("hard state %v", rec.HardState)
		}
		if got := fileSize(t, c, seg); got != end {
			t.Fatalf("%d trailing zeros: size %d after Open, want %d", zeros, got, end)
		}
	}
}

// TestBitFlipIsCorruption flips every bit of every record but the last of
// the last segment, and every bit of a non-last segment's last record.
func TestBitFlipIsCorruption(t *testing.T) {
	m, w := newWAL(t, wal.Options{})
	seg := segments(t, m)[0]
	var starts []int64
	for i := uint64(1); i <= 4; i++ {
		starts = append(starts, fileSize(t, m, seg))
		must(t, w.Save(nil, ents(i, i, 1), true))
	}
	orig := readBytes(t, m, seg)
	for r := 0; r+1 < len(starts); r++ {
		for b := starts[r]; b < starts[r+1]; b++ {
			for bit := range 8 {
				assertCorruptAt(t, m, seg, orig, b, bit, starts[r])
			}
		}
	}

	// A non-last segment was synced whole: even its last record is checked.
	m, w = newWAL(t, wal.Options{SegmentBytes: 64})
	for i := uint64(1); i <= 6; i++ {
		must(t, w.Save(nil, ents(i, i, 1), true))
	}
	segs := segments(t, m)
	if len(segs) < 2 {
		t.Fatalf("want several segments, got %v", segs)
	}
	first := readBytes(t, m, segs[0])
	lastStart := int64(len(first)) - int64(len(first))/2 // inside the last record
	for b := lastStart; b < int64(len(first)); b++ {
		assertCorruptAt(t, m, segs[0], first, b, 0, -1)
	}
	c := m.Clone()
	rewrite(t, c, segs[0], first[:len(first)-1])
	if _, _, err := wal.Open(c, dir, wal.Options{}); !errors.Is(err, wal.ErrCorrupt) || !strings.Contains(err.Error(), segs[0]) {
		t.Fatalf("truncated non-last segment: %v, want ErrCorrupt naming %s", err, segs[0])
	}
}

// assertCorruptAt flips one bit and expects Open to fail naming seg and,
// unless wantOff < 0, the offset of the damaged record.
func assertCorruptAt(t *testing.T, m *disk.Mem, seg string, orig []byte, b int64, bit int, wantOff int64) {
	t.Helper()
	c := m.Clone()
	data := bytes.Clone(orig)
	data[b] ^= 1 << bit
	rewrite(t, c, seg, data)
	_, _, err := wal.Open(c, dir, wal.Options{})
	if !errors.Is(err, wal.ErrCorrupt) {
		t.Fatalf("flip byte %d bit %d: Open = %v, want ErrCorrupt", b, bit, err)
	}
	if !strings.Contains(err.Error(), seg) {
		t.Fatalf("flip byte %d bit %d: %v does not name %s", b, bit, err, seg)
	}
	if wantOff >= 0 && !strings.Contains(err.Error(), fmt.Sprintf("offset %d:", wantOff)) {
		t.Fatalf("flip byte %d bit %d: %v, want offset %d", b, bit, err, wantOff)
	}
}

func TestCrashDropsExactlyUnsynced(t *testing.T) {
	m, w := newWAL(t, wal.Options{})
	must(t, w.Save(hardState(1, 1, 3), ents(1, 5, 1), true))
	must(t, w.Save(hardState(1, 1, 5), ents(6, 8, 1), false))

	_, rec := reopen(t, m.CrashClone(rand.New(rand.NewPCG(1, 1)), 0), wal.Options{})
	equalEntries(t, rec.Entries, ents(1, 5, 1))
	if rec.HardState.GetCommit() != 3 {
		t.Fatalf("crash(0) hard state %v, want commit 3", rec.HardState)
	}
	_, rec = reopen(t, m.CrashClone(rand.New(rand.NewPCG(1, 1)), 1), wal.Options{})
	equalEntries(t, rec.Entries, ents(1, 8, 1))
	if rec.HardState.GetCommit() != 5 {
		t.Fatalf("crash(1) hard state %v, want commit 5", rec.HardState)
	}
}

// TestRandomCrashes saves, syncs, rolls segments, snapshots and releases at
// random, crashes at random, and checks that every crash recovers without
// error and keeps everything synced.
func TestRandomCrashes(t *testing.T) {
	for seed := range uint64(60) {
		rng := rand.New(rand.NewPCG(seed, 42))
		opts := wal.Options{SegmentBytes: 256}
		m, w := newWAL(t, opts)
		var next, synced, snap uint64 = 1, 0, 0
		for range 40 {
			n := uint64(rng.IntN(3))
			sync := rng.IntN(2) == 0
			must(t, w.Save(hardState(1, 1, next-1), ents(next, next+n-1, 1), sync))
			next += n
			if sync {
				synced = next - 1
			}
			if rng.IntN(8) == 0 && synced > snap {
				snap = synced
				must(t, w.SaveSnapshot(wal.SnapMarker{Index: snap, Term: 1}))
				must(t, w.ReleaseTo(snap))
			}
			c := m.CrashClone(rng, 0.5)
			_, rec, err := wal.Open(c, dir, opts)
			if err != nil {
				t.Fatalf("seed %d: Open after crash: %v", seed, err)
			}
			last := rec.Snapshot.Index
			if k := len(rec.Entries); k > 0 {
				last = rec.Entries[k-1].GetIndex()
				equalEntries(t, rec.Entries, ents(rec.Snapshot.Index+1, last, 1))
			}
			if last < synced || rec.Snapshot.Index < snap {
				t.Fatalf("seed %d: recovered up to %d (snapshot %d), synced %d (snapshot %d)", seed, last, rec.Snapshot.Index, synced, snap)
			}
		}
	}
}

// TestLostPageBeforeKeptOne: a crash that kept a later unsynced page and lost
// an earlier one (a sector of zeros between a damaged record and intact
// ones) is a torn tail; the same damage without a zeroed sector is
// corruption.
func TestLostPageBeforeKeptOne(t *testing.T) {
	m, w := newWAL(t, wal.Options{})
	must(t, w.Save(hardState(1, 1, 2), ents(1, 2, 1), true))
	seg := segments(t, m)[0]
	synced := fileSize(t, m, seg)
	// Unsynced records spanning several sectors.
	var big []*raftpb.Entry
	for i := uint64(3); i <= 12; i++ {
		big = append(big, ent(i, 1, strings.Repeat(fmt.Sprint(i%10), 300)))
	}
	must(t, w.Save(nil, big, false))
	orig := readBytes(t, m, seg)
	if len(orig)-int(synced) < 4*512 {
		t.Fatalf("unsynced tail of %d bytes is too short to hold a lost sector", len(orig)-int(synced))
	}
	hole := (int(synced) + 511) / 512 * 512 // first whole sector after the synced records

	lost := bytes.Clone(orig)
	clear(lost[hole : hole+512])
	c := m.Clone()
	rewrite(t, c, seg, lost)
	w2, rec := reopen(t, c, wal.Options{})
	if n := len(rec.Entries); n < 2 || n >= 12 {
		t.Fatalf("recovered %d entries, want the synced 2 and none after the hole", n)
	}
	for i, e := range rec.Entries {
		if e.GetIndex() != uint64(i+1) {
			t.Fatalf("entry %d has index %d", i, e.GetIndex())
		}
	}
	// What follows the hole went with it: appending after the recovered end
	// and reopening yields a gapless log.
	next := uint64(len(rec.Entries)) + 1
	must(t, w2.Save(nil, ents(next, next, 1), true))
	must(t, w2.Close())
	_, rec = reopen(t, c, wal.Options{})
	if got := rec.Entries[len(rec.Entries)-1].GetIndex(); got != next {
		t.Fatalf("last entry %d after append, want %d", got, next)
	}

	garbled := bytes.Clone(orig)
	for i := hole; i < hole+512; i++ {
		garbled[i] ^= 0x5a
	}
	c = m.Clone()
	rewrite(t, c, seg, garbled)
	if _, _, err := wal.Open(c, dir, wal.Options{}); !errors.Is(err, wal.ErrCorrupt) {
		t.Fatalf("damaged sector without zeros: Open = %v, want ErrCorrupt", err)
	}
}

// TestReleaseBehindAnOlderMarkerAtTheHead: a segment that starts with an
// older marker (re-saved after a crash) and whose predecessors were
// released under a newer marker written further on recovers; a log whose
// start no marker covers is still corruption.
func TestReleaseBehindAnOlderMarkerAtTheHead(t *testing.T) {
	m, w := newWAL(t, wal.Options{SegmentBytes: 64})
	must(t, w.Save(hardState(1, 1, 5), ents(1, 5, 1), true))
	must(t, w.Save(hardState(1, 1, 5), nil, true)) // cuts: the next segment holds only this
	must(t, w.SaveSnapshot(wal.SnapMarker{Index: 3, Term: 1}))
	must(t, w.Save(hardState(1, 1, 8), ents(6, 8, 1), true))
	must(t, w.SaveSnapshot(wal.SnapMarker{Index: 7, Term: 1}))
	must(t, w.ReleaseTo(7))
	segs := segments(t, m)
	if len(segs) != 1 {
		t.Fatalf("segments after release: %v, want the last one alone", segs)
	}
	head := readBytes(t, m, segs[0])
	_, rec := reopen(t, m.Clone(), wal.Options{SegmentBytes: 64})
	if rec.Snapshot.Index != 7 {
		t.Fatalf("snapshot %+v, want index 7", rec.Snapshot)
	}
	equalEntries(t, rec.Entries, ents(8, 8, 1))

	// Without the newer marker the released entries 4-5 are a gap.
	c := m.Clone()
	rewrite(t, c, segs[0], head[:markerEnd(t, head)])
	if _, _, err := wal.Open(c, dir, wal.Options{}); err == nil {
		t.Fatal("Open of a log whose start no marker covers succeeded")
	} else if !errors.Is(err, wal.ErrCorrupt) || !strings.Contains(err.Error(), "gap after snapshot 3") {
		t.Fatalf("Open = %v, want ErrCorrupt naming the gap after snapshot 3", err)
	}
}

// markerEnd is the offset of the first marker (7, 1) in a segment: cut
// there, it holds the older marker and entries 6-8 but no newer marker.
func markerEnd(t *testing.T, seg []byte) int {
	t.Helper()
	want := []byte{7, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0} // marker payload (7, 1)
	i := bytes.Index(seg, want)
	if i < 9 {
		t.Fatal("no marker (7, 1) in the segment")
	}
	return i - 9 // its 9-byte header
}
