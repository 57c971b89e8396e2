package wal_test

import (
	"errors"
	"fmt"
	"path"
	"strings"
	"testing"

	"go.etcd.io/raft/v3/raftpb"
	"google.golang.org/protobuf/proto"

	"metastore/core/disk"
	"metastore/core/wal"
)

const dir = "data/wal"

func must(t testing.TB, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func ent(index, term uint64, data string) *raftpb.Entry {
	return &raftpb.Entry{Index: proto.Uint64(index), Term: proto.Uint64(term), Type: raftpb.EntryNormal.Enum(), Data: []byte(data)}
}

func ents(lo, hi, term uint64) []*raftpb.Entry {
	var es []*raftpb.Entry
	for i := lo; i <= hi; i++ {
		es = append(es, ent(i, term, fmt.Sprintf("data-%d-%d", i, term)))
	}
	return es
}

func hardState(term, vote, commit uint64) *raftpb.HardState {
	return &raftpb.HardState{Term: proto.Uint64(term), Vote: proto.Uint64(vote), Commit: proto.Uint64(commit)}
}

// describe renders entries as "index/term" for readable comparisons.
func describe(es []*raftpb.Entry) string {
	parts := make([]string, len(es))
	for i, e := range es {
		parts[i] = fmt.Sprintf("%d/%d", e.GetIndex(), e.GetTerm())
	}
	return strings.Join(parts, " ")
}

func equalEntries(t testing.TB, got, want []*raftpb.Entry) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("entries:\n got %s\nwant %s", describe(got), describe(want))
	}
	for i := range got {
		if !proto.Equal(got[i], want[i]) {
			t.Fatalf("entry %d: got %v, want %v", i, got[i], want[i])
		}
	}
}

func newWAL(t testing.TB, opts wal.Options) (*disk.Mem, *wal.WAL) {
	t.Helper()
	m := disk.NewMem()
	w, err := wal.Create(m, dir, opts)
	must(t, err)
	return m, w
}

func reopen(t testing.TB, fs disk.FS, opts wal.Options) (*wal.WAL, wal.Recovered) {
	t.Helper()
	w, rec, err := wal.Open(fs, dir, opts)
	must(t, err)
	return w, rec
}

// segments lists the WAL's segment files.
func segments(t testing.TB, fs disk.FS) []string {
	t.Helper()
	names, err := fs.List(dir)
	must(t, err)
	var segs []string
	for _, n := range names {
		if strings.HasSuffix(n, ".wal") {
			segs = append(segs, n)
		}
	}
	return segs
}

func fileSize(t testing.TB, fs disk.FS, name string) int64 {
	t.Helper()
	f, err := fs.Open(path.Join(dir, name))
	must(t, err)
	defer f.Close()
	n, err := f.Size()
	must(t, err)
	return n
}

func readBytes(t testing.TB, fs disk.FS, name string) []byte {
	t.Helper()
	f, err := fs.Open(path.Join(dir, name))
	must(t, err)
	defer f.Close()
	n, _ := f.Size()
	buf := make([]byte, n)
	f.ReadAt(buf, 0)
	return buf
}

// rewrite replaces a file's contents in place (same file, like a disk
// corrupting it) and syncs.
func rewrite(t testing.TB, fs disk.FS, name string, data []byte) {
	t.Helper()
	f, err := fs.OpenAppend(path.Join(dir, name))
	must(t, err)
	must(t, f.Truncate(0))
	_, err = f.Write(data)
	must(t, err)
	must(t, f.Sync())
	must(t, f.Close())
}

// failingFS makes every File.Sync fail once armed.
type failingFS struct {
	disk.FS
	armed *bool
}

type failingFile struct {
	disk.File
	armed *bool
}

var errInjected = errors.New("injected fsync failure")

func (f failingFS) Create(name string) (disk.File, error) {
	file, err := f.FS.Create(name)
	if err != nil {
		return nil, err
	}
	return failingFile{file, f.armed}, nil
}

func (f failingFile) Sync() error {
	if *f.armed {
		return errInjected
	}
	return f.File.Sync()
}
