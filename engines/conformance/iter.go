package conformance

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"

	"metastore/core/engine"
)

func testIterBounds(t *testing.T, o Opener) {
	e := o.openT(t)
	for _, k := range []string{"a", "b", "bb", "c", "d"} {
		set(t, e, k, "v"+k)
	}
	b := func(s string) []byte { return []byte(s) }
	for _, tc := range []struct {
		lower, upper []byte
		want         []kv
	}{
		{nil, nil, pairs("a", "va", "b", "vb", "bb", "vbb", "c", "vc", "d", "vd")},
		{b("b"), b("d"), pairs("b", "vb", "bb", "vbb", "c", "vc")}, // lower inclusive, upper exclusive
		{b("ab"), b("bc"), pairs("b", "vb", "bb", "vbb")},          // bounds between keys
		{b("c"), nil, pairs("c", "vc", "d", "vd")},                 // nil upper: unbounded
		{nil, b("b"), pairs("a", "va")},                            // nil lower
		{b(""), b("a\x00"), pairs("a", "va")},                      // empty lower = from the start
		{b("b"), b("b"), nil},                                      // empty range
		{b("c"), b("b"), nil},                                      // inverted range
		{b("e"), nil, nil},                                         // past the end
		{b("d"), b("d\x00"), pairs("d", "vd")},                     // single key
	} {
		expectScan(t, e, tc.lower, tc.upper, tc.want)
	}

	// SeekGE clamps to the bounds.
	it := e.NewIter(b("b"), b("d"))
	defer closeIter(t, it)
	expectAt(t, it, it.SeekGE(b("a")), "b")
	expectAt(t, it, it.SeekGE(b("bc")), "c")
	expectAt(t, it, it.SeekGE(b("c\x00")), atEnd)
	expectAt(t, it, it.SeekGE(b("d")), atEnd)
	expectAt(t, it, it.Last(), "c")
	expectAt(t, it, it.Next(), atEnd)
	expectAt(t, it, it.First(), "b")
	expectAt(t, it, it.Prev(), atEnd)
}

// atEnd tells expectAt that a move must report the end. No test key is
// spelled this way.
const atEnd = "<end>"

// expectAt asserts the result of a move: the iterator is at key want, or,
// for atEnd, the move reported false and left the iterator invalid.
func expectAt(t tb, it engine.Iterator, moved bool, want string) {
	t.Helper()
	if want == atEnd {
		if moved || it.Valid() {
			t.Fatalf("move = %v, Valid = %v at %q; want the end", moved, it.Valid(), it.Key())
		}
		return
	}
	if !moved || !it.Valid() {
		t.Fatalf("move = %v, Valid = %v; want key %q", moved, it.Valid(), want)
	}
	if !bytes.Equal(it.Key(), []byte(want)) {
		t.Fatalf("at key %q, want %q", it.Key(), want)
	}
}

// binaryKeys are in ascending bytes.Compare order, edges included.
var binaryKeys = []string{
	"", "\x00", "\x00\x00", "\x00\xff", "\x01", "a", "a\x00", "a\xff", "b",
	"\x7f", "\x80", "\xff", "\xff\x00", "\xff\xff", "\xff\xff\xff",
}

func testIterMoves(t *testing.T, o Opener) {
	e := o.openT(t)
	b := e.NewBatch()
	// Insert in a scrambled order; even indexes get the empty value.
	for _, i := range rand.New(rand.NewPCG(1, 2)).Perm(len(binaryKeys)) {
		b.Set([]byte(binaryKeys[i]), valueFor(i))
	}
	if err := e.Write(b); err != nil {
		t.Fatal(err)
	}
	var want []kv
	for i, k := range binaryKeys {
		want = append(want, kv{[]byte(k), valueFor(i)})
		mustGet(t, e, k, valueFor(i))
	}
	expectScan(t, e, nil, nil, want)

	it := e.NewIter(nil, nil)
	defer closeIter(t, it)
	n := len(binaryKeys)
	expectAt(t, it, it.First(), "") // the empty key is the smallest
	if len(it.Value()) != 0 {
		t.Fatalf("First value = %q, want empty", it.Value())
	}
	expectAt(t, it, it.Last(), binaryKeys[n-1])
	if !bytes.Equal(it.Value(), valueFor(n-1)) {
		t.Fatalf("Last value = %q, want %q", it.Value(), valueFor(n-1))
	}
	// Zig-zag: every Next then Prev returns to the same key.
	it.First()
	for i := 0; i+1 < n; i++ {
		expectAt(t, it, it.Next(), binaryKeys[i+1])
		if i > 0 {
			expectAt(t, it, it.Prev(), binaryKeys[i])
			expectAt(t, it, it.Next(), binaryKeys[i+1])
		}
	}
	expectAt(t, it, it.Next(), atEnd)
	// SeekGE to each key, and to just past each key.
	for i, k := range binaryKeys[1:] {
		expectAt(t, it, it.SeekGE([]byte(k)), k)
		next := atEnd
		if i+2 < n {
			next = binaryKeys[i+2]
		}
		expectAt(t, it, it.SeekGE([]byte(k+"\x00")), next)
		if i+2 < n {
			expectAt(t, it, it.Prev(), k)
		}
	}
	expectAt(t, it, it.SeekGE(nil), "")
	expectAt(t, it, it.Prev(), atEnd)
}

func valueFor(i int) []byte {
	if i%2 == 0 {
		return []byte{}
	}
	return []byte(fmt.Sprintf("v%d\x00\xff", i))
}

func testIterEmpty(t *testing.T, o Opener) {
	e := o.openT(t)
	it := e.NewIter(nil, nil)
	defer closeIter(t, it)
	expectAt(t, it, it.First(), atEnd)
	expectAt(t, it, it.Last(), atEnd)
	expectAt(t, it, it.SeekGE([]byte("a")), atEnd)
	expectAt(t, it, it.Next(), atEnd)
	expectAt(t, it, it.Prev(), atEnd)
	if it.Valid() {
		t.Fatal("empty iterator is valid")
	}
}

func testManyKeys(t *testing.T, o Opener) {
	e := o.openT(t)
	const n = 10000
	rng := rand.New(rand.NewPCG(3, 4))
	var want []kv
	b := e.NewBatch()
	for i, j := range rng.Perm(n) {
		// Big-endian-ish keys with a varying length tail so prefixes matter.
		k := fmt.Appendf(nil, "%08x", j*7919%n*3)
		k = append(k, bytes.Repeat([]byte{byte(j)}, j%3)...)
		v := fmt.Appendf(nil, "%d", j)
		want = append(want, kv{k, v})
		b.Set(k, v)
		if i%1000 == 999 {
			if err := e.Write(b); err != nil {
				t.Fatal(err)
			}
			b.Reset()
		}
	}
	slices.SortFunc(want, func(a, b kv) int { return bytes.Compare(a.key, b.key) })
	expectScan(t, e, nil, nil, want)
	lo, hi := want[1234].key, want[8765].key
	expectScan(t, e, lo, hi, want[1234:8765])

	it := e.NewIter(nil, nil)
	defer closeIter(t, it)
	for range 200 {
		i := rng.IntN(n)
		probe := append(bytes.Clone(want[i].key), 0) // just past key i
		if i+1 < n {
			expectAt(t, it, it.SeekGE(probe), string(want[i+1].key))
			expectAt(t, it, it.Prev(), string(want[i].key))
		} else {
			expectAt(t, it, it.SeekGE(probe), atEnd)
		}
	}
}
