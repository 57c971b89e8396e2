package memory_test

import (
	"errors"
	"testing"

	"metastore/core/engine"
	"metastore/engines/memory"
)

// otherBatch is a Batch the memory engine did not create.
type otherBatch struct{ engine.Batch }

// TestEdges covers behaviour the conformance suite leaves to each engine.
func TestEdges(t *testing.T) {
	e := memory.New()
	if e.Durable() {
		t.Fatal("memory engine claims durability")
	}
	b := e.NewBatch()
	b.Set([]byte("a"), []byte("1"))
	b.Set([]byte("b"), []byte("2"))
	b.Delete([]byte("a"))
	if err := e.Write(b); err != nil {
		t.Fatal(err)
	}
	if got, want := e.Stats(), (memory.Stats{Batches: 1, Ops: 3, Keys: 1}); got != want {
		t.Fatalf("Stats = %+v, want %+v", got, want)
	}
	if err := e.Write(otherBatch{}); err == nil {
		t.Fatal("Write accepted a foreign batch")
	}

	s := e.Snapshot()
	it := e.NewIter(nil, nil)
	if err := e.Close(); err != nil {
		t.Fatal(err)
	}
	if err := e.Close(); !errors.Is(err, engine.ErrClosed) {
		t.Fatalf("second Close: %v, want ErrClosed", err)
	}
	// Views opened before Close keep working.
	if v, ok, err := s.Get([]byte("b")); err != nil || !ok || string(v) != "2" {
		t.Fatalf("snapshot Get after engine Close = %q, %v, %v", v, ok, err)
	}
	if !it.First() || string(it.Key()) != "b" {
		t.Fatal("iterator opened before Close lost its view")
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if _, _, err := s.Get([]byte("b")); !errors.Is(err, engine.ErrClosed) {
		t.Fatalf("Get on closed snapshot: %v, want ErrClosed", err)
	}
	if err := s.Close(); !errors.Is(err, engine.ErrClosed) {
		t.Fatalf("second snapshot Close: %v, want ErrClosed", err)
	}
	// Views opened after Close are empty or report ErrClosed.
	if e.NewIter(nil, nil).First() {
		t.Fatal("iterator opened after Close is not empty")
	}
	if _, _, err := e.Snapshot().Get([]byte("b")); !errors.Is(err, engine.ErrClosed) {
		t.Fatalf("Get on snapshot taken after Close: %v, want ErrClosed", err)
	}
}
