package rocksdb_test

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"testing"

	"metastore/core/engine"
	"metastore/engines/rocksdb"
)

// TestReopen checks that what Write returned from is there after Close and
// Open, with batches whole.
func TestReopen(t *testing.T) {
	dir := t.TempDir()
	e, err := rocksdb.Open(dir, testOptions)
	if err != nil {
		t.Fatal(err)
	}
	if !e.Durable() {
		t.Fatal("rocksdb engine does not claim durability")
	}
	b := e.NewBatch()
	for i := range 1000 {
		b.Set(fmt.Appendf(nil, "k%04d", i), fmt.Appendf(nil, "v%d", i))
		if i%100 == 99 {
			if err := e.Write(b); err != nil {
				t.Fatal(err)
			}
			b.Reset()
		}
	}
	b.Delete([]byte("k0000"))
	b.Set([]byte("empty"), nil)
	if err := e.Write(b); err != nil {
		t.Fatal(err)
	}
	if err := e.Sync(); err != nil {
		t.Fatal(err)
	}
	if err := e.Close(); err != nil {
		t.Fatal(err)
	}
	e, err = rocksdb.Open(dir, testOptions)
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	if _, ok, _ := e.Get([]byte("k0000")); ok {
		t.Fatal("deleted key back after reopen")
	}
	if v, ok, err := e.Get([]byte("empty")); err != nil || !ok || v == nil || len(v) != 0 {
		t.Fatalf("empty value after reopen = %q, %v, %v", v, ok, err)
	}
	n := 0
	it := e.NewIter([]byte("k"), []byte("l"))
	for ok := it.First(); ok; ok = it.Next() {
		n++
	}
	if err := it.Close(); err != nil {
		t.Fatal(err)
	}
	if n != 999 {
		t.Fatalf("%d keys after reopen, want 999", n)
	}
}

// TestCloseWithOpenViews closes the engine while iterators and snapshots
// are open: they must report the closure, never touch the closed database.
func TestCloseWithOpenViews(t *testing.T) {
	e := open(t)
	b := e.NewBatch()
	b.Set([]byte("a"), []byte("1"))
	b.Set([]byte("b"), []byte("2"))
	if err := e.Write(b); err != nil {
		t.Fatal(err)
	}
	it := e.NewIter(nil, nil)
	if !it.First() {
		t.Fatal("empty")
	}
	s := e.Snapshot()
	sit := s.NewIter(nil, nil)
	if err := s.Close(); err != nil { // the iterator keeps the snapshot alive
		t.Fatal(err)
	}
	if !sit.First() || string(sit.Key()) != "a" {
		t.Fatal("iterator lost its closed snapshot's view")
	}
	s2 := e.Snapshot()
	if err := e.Close(); err != nil {
		t.Fatal(err)
	}
	if err := e.Close(); !errors.Is(err, engine.ErrClosed) {
		t.Fatalf("second Close: %v", err)
	}
	// A positioned iterator whose engine closed reads nothing, safely.
	if it.Key() != nil || it.Value() != nil {
		t.Fatal("iterator read a closed engine")
	}
	if it.Next() || it.Valid() {
		t.Fatal("iterator moved on a closed engine")
	}
	if !errors.Is(it.Error(), engine.ErrClosed) {
		t.Fatalf("iterator Error after engine Close = %v, want ErrClosed", it.Error())
	}
	if err := it.Close(); !errors.Is(err, engine.ErrClosed) {
		t.Fatalf("iterator Close = %v, want ErrClosed", err)
	}
	if sit.Next() {
		t.Fatal("snapshot iterator moved on a closed engine")
	}
	sit.Close()
	if _, _, err := s2.Get([]byte("a")); !errors.Is(err, engine.ErrClosed) {
		t.Fatalf("snapshot Get after engine Close: %v", err)
	}
	if err := s2.Close(); !errors.Is(err, engine.ErrClosed) {
		t.Fatalf("snapshot Close after engine Close: %v", err)
	}
	if e.NewIter(nil, nil).First() {
		t.Fatal("iterator opened after Close is not empty")
	}
	if _, _, err := e.Snapshot().Get([]byte("a")); !errors.Is(err, engine.ErrClosed) {
		t.Fatalf("Get on snapshot taken after Close: %v", err)
	}
}

