package server

import (
	"testing"

	"metastore/engines/memory"
)

// A sized memory engine passes SetOwnedPair through (so the store keeps one
// copy of each record) and counts those pairs like Set's.
func TestSizedEngineOwnedPairs(t *testing.T) {
	e := NewSizedEngine(memory.New())
	b := e.NewBatch()
	o, ok := b.(ownedPairSetter)
	if !ok {
		t.Fatal("a sized memory engine's batch has no SetOwnedPair")
	}
	o.SetOwnedPair([]byte("key1value"), 4) // 9 bytes
	b.Set([]byte("k2"), []byte("v2"))      // 4 bytes
	if err := e.Write(b); err != nil {
		t.Fatal(err)
	}
	if got := e.Size(); got != 13 {
		t.Fatalf("Size = %d after 13 bytes written", got)
	}
	if v, ok, err := e.Get([]byte("key1")); err != nil || !ok || string(v) != "value" {
		t.Fatalf("Get(key1) = %q %v %v", v, ok, err)
	}
	b.Reset()
	o.SetOwnedPair([]byte("key1v"), 4) // overwrite: 9 -> 5 bytes
	b.Delete([]byte("k2"))
	if err := e.Write(b); err != nil {
		t.Fatal(err)
	}
	if got := e.Size(); got != 5 {
		t.Fatalf("Size = %d, want 5 after an overwrite and a delete", got)
	}
}
