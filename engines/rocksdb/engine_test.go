package rocksdb_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"metastore/core/engine"
	"metastore/engines/conformance"
	"metastore/engines/rocksdb"
)

// testOptions keep the suite's many small databases cheap to open.
var testOptions = rocksdb.Options{BlockCacheBytes: 8 << 20, WriteBufferBytes: 4 << 20, BackgroundJobs: 1}

func open(t *testing.T) *rocksdb.Engine {
	t.Helper()
	e, err := rocksdb.Open(t.TempDir(), testOptions)
	if err != nil {
		t.Fatal(err)
	}
	return e
}

func TestConformance(t *testing.T) {
	conformance.Run(t, func(t *testing.T) engine.Engine { return open(t) })
}

// Every watched property reads as a number: a name RocksDB does not know,
// or one it only reports as text that IntProperty cannot parse, would be a
// gauge stuck at 0.
func TestWatchedPropertiesAreKnown(t *testing.T) {
	e, err := rocksdb.Open(t.TempDir(), rocksdb.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	b := e.NewBatch()
	b.Set([]byte("k"), []byte("v"))
	if err := e.Write(b); err != nil {
		t.Fatal(err)
	}
	if err := e.Flush(); err != nil {
		t.Fatal(err)
	}
	for _, name := range rocksdb.WatchedProperties {
		if e.Property(name) == "" {
			t.Errorf("RocksDB does not know %q", name)
		}
	}
	if n := e.IntProperty("rocksdb.num-files-at-level0"); n != 1 {
		t.Errorf("L0 files after one flush: %d, want 1", n)
	}
	if ms := e.MemoryStats(); ms.TableReaders == 0 {
		t.Errorf("an open table's reader takes no memory: %+v", ms)
	}
}

// The memtable insert hints reach the database: they go through the
// options-string parser, not a typed setter, so nothing else checks them.
func TestMemtableInsertHintsAreSet(t *testing.T) {
	dir := t.TempDir()
	e, err := rocksdb.Open(dir, testOptions)
	if err != nil {
		t.Fatal(err)
	}
	if err := e.Close(); err != nil {
		t.Fatal(err)
	}
	files, err := filepath.Glob(filepath.Join(dir, "OPTIONS-*"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no OPTIONS file in %s: %v", dir, err)
	}
	text, err := os.ReadFile(files[len(files)-1])
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(text), "memtable_insert_with_hint_prefix_extractor=rocksdb.FixedPrefix.8") {
		t.Errorf("%s does not set the memtable insert hint prefix", files[len(files)-1])
	}
}
