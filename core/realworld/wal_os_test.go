package realworld_test

import (
	"testing"

	"go.etcd.io/raft/v3/raftpb"
	"google.golang.org/protobuf/proto"

	"metastore/core/realworld"
	"metastore/core/wal"
)

// TestWALOnOSDisk runs the WAL's save, torn-tail recovery and reopen on the
// real file system, so the twin the simulator trusts is checked against it.
func TestWALOnOSDisk(t *testing.T) {
	fs, dir := realworld.OSDisk{}, t.TempDir()+"/wal"
	w, err := wal.Create(fs, dir, wal.Options{SegmentBytes: 128})
	if err != nil {
		t.Fatal(err)
	}
	for i := uint64(1); i <= 10; i++ {
		e := &raftpb.Entry{Index: proto.Uint64(i), Term: proto.Uint64(1), Data: []byte("payload")}
		if err := w.Save(&raftpb.HardState{Term: proto.Uint64(1), Commit: proto.Uint64(i - 1)}, []*raftpb.Entry{e}, true); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	names, err := fs.List(dir)
	if err != nil || len(names) < 2 {
		t.Fatalf("segments %v, %v", names, err)
	}
	// Tear the last record of the last segment.
	f, err := fs.OpenAppend(dir + "/" + names[len(names)-1])
	if err != nil {
		t.Fatal(err)
	}
	size, _ := f.Size()
	if err := f.Truncate(size - 3); err != nil {
		t.Fatal(err)
	}
	f.Close()
	w, rec, err := wal.Open(fs, dir, wal.Options{SegmentBytes: 128})
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	// Each Save wrote entry then hard state: the torn record is the last
	// hard state, so every entry stays and the previous commit is back.
	if n := len(rec.Entries); n != 10 || rec.Entries[n-1].GetIndex() != 10 {
		t.Fatalf("recovered %d entries after tearing the last record, want 10", n)
	}
	if rec.HardState.GetCommit() != 8 {
		t.Fatalf("hard state %v, want commit 8", rec.HardState)
	}
}
