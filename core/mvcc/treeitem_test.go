package mvcc

import (
	"bytes"
	"slices"
	"testing"
)

// TestIndexOrderAcrossPrefix checks that the index tree ascends in key
// order where keys differ inside the 12-byte slot prefix, past it, and only
// in zero bytes the padding could confuse with a shorter key.
func TestIndexOrderAcrossPrefix(t *testing.T) {
	keys := [][]byte{
		{}, {0}, {0, 0}, []byte("a"), []byte("a\x00"), []byte("a\x00\x00"), []byte("a\x01"),
		[]byte("abcdefghijk"), []byte("abcdefghijkl"), []byte("abcdefghijkl\x00"), []byte("abcdefghijklm"),
		[]byte("abcdefghijkm"), []byte("abcdefgh"), []byte("abcdefgh\x00\x00\x00\x00"),
		[]byte("abcdefgh\x00\x00\x00\x00\x00"), []byte("abcdefgi"), []byte("\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff"),
		[]byte("/registry/pods/b"), []byte("/registry/pods/a"), []byte("/registry/pod"),
	}
	x := newIndex()
	for i := len(keys) - 1; i >= 0; i-- { // not in order
		x.getOrCreate(keys[i])
	}
	var got [][]byte
	x.ascend(func(ki *keyIndex) bool {
		got = append(got, slices.Clone(ki.keyBytes()))
		return true
	})
	want := slices.Clone(keys)
	slices.SortFunc(want, bytes.Compare)
	if !slices.EqualFunc(got, want, bytes.Equal) {
		t.Fatalf("index order %q, want %q", got, want)
	}
	var spanned [][]byte
	x.visit([]byte("a\x00"), []byte("abcdefghijkl\x00"), func(ki *keyIndex) bool {
		spanned = append(spanned, slices.Clone(ki.keyBytes()))
		return true
	})
	lo := slices.IndexFunc(want, func(k []byte) bool { return string(k) == "a\x00" })
	hi := slices.IndexFunc(want, func(k []byte) bool { return string(k) == "abcdefghijkl\x00" })
	if !slices.EqualFunc(spanned, want[lo:hi], bytes.Equal) {
		t.Fatalf("span [a\\x00, abcdefghijkl\\x00) %q, want %q", spanned, want[lo:hi])
	}
	for _, k := range keys {
		x.remove(x.get(k))
	}
	if n := x.tree.Len(); n != 0 {
		t.Fatalf("%d slots left after removing every key", n)
	}
}
