package rocksdb_test

import (
	"fmt"
	"testing"

	"github.com/linxGnu/grocksdb"

	"metastore/engines/rocksdb"
)

// A database written before revision keys had a column family of their own
// holds them in the default one: Open moves them, and they read back,
// alone and among the other keys, in order.
func TestOpenMovesRevisionsOfAnOlderDatabase(t *testing.T) {
	dir := t.TempDir()
	opts := grocksdb.NewDefaultOptions()
	opts.SetCreateIfMissing(true)
	db, err := grocksdb.OpenDb(opts, dir)
	if err != nil {
		t.Fatal(err)
	}
	var want []string
	wo := grocksdb.NewDefaultWriteOptions()
	put := func(k string) {
		if err := db.Put(wo, []byte(k), []byte("v"+k)); err != nil {
			t.Fatal(err)
		}
		want = append(want, k)
	}
	put("d/1")
	put("m/applied")
	for i := range 5000 { // more than one of the move's batches of 4 MiB
		db.Put(wo, fmt.Appendf(nil, "r/%05d", i), make([]byte, 1000))
	}
	put("s/after")
	db.Close()
	wo.Destroy()
	opts.Destroy()

	e, err := rocksdb.Open(dir, testOptions)
	if err != nil {
		t.Fatal(err)
	}
	check := func(when string) {
		t.Helper()
		for _, k := range want {
			if v, ok, err := e.Get([]byte(k)); err != nil || !ok || string(v) != "v"+k {
				t.Fatalf("%s: Get(%s) = %q, %v, %v", when, k, v, ok, err)
			}
		}
		it := e.NewIter(nil, nil)
		defer it.Close()
		n, revs := 0, 0
		var prev []byte
		for ok := it.First(); ok; ok = it.Next() {
			if prev != nil && string(it.Key()) <= string(prev) {
				t.Fatalf("%s: %q after %q", when, it.Key(), prev)
			}
			prev = append(prev[:0], it.Key()...)
			if len(it.Key()) > 2 && string(it.Key()[:2]) == "r/" {
				revs++
			}
			n++
		}
		if err := it.Error(); err != nil || n != len(want)+5000 || revs != 5000 {
			t.Fatalf("%s: full scan found %d keys (%d revisions), want %d; error %v", when, n, revs, len(want)+5000, err)
		}
		if v, ok, _ := e.Get([]byte("r/04999")); !ok || len(v) != 1000 {
			t.Fatalf("%s: the last revision is gone", when)
		}
	}
	check("after the move")
	if err := e.Close(); err != nil {
		t.Fatal(err)
	}
	// Reopened, the revisions are read from their own family only.
	if e, err = rocksdb.Open(dir, testOptions); err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	check("reopened")
}

// Revision keys, which only grow, leave L0 without being rewritten: the
// point of their column family. After flushes of ascending revision
// batches, each carrying the metadata every apply batch does (an applied
// index, a dedup record), every flushed file of revisions is still there,
// moved down whole, where one family would have merged each L0 file with
// the whole level below.
func TestRevisionFlushesAreMovedNotRewritten(t *testing.T) {
	e, err := rocksdb.Open(t.TempDir(), testOptions)
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	b := e.NewBatch()
	value := make([]byte, 1000)
	const flushes = 12
	rev := 0
	for range flushes {
		for range 500 {
			b.Reset()
			b.Set(fmt.Appendf(nil, "r/%08d", rev), value)
			b.Set([]byte("m/applied"), fmt.Appendf(nil, "%d", rev))
			b.Set(fmt.Appendf(nil, "d/%08d", rev), []byte("x"))
			rev++
			if err := e.Write(b); err != nil {
				t.Fatal(err)
			}
		}
		if err := e.Flush(); err != nil {
			t.Fatal(err)
		}
	}
	e.WaitForCompactions()
	files := e.RevisionFilesByLevel()
	total := 0
	for _, n := range files {
		total += n
	}
	if total != flushes || files[0] == flushes {
		t.Errorf("revision files by level %v: want the %d flushed files, moved out of L0", files, flushes)
	}
}
