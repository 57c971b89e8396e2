package rocksdb_test

import (
	"fmt"
	"math/rand/v2"
	"testing"

	"metastore/engines/rocksdb"
)

// TestLiveBytes checks the size the space quota sees: it grows with what is
// written (also across the readings of RocksDB's properties), survives a
// reopen, and shrinks once deleted data is compacted away.
func TestLiveBytes(t *testing.T) {
	dir := t.TempDir()
	e, err := rocksdb.Open(dir, testOptions)
	if err != nil {
		t.Fatal(err)
	}
	empty := e.LiveBytes()
	const valueLen = 1000
	// Incompressible values, all different: the SST files' size is what
	// they hold.
	random := rand.NewChaCha8([32]byte{1})
	value := make([]byte, valueLen)
	const keys = 4000 // 4 MB: several readings of the properties
	b := e.NewBatch()
	for i := range keys {
		random.Read(value)
		b.Set(fmt.Appendf(nil, "k%05d", i), value)
		if i%50 == 49 {
			if err := e.Write(b); err != nil {
				t.Fatal(err)
			}
			b.Reset()
		}
	}
	full := e.LiveBytes()
	if full-empty < keys*valueLen {
		t.Fatalf("LiveBytes %d after writing %d bytes into a database of %d", full, keys*valueLen, empty)
	}
	if full-empty > 4*keys*valueLen {
		t.Fatalf("LiveBytes %d after writing %d bytes into a database of %d: overcounted", full, keys*valueLen, empty)
	}
	if err := e.Flush(); err != nil {
		t.Fatal(err)
	}
	if flushed := e.LiveBytes(); flushed < keys*valueLen/2 {
		t.Fatalf("LiveBytes %d after the flush, %d before", flushed, full)
	}
	if err := e.Close(); err != nil {
		t.Fatal(err)
	}
	if e, err = rocksdb.Open(dir, testOptions); err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	if reopened := e.LiveBytes(); reopened < keys*valueLen/2 {
		t.Fatalf("LiveBytes %d after reopening, %d before", reopened, full)
	}
	for i := range keys {
		b.Delete(fmt.Appendf(nil, "k%05d", i))
	}
	if err := e.Write(b); err != nil {
		t.Fatal(err)
	}
	if err := e.Compact(); err != nil {
		t.Fatal(err)
	}
	if compacted := e.LiveBytes(); compacted >= keys*valueLen/10 {
		t.Fatalf("LiveBytes %d after deleting everything and compacting (%d when full)", compacted, full)
	}
}
