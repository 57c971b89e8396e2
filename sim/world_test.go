package sim

import (
	"slices"
	"testing"
)

func TestWorldOrdersByTimeThenInsertion(t *testing.T) {
	w := NewWorld()
	var got []string
	add := func(at int64, name string) { w.Schedule(at, func() { got = append(got, name) }) }
	add(30, "c1")
	add(10, "a1")
	add(30, "c2")
	add(20, "b")
	add(10, "a2")
	add(30, "c3")
	w.RunUntil(100)
	want := []string{"a1", "a2", "b", "c1", "c2", "c3"}
	if !slices.Equal(got, want) {
		t.Fatalf("order = %v, want %v", got, want)
	}
	if w.Now != 100 {
		t.Fatalf("Now = %d after RunUntil(100), want 100", w.Now)
	}
}

func TestWorldNestedEventsAtSameTimeRunAfterQueuedOnes(t *testing.T) {
	w := NewWorld()
	var got []string
	w.Schedule(5, func() {
		got = append(got, "first")
		w.After(0, func() { got = append(got, "nested") })
	})
	w.Schedule(5, func() { got = append(got, "second") })
	for w.Step() {
	}
	if want := []string{"first", "second", "nested"}; !slices.Equal(got, want) {
		t.Fatalf("order = %v, want %v", got, want)
	}
	if w.Now != 5 || w.Executed != 3 {
		t.Fatalf("Now=%d Executed=%d, want 5 and 3", w.Now, w.Executed)
	}
}

func TestWorldRunUntilStopsAtBoundAndCancel(t *testing.T) {
	w := NewWorld()
	ran := map[string]bool{}
	w.Schedule(10, func() { ran["10"] = true })
	cancelled := w.Schedule(15, func() { ran["15"] = true })
	w.Schedule(20, func() { ran["20"] = true })
	cancelled.Cancel()
	w.RunUntil(19)
	if !ran["10"] || ran["15"] || ran["20"] || w.Now != 19 {
		t.Fatalf("ran=%v now=%d, want only 10 at now 19", ran, w.Now)
	}
	if at, ok := w.NextAt(); !ok || at != 20 {
		t.Fatalf("NextAt = %d,%v, want 20,true", at, ok)
	}
	w.RunUntil(20)
	if !ran["20"] || w.Step() {
		t.Fatalf("event at 20 not run or queue not empty")
	}
}

func TestWorldScheduleInPastPanics(t *testing.T) {
	w := NewWorld()
	w.RunUntil(50)
	defer func() {
		if recover() == nil {
			t.Fatal("scheduling before Now did not panic")
		}
	}()
	w.Schedule(49, func() {})
}

func TestSplitStreamsAreIndependent(t *testing.T) {
	// Drawing more from one child must not change the other child's draws.
	draw := func(extra int) []uint64 {
		root := NewRand(7)
		a, b := Split(root), Split(root)
		for range extra {
			a.Uint64()
		}
		return []uint64{b.Uint64(), b.Uint64(), b.Uint64()}
	}
	if x, y := draw(0), draw(100); !slices.Equal(x, y) {
		t.Fatalf("sibling stream shifted: %v vs %v", x, y)
	}
	if NewRand(1).Uint64() == NewRand(2).Uint64() {
		t.Fatal("different seeds gave the same first draw")
	}
}