func TestOptions(t *testing.T) {
	if err := (rocksdb.Options{Compression: "brotli"}).Validate(); err == nil {
		t.Fatal("unknown compression accepted")
	}
	for _, c := range rocksdb.Compressions {
		o := testOptions
		o.Compression = c
		e, err := rocksdb.Open(t.TempDir(), o)
		if err != nil {
			t.Fatalf("compression %s: %v", c, err)
		}
		b := e.NewBatch()
		b.Set([]byte("k"), make([]byte, 4096))
		if err := e.Write(b); err != nil {
			t.Fatal(err)
		}
		if err := e.Flush(); err != nil { // writes an SST with that compression
			t.Fatalf("compression %s: flush: %v", c, err)
		}
		e.Close()
	}
}

// TestBatchWritesNoRangeTombstones: the batch offers no DeleteRange.
// Memtable insert hints are on (memtableHints), and RocksDB 7.8 keeps one
// hint per prefix for the point and the range-deletion skip lists alike
// (facebook/rocksdb#5118, fixed in 9.2 by #12558): a range tombstone whose
// start key shares a prefix with point keys corrupts the memtable (a put,
// a range tombstone over it and more puts under one 8-byte prefix crashed
// the process). Nothing in the store writes range tombstones.
func TestBatchWritesNoRangeTombstones(t *testing.T) {
	e := open(t)
	defer e.Close()
	if _, ok := e.NewBatch().(interface{ DeleteRange(start, end []byte) }); ok {
		t.Fatal("the RocksDB batch offers DeleteRange, which memtable insert hints make unsafe on RocksDB 7.8")
	}
}

// TestProcessCrashKeepsFlushedWrites runs a child process that writes
// batches, flushes them (FlushWrites, as the replica does every 64 KiB of
// entries and every tick), writes one more and exits without closing the engine, as a killed
// process would. Every flushed batch must be there after reopening; the
// unflushed one was still in the process's WAL buffer and must be gone,
// whole.
func TestProcessCrashKeepsFlushedWrites(t *testing.T) {
	if dir := os.Getenv("ROCKSDB_CRASH_CHILD_DIR"); dir != "" {
		crashChild(dir)
		return
	}
	dir := t.TempDir()
	cmd := exec.Command(os.Args[0], "-test.run=^TestProcessCrashKeepsFlushedWrites$")
	cmd.Env = append(os.Environ(), "ROCKSDB_CRASH_CHILD_DIR="+dir)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("child: %v\n%s", err, out)
	}
	e, err := rocksdb.Open(dir, testOptions)
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	for i := range 10 {
		for j := range 3 {
			k := fmt.Appendf(nil, "b%02d/%d", i, j)
			if _, ok, err := e.Get(k); !ok || err != nil {
				t.Fatalf("flushed key %s missing after the crash: %v", k, err)
			}
		}
	}
	for j := range 3 {
		k := fmt.Appendf(nil, "unflushed/%d", j)
		if _, ok, err := e.Get(k); ok || err != nil {
			t.Fatalf("key %s of the unflushed batch found after the crash (%v): is the WAL still written by every Write?", k, err)
		}
	}
}

// crashChild is the child process of TestProcessCrashKeepsFlushedWrites.
func crashChild(dir string) {
	e, err := rocksdb.Open(dir, testOptions)
	if err != nil {
		panic(err)
	}
	b := e.NewBatch()
	write := func(prefix string) {
		b.Reset()
		for j := range 3 {
			b.Set(fmt.Appendf(nil, "%s/%d", prefix, j), []byte("v"))
		}
		if err := e.Write(b); err != nil {
			panic(err)
		}
	}
	for i := range 10 {
		write(fmt.Sprintf("b%02d", i))
		if i%3 == 2 || i == 9 {
			if err := e.FlushWrites(); err != nil {
				panic(err)
			}
		}
	}
	write("unflushed")
	os.Exit(0) // no Close: the process dies with its WAL buffer
}
