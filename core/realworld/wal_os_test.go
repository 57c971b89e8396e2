package realworld_test

import (
	"bytes"
	"fmt"
	"os"
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

// TestWALZeroAheadOnOSDisk checks zero-ahead on the real file system:
// positional writes land where the WAL put them, closed segments end at
// their last record, and a torn record left over the zeros is cut away on
// reopen before the log grows over it.
func TestWALZeroAheadOnOSDisk(t *testing.T) {
	fs, dir := realworld.OSDisk{}, t.TempDir()+"/wal"
	opts := wal.Options{SegmentBytes: 2000, ZeroAheadBytes: 4096}
	w, err := wal.Create(fs, dir, opts)
	if err != nil {
		t.Fatal(err)
	}
	save := func(w *wal.WAL, lo, hi uint64) {
		t.Helper()
		for i := lo; i <= hi; i++ {
			e := &raftpb.Entry{Index: proto.Uint64(i), Term: proto.Uint64(1), Data: bytes.Repeat([]byte{'p'}, 100)}
			if err := w.Save(nil, []*raftpb.Entry{e}, true); err != nil {
				t.Fatal(err)
			}
		}
	}
	save(w, 1, 50)
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	names, err := fs.List(dir)
	if err != nil || len(names) < 2 {
		t.Fatalf("segments %v, %v", names, err)
	}
	for i, name := range names {
		data := readOSFile(t, dir+"/"+name)
		logEnd := len(bytes.TrimRight(data, "\x00"))
		switch last := i == len(names)-1; {
		case !last && logEnd != len(data):
			t.Fatalf("closed segment %s: %d bytes, records end at %d", name, len(data), logEnd)
		case last && (len(data)%4096 != 0 || logEnd+1024 > len(data)):
			t.Fatalf("last segment %s: %d bytes, records end at %d: zeros not kept ahead", name, len(data), logEnd)
		case last:
			// A torn record over the zeros, as a crash mid-write leaves.
			f, err := fs.OpenAppend(dir + "/" + name)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := f.WriteAt([]byte{40, 0, 0, 0, 1, 2, 3, 4, 1, 'x', 'y'}, int64(logEnd)); err != nil {
				t.Fatal(err)
			}
			f.Close()
		}
	}
	w, rec, err := wal.Open(fs, dir, opts)
	if err != nil {
		t.Fatal(err)
	}
	if n := len(rec.Entries); n != 50 {
		t.Fatalf("recovered %d entries, want 50", n)
	}
	save(w, 51, 52)
	w.Close()
	_, rec, err = wal.Open(fs, dir, opts)
	if err != nil {
		t.Fatal(err)
	}
	if n := len(rec.Entries); n != 52 || rec.Entries[n-1].GetIndex() != 52 {
		t.Fatalf("recovered %d entries after appending over the torn record, want 52", n)
	}
}

func readOSFile(t *testing.T, name string) []byte {
	t.Helper()
	data, err := os.ReadFile(name)
	if err != nil {
		t.Fatal(err)
	}
	return data
}

// BenchmarkWALSaveOSDisk saves 20 entries of 300 bytes (6 KB, a batch of
// the 50-client put load) and syncs, on the real disk, appending or writing
// over zeros written ahead. Its ns/op is the device's fdatasync latency on
// the file system under t.TempDir.
func BenchmarkWALSaveOSDisk(b *testing.B) {
	for _, zeroAhead := range []int64{0, 1 << 20} {
		b.Run(fmt.Sprintf("zero-ahead=%d", zeroAhead), func(b *testing.B) {
			w, err := wal.Create(realworld.OSDisk{}, b.TempDir()+"/wal", wal.Options{ZeroAheadBytes: zeroAhead})
			if err != nil {
				b.Fatal(err)
			}
			defer w.Close()
			batch := make([]*raftpb.Entry, 20)
			for i := range batch {
				batch[i] = &raftpb.Entry{Index: proto.Uint64(0), Term: proto.Uint64(1), Data: bytes.Repeat([]byte{'v'}, 300)}
			}
			var index uint64
			for b.Loop() {
				for _, e := range batch {
					index++
					*e.Index = index
				}
				if err := w.Save(nil, batch, true); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
