package server

import (
	"testing"

	"metastore/core/engine"
	"metastore/engines/memory"
)

// uncountedEngine hides the memory engine's LiveBytes, so SizedEngine
// keeps the count itself.
type uncountedEngine struct{ engine.Engine }

// A sized memory engine passes SetOwnedPair through (so the store keeps one
// copy of each record) and counts those pairs like Set's, whether the
// engine counts its bytes (the memory engine) or the wrapper does.
func TestSizedEngineOwnedPairs(t *testing.T) {
	for _, tc := range []struct {
		name string
		eng  engine.Engine
	}{{"engine counts", memory.New()}, {"wrapper counts", uncountedEngine{memory.New()}}} {
		t.Run(tc.name, func(t *testing.T) { testSizedOwnedPairs(t, tc.eng) })
	}
}

func testSizedOwnedPairs(t *testing.T, inner engine.Engine) {
	e := NewSizedEngine(inner)
	if _, counts := inner.(liveByteCounter); (e.counter != nil) != counts {
		t.Fatalf("counter = %v for %T", e.counter, inner)
	}
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
