// Package conformance is the test suite every engine.Engine must pass.
//
// An engine's own test calls Run with a function that opens a fresh, empty
// engine:
//
//	func TestConformance(t *testing.T) {
//		conformance.Run(t, func(t *testing.T) engine.Engine { return memory.New() })
//	}
//
// The suite uses only the engine.Engine contract, so it knows nothing of
// any engine's internals. Beyond the contract's text it requires what the
// server relies on: Snapshot reads on one goroutine while another writes
// must be race-free (run the suite with -race), and an empty value is a
// present value distinct from a missing key.
package conformance

import (
	"bytes"
	"errors"
	"fmt"
	"testing"

	"metastore/core/engine"
)

// Opener returns a fresh, empty engine. The suite closes it when the test
// that opened it ends; the opener only cleans up what lies beyond the
// engine (for example a temporary directory, via t.TempDir).
type Opener func(t *testing.T) engine.Engine

// Run runs the whole suite as subtests of t.
func Run(t *testing.T, open func(t *testing.T) engine.Engine) {
	o := Opener(open)
	for _, tc := range []struct {
		name string
		fn   func(*testing.T, Opener)
	}{
		{"GetMissingAndPresent", testGet},
		{"Overwrite", testOverwrite},
		{"Delete", testDelete},
		{"BatchOrder", testBatchOrder},
		{"BatchReset", testBatchReset},
		{"BatchAtomicConcurrent", testBatchAtomicConcurrent},
		{"NoAliasing", testNoAliasing},
		{"Closed", testClosed},
		{"IterBounds", testIterBounds},
		{"IterMoves", testIterMoves},
		{"IterEmpty", testIterEmpty},
		{"SnapshotIsolation", testSnapshotIsolation},
		{"SnapshotCloseAfterWrites", testSnapshotCloseAfterWrites},
		{"IterStableDuringWrites", testIterStableDuringWrites},
		{"LargeValue", testLargeValue},
		{"ManyKeys", testManyKeys},
		{"RandomDifferential", testRandomDifferential},
	} {
		t.Run(tc.name, func(t *testing.T) { tc.fn(t, o) })
	}
}

// openT opens an engine that is closed, checking the error, when t ends.
func (o Opener) openT(t *testing.T) engine.Engine {
	t.Helper()
	e := o(t)
	t.Cleanup(func() {
		if err := e.Close(); err != nil && !errors.Is(err, engine.ErrClosed) {
			t.Errorf("Close: %v", err)
		}
	})
	return e
}

// tb is the part of testing.TB the helpers use; *rapid.T has it too.
type tb interface {
	Helper()
	Errorf(format string, args ...any)
	Fatalf(format string, args ...any)
}

// kv is one key/value pair copied out of an engine.
type kv struct{ key, value []byte }

func (p kv) String() string { return fmt.Sprintf("%x=%x", p.key, p.value) }

// write applies the ops as one batch: pairs of (key, value), where a nil
// value means delete.
func write(t tb, e engine.Engine, ops ...kv) {
	t.Helper()
	b := e.NewBatch()
	for _, op := range ops {
		if op.value == nil {
			b.Delete(op.key)
		} else {
			b.Set(op.key, op.value)
		}
	}
	if err := e.Write(b); err != nil {
		t.Fatalf("Write: %v", err)
	}
}

func set(t tb, e engine.Engine, k, v string) {
	t.Helper()
	write(t, e, kv{[]byte(k), []byte(v)})
}

// mustGet asserts the value at key (want nil = absent).
func mustGet(t tb, r engine.Reader, key string, want []byte) {
	t.Helper()
	v, ok, err := r.Get([]byte(key))
	if err != nil {
		t.Fatalf("Get(%q): %v", key, err)
	}
	switch {
	case want == nil && ok:
		t.Fatalf("Get(%q) = %q, want absent", key, v)
	case want != nil && !ok:
		t.Fatalf("Get(%q) absent, want %q", key, want)
	case want != nil && !bytes.Equal(v, want):
		t.Fatalf("Get(%q) = %q, want %q", key, v, want)
	}
}

// scan copies out every pair of r in [lower, upper), walking forward with
// Next, or backward from Last with Prev.
func scan(t tb, r engine.Reader, lower, upper []byte, backward bool) []kv {
	t.Helper()
	it := r.NewIter(lower, upper)
	defer closeIter(t, it)
	var out []kv
	if backward {
		for ok := it.Last(); ok; ok = it.Prev() {
			out = append(out, current(t, it))
		}
	} else {
		for ok := it.First(); ok; ok = it.Next() {
			out = append(out, current(t, it))
		}
	}
	if it.Valid() {
		t.Fatalf("iterator valid after it reported the end")
	}
	if err := it.Error(); err != nil {
		t.Fatalf("iterator Error after a full walk: %v", err)
	}
	return out
}

// current copies the iterator's pair, checking Valid agrees.
func current(t tb, it engine.Iterator) kv {
	t.Helper()
	if !it.Valid() {
		t.Fatalf("move returned true but Valid() is false")
	}
	return kv{bytes.Clone(it.Key()), bytes.Clone(nonNil(it.Value()))}
}

func closeIter(t tb, it engine.Iterator) {
	t.Helper()
	if err := it.Close(); err != nil {
		t.Errorf("iterator Close: %v", err)
	}
}

func nonNil(b []byte) []byte {
	if b == nil {
		return []byte{}
	}
	return b
}

// equalKVs reports whether two pair lists are equal, treating nil and empty
// slices alike.
func equalKVs(a, b []kv) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if !bytes.Equal(a[i].key, b[i].key) || !bytes.Equal(a[i].value, b[i].value) {
			return false
		}
	}
	return true
}

func reversed(in []kv) []kv {
	out := make([]kv, len(in))
	for i, p := range in {
		out[len(in)-1-i] = p
	}
	return out
}

// expectScan asserts both directions of r over [lower, upper) equal want
// (ascending).
func expectScan(t tb, r engine.Reader, lower, upper []byte, want []kv) {
	t.Helper()
	if got := scan(t, r, lower, upper, false); !equalKVs(got, want) {
		t.Fatalf("forward scan [%x, %x) = %v, want %v", lower, upper, got, want)
	}
	if got := scan(t, r, lower, upper, true); !equalKVs(got, reversed(want)) {
		t.Fatalf("backward scan [%x, %x) = %v, want %v", lower, upper, got, reversed(want))
	}
}

// pairs builds an ascending want list from alternating key, value strings.
func pairs(kvs ...string) []kv {
	var out []kv
	for i := 0; i+1 < len(kvs); i += 2 {
		out = append(out, kv{[]byte(kvs[i]), []byte(kvs[i+1])})
	}
	return out
}
