package wal_test

import (
	"errors"
	"fmt"
	"io/fs"
	"testing"

	"go.etcd.io/raft/v3/raftpb"

	"metastore/core/disk"
	"metastore/core/wal"
)

func TestCreateExistsOpen(t *testing.T) {
	m := disk.NewMem()
	if wal.Exists(m, dir) {
		t.Fatal("Exists on a missing dir")
	}
	// A dir without segments (a crash before the first one) is a new log.
	must(t, m.MkdirAll(dir))
	if wal.Exists(m, dir) {
		t.Fatal("Exists on an empty dir")
	}
	w, rec, err := wal.Open(m, dir, wal.Options{})
	must(t, err)
	if rec.HardState != nil || len(rec.Entries) != 0 || rec.Snapshot != (wal.SnapMarker{}) {
		t.Fatalf("empty dir recovered %+v", rec)
	}
	if got := segments(t, m); len(got) != 1 || got[0] != "0000000000000001-0000000000000001.wal" {
		t.Fatalf("segments %v", got)
	}
	must(t, w.Save(hardState(2, 1, 1), ents(1, 1, 2), true))
	must(t, w.Close())
	if !wal.Exists(m, dir) {
		t.Fatal("Exists is false after Create")
	}
	if _, err := wal.Create(m, dir, wal.Options{}); !errors.Is(err, fs.ErrExist) {
		t.Fatalf("Create over a log: %v, want ErrExist", err)
	}
	if err := w.Save(nil, ents(2, 2, 2), true); !errors.Is(err, wal.ErrClosed) {
		t.Fatalf("Save after Close: %v", err)
	}
	// A freshly created log survives a crash that keeps only synced state.
	_, rec = reopen(t, m.CrashClone(nil, 0), wal.Options{})
	equalEntries(t, rec.Entries, ents(1, 1, 2))
}

func TestOverwriteTruncatesTail(t *testing.T) {
	opts := wal.Options{SegmentBytes: 100}
	m, w := newWAL(t, opts)
	must(t, w.Save(nil, ents(1, 10, 1), true))
	must(t, w.Save(nil, ents(6, 8, 2), true)) // a new leader rewrote 6..
	must(t, w.Save(nil, ents(9, 9, 2), true))
	must(t, w.Save(nil, ents(9, 12, 3), true)) // ... and another from 9
	must(t, w.Save(nil, ents(3, 3, 4), true))  // and another from 3
	must(t, w.Save(nil, ents(4, 5, 4), true))
	if len(segments(t, m)) < 2 {
		t.Fatal("want the rewrites to span segments")
	}
	_, rec := reopen(t, m, opts)
	want := append(ents(1, 2, 1), ents(3, 5, 4)...)
	equalEntries(t, rec.Entries, want)
}

func TestGapIsCorruption(t *testing.T) {
	m, w := newWAL(t, wal.Options{})
	must(t, w.Save(nil, ents(1, 2, 1), true))
	must(t, w.Save(nil, ents(4, 4, 1), true))
	must(t, w.Save(nil, ents(5, 5, 1), true))
	if _, _, err := wal.Open(m, dir, wal.Options{}); !errors.Is(err, wal.ErrCorrupt) {
		t.Fatalf("Open of a log with a gap: %v, want ErrCorrupt", err)
	}
}

func TestHardStateAndMarkerRecovery(t *testing.T) {
	m, w := newWAL(t, wal.Options{})
	must(t, w.Save(hardState(1, 1, 0), ents(1, 5, 1), true))
	must(t, w.Save(hardState(2, 3, 4), nil, true))
	must(t, w.Save(&raftpb.HardState{}, nil, true)) // empty: skipped
	must(t, w.Save(nil, ents(6, 7, 2), true))
	// A local snapshot at 4: the log holds 4/1, so it continues after it.
	must(t, w.SaveSnapshot(wal.SnapMarker{Index: 4, Term: 1}))
	must(t, w.Save(nil, ents(8, 8, 2), true))
	_, rec := reopen(t, m.Clone(), wal.Options{})
	if hs := rec.HardState; hs.GetTerm() != 2 || hs.GetVote() != 3 || hs.GetCommit() != 4 {
		t.Fatalf("hard state %v", hs)
	}
	if rec.Snapshot != (wal.SnapMarker{Index: 4, Term: 1}) {
		t.Fatalf("snapshot %+v", rec.Snapshot)
	}
	equalEntries(t, rec.Entries, append(ents(5, 5, 1), ents(6, 8, 2)...))

	// A leader's snapshot at 20 replaces the whole log; the hard state
	// saved before it is raised to commit the snapshot.
	must(t, w.SaveSnapshot(wal.SnapMarker{Index: 20, Term: 5}))
	_, rec = reopen(t, m.Clone(), wal.Options{})
	if len(rec.Entries) != 0 || rec.Snapshot.Index != 20 || rec.HardState.GetCommit() != 20 {
		t.Fatalf("after leader snapshot: %+v entries %s", rec.Snapshot, describe(rec.Entries))
	}
	must(t, w.Save(hardState(5, 0, 21), ents(21, 22, 5), true))
	// A snapshot whose index is in the log with another term replaces it too.
	must(t, w.SaveSnapshot(wal.SnapMarker{Index: 22, Term: 6}))
	must(t, w.Save(nil, ents(23, 23, 6), true))
	w2, rec := reopen(t, m, wal.Options{})
	if rec.Snapshot.Index != 22 {
		t.Fatalf("snapshot %+v", rec.Snapshot)
	}
	equalEntries(t, rec.Entries, ents(23, 23, 6))
	must(t, w2.Close())
}

