package conformance

import (
	"fmt"
	"testing"

	"metastore/core/engine"
)

func testSnapshotIsolation(t *testing.T, o Opener) {
	e := o.openT(t)
	set(t, e, "a", "1")
	set(t, e, "b", "2")
	set(t, e, "c", "3")
	s := e.Snapshot()
	defer s.Close()
	it := e.NewIter(nil, nil)
	defer closeIter(t, it)
	before := pairs("a", "1", "b", "2", "c", "3")

	write(t, e, kv{[]byte("a"), []byte("changed")}, kv{key: []byte("b")}, kv{[]byte("bb"), []byte("new")})
	set(t, e, "d", "4")

	mustGet(t, s, "a", []byte("1"))
	mustGet(t, s, "b", []byte("2"))
	mustGet(t, s, "bb", nil)
	mustGet(t, s, "d", nil)
	expectScan(t, s, nil, nil, before)
	var got []kv
	for ok := it.First(); ok; ok = it.Next() {
		got = append(got, current(t, it))
	}
	if !equalKVs(got, before) {
		t.Fatalf("engine iterator saw later writes: %v, want %v", got, before)
	}
	after := pairs("a", "changed", "bb", "new", "c", "3", "d", "4")
	expectScan(t, e, nil, nil, after)
	s2 := e.Snapshot()
	defer s2.Close()
	expectScan(t, s2, nil, nil, after)
	// An iterator opened on a snapshot keeps the snapshot's view.
	sit := s.NewIter([]byte("b"), nil)
	defer closeIter(t, sit)
	expectAt(t, sit, sit.First(), "b")
	expectAt(t, sit, sit.Next(), "c")
	expectAt(t, sit, sit.Next(), atEnd)
}

// testSnapshotCloseAfterWrites closes snapshots, in an order different from
// the one they were taken in, after the engine moved on, and checks that
// neither the engine nor the remaining snapshots are disturbed.
func testSnapshotCloseAfterWrites(t *testing.T, o Opener) {
	e := o.openT(t)
	var snaps []engine.Snapshot
	for i := range 5 {
		set(t, e, "k", fmt.Sprint(i))
		set(t, e, fmt.Sprintf("k%d", i), "x")
		snaps = append(snaps, e.Snapshot())
	}
	set(t, e, "k", "final")
	for _, i := range []int{2, 0, 4} {
		if err := snaps[i].Close(); err != nil {
			t.Fatalf("Close snapshot %d: %v", i, err)
		}
		set(t, e, fmt.Sprintf("after%d", i), "y")
	}
	mustGet(t, e, "k", []byte("final"))
	for _, i := range []int{1, 3} {
		mustGet(t, snaps[i], "k", []byte(fmt.Sprint(i)))
		mustGet(t, snaps[i], fmt.Sprintf("k%d", i+1), nil)
		mustGet(t, snaps[i], "after0", nil)
		if err := snaps[i].Close(); err != nil {
			t.Fatalf("Close snapshot %d: %v", i, err)
		}
	}
	expectScan(t, e, []byte("k"), []byte("k\xff"),
		pairs("k", "final", "k0", "x", "k1", "x", "k2", "x", "k3", "x", "k4", "x"))
}

// testIterStableDuringWrites interleaves every iterator move with writes
// that insert keys around the iterator's position and delete the keys
// ahead of it; the iterator must still walk exactly the original keys.
func testIterStableDuringWrites(t *testing.T, o Opener) {
	e := o.openT(t)
	var want []kv
	for i := range 300 {
		k := fmt.Sprintf("k%04d", i*2)
		set(t, e, k, "orig")
		want = append(want, kv{[]byte(k), []byte("orig")})
	}
	for _, backward := range []bool{false, true} {
		it := e.NewIter(nil, nil)
		var got []kv
		ok := it.First()
		if backward {
			ok = it.Last()
		}
		for i := 0; ok; i++ {
			got = append(got, current(t, it))
			write(t, e,
				kv{[]byte(fmt.Sprintf("k%04d", i*2+1)), []byte("inserted")},
				kv{key: []byte(fmt.Sprintf("k%04d", 598-i*2))},
				kv{key: []byte(fmt.Sprintf("k%04d", i*2+2))},
				kv{[]byte(fmt.Sprintf("k%04d", i*2)), []byte("overwritten")})
			if backward {
				ok = it.Prev()
			} else {
				ok = it.Next()
			}
		}
		closeIter(t, it)
		if backward {
			got = reversed(got)
		}
		if !equalKVs(got, want) {
			t.Fatalf("backward=%v: iterator saw concurrent writes: got %d pairs, want %d (first %v)",
				backward, len(got), len(want), got[:min(3, len(got))])
		}
		// Restore the original contents for the next direction.
		b := e.NewBatch()
		it = e.NewIter(nil, nil)
		for ok := it.First(); ok; ok = it.Next() {
			b.Delete(it.Key())
		}
		closeIter(t, it)
		for _, p := range want {
			b.Set(p.key, p.value)
		}
		if err := e.Write(b); err != nil {
			t.Fatal(err)
		}
		expectScan(t, e, nil, nil, want)
	}
}
