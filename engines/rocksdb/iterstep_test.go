package rocksdb

import (
	"bytes"
	"fmt"
	"testing"
)

// TestNativeIter checks the one assumption about grocksdb's internals the
// iterator makes (nativeIter): a move made through the C iterator it
// extracts is the move grocksdb's own Iterator sees, in both directions,
// with the same key and value.
func TestNativeIter(t *testing.T) {
	e, err := Open(t.TempDir(), Options{BlockCacheBytes: 8 << 20, WriteBufferBytes: 4 << 20, BackgroundJobs: 1})
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	b := e.NewBatch()
	for i := range 10 {
		b.Set(fmt.Appendf(nil, "k%d", i), fmt.Appendf(nil, "v%d", i))
	}
	if err := e.Write(b); err != nil {
		t.Fatal(err)
	}
	it := e.NewIter([]byte("k"), []byte("l")).(*iter) // inside one column family
	defer it.Close()
	check := func(what string, want string) {
		t.Helper()
		if !it.pos.isValid() || !it.it.Valid() {
			t.Fatalf("%s: invalid (ours %v, grocksdb's %v)", what, it.pos.isValid(), it.it.Valid())
		}
		k, v := it.it.Key(), it.it.Value()
		if string(it.pos.keyBytes()) != want || !bytes.Equal(it.pos.keyBytes(), k.Data()) || !bytes.Equal(it.pos.valueBytes(), v.Data()) {
			t.Fatalf("%s: ours %q=%q, grocksdb's %q=%q, want key %q", what, it.pos.keyBytes(), it.pos.valueBytes(), k.Data(), v.Data(), want)
		}
	}
	it.First()
	check("first", "k0")
	it.Next()
	check("next", "k1")
	it.SeekGE([]byte("k5"))
	check("seek", "k5")
	it.Prev()
	check("prev", "k4")
	it.Last()
	check("last", "k9")
	if it.Next() || it.pos.isValid() || it.it.Valid() {
		t.Fatal("next after the last key is valid")
	}
}