func TestRolloverAndReleaseTo(t *testing.T) {
	opts := wal.Options{SegmentBytes: 200}
	m, w := newWAL(t, opts)
	must(t, w.Save(hardState(1, 1, 0), nil, true)) // the only hard state
	for i := uint64(1); i <= 40; i++ {
		must(t, w.Save(nil, ents(i, i, 1), true))
	}
	segs := segments(t, m)
	if len(segs) < 5 {
		t.Fatalf("40 entries in 200-byte segments: only %v", segs)
	}
	for i, s := range segs {
		var seq, first uint64
		if _, err := fmt.Sscanf(s, "%016x-%016x.wal", &seq, &first); err != nil || seq != uint64(i+1) {
			t.Fatalf("segment %d named %s", i, s)
		}
		if i+1 < len(segs) && fileSize(t, m, s) < 200 {
			t.Fatalf("segment %s cut before reaching SegmentBytes", s)
		}
	}
	_, rec := reopen(t, m.Clone(), opts)
	equalEntries(t, rec.Entries, ents(1, 40, 1))

	if err := w.ReleaseTo(10); err == nil {
		t.Fatal("ReleaseTo beyond the newest snapshot marker succeeded")
	}
	must(t, w.SaveSnapshot(wal.SnapMarker{Index: 25, Term: 1}))
	must(t, w.ReleaseTo(25))
	left := segments(t, m)
	if len(left) >= len(segs) {
		t.Fatalf("ReleaseTo(25) removed nothing: %v", left)
	}
	var first uint64
	fmt.Sscanf(left[0], "%016x-%016x.wal", new(uint64), &first)
	if first > 26 {
		t.Fatalf("ReleaseTo(25) removed entries after 25: first segment %s", left[0])
	}
	_, rec = reopen(t, m.Clone(), opts)
	equalEntries(t, rec.Entries, ents(26, 40, 1))
	if rec.HardState.GetTerm() != 1 || rec.Snapshot.Index != 25 {
		t.Fatalf("after release: hard state %v snapshot %+v", rec.HardState, rec.Snapshot)
	}

	// Everything covered: the last segment still stays.
	must(t, w.SaveSnapshot(wal.SnapMarker{Index: 40, Term: 1}))
	must(t, w.ReleaseTo(40))
	if n := len(segments(t, m)); n != 1 {
		t.Fatalf("%d segments left, want the last one", n)
	}
	w2, rec := reopen(t, m, opts)
	if len(rec.Entries) != 0 || rec.Snapshot.Index != 40 || rec.HardState.GetTerm() != 1 {
		t.Fatalf("after full release: %+v %v %s", rec.Snapshot, rec.HardState, describe(rec.Entries))
	}
	// The reopened log continues where it left off.
	must(t, w2.Save(nil, ents(41, 41, 1), true))
	_, rec = reopen(t, m, opts)
	equalEntries(t, rec.Entries, ents(41, 41, 1))
}

func TestSyncErrorIsSticky(t *testing.T) {
	armed := false
	m := disk.NewMem()
	w, err := wal.Create(failingFS{m, &armed}, dir, wal.Options{})
	must(t, err)
	must(t, w.Save(nil, ents(1, 1, 1), true))
	armed = true
	if err := w.Save(nil, ents(2, 2, 1), true); !errors.Is(err, errInjected) {
		t.Fatalf("Save with failing fsync: %v", err)
	}
	armed = false
	if err := w.Save(nil, ents(3, 3, 1), false); !errors.Is(err, errInjected) {
		t.Fatalf("Save after a failed fsync: %v, want the same error again", err)
	}
	if err := w.SaveSnapshot(wal.SnapMarker{Index: 1, Term: 1}); !errors.Is(err, errInjected) {
		t.Fatalf("SaveSnapshot after a failed fsync: %v", err)
	}
}
