package server

import (
	"errors"
	"testing"
	"time"

	"metastore/core"
)

// A call that times out while still queued behind a busy loop is answered,
// and its caller moves on, before the loop runs it. Its waiter must not be
// reused meanwhile: recycled, it lost its work (the loop then called a nil
// function, the crash a joining member restoring a big snapshot showed
// when the benchmark's status polls timed out) or carried another call's.
func TestCallTimedOutWhileQueuedRunsItsOwnWorkLater(t *testing.T) {
	m := startSingle(t)
	ctx := ctxT(t)
	release := make(chan struct{})
	busy := make(chan struct{})
	blocked := make(chan error, 1)
	go func() {
		blocked <- m.node.exec(ctx, time.Minute, func(*core.Replica) {
			close(busy)
			<-release
		})
	}()
	<-busy
	// Queued behind the blocked loop, each times out; their waiters would
	// go back to the pool and be taken by the next calls.
	ran := make(chan int, 8)
	for i := range 4 {
		err := m.node.exec(ctx, 3*testTick, func(*core.Replica) { ran <- i })
		if !errors.Is(err, errTimeout) {
			t.Fatalf("call %d behind a blocked loop: %v, want a timeout", i, err)
		}
	}
	close(release)
	if err := <-blocked; err != nil {
		t.Fatal(err)
	}
	// The loop runs what was queued: each timed-out call's own work, once.
	if err := m.node.exec(ctx, time.Minute, func(*core.Replica) {}); err != nil {
		t.Fatal(err)
	}
	close(ran)
	var got []int
	for i := range ran {
		got = append(got, i)
	}
	if len(got) != 4 {
		t.Fatalf("the timed-out calls ran %v, want each of 0..3 once", got)
	}
	for i, v := range got {
		if v != i {
			t.Fatalf("the timed-out calls ran %v, want 0..3 in order", got)
		}
	}
}
