package server

import (
	"errors"
	"testing"
	"time"

	"metastore/core"
)

// TestDeadlinesTimeOutOnlyUnansweredCalls: a sweep past a call's timeout
// answers it errTimeout; a call answered before, or a waiter moved on to
// its next call, is left alone, and a timeout beyond the ring is refused
// (the caller then uses a timer).
func TestDeadlinesTimeOutOnlyUnansweredCalls(t *testing.T) {
	d := newDeadlines(10 * time.Millisecond)
	pending, answered, reused := &waiter{resc: make(chan core.Result, 1)}, &waiter{resc: make(chan core.Result, 1)}, &waiter{resc: make(chan core.Result, 1)}
	for _, w := range []*waiter{pending, answered, reused} {
		if !d.add(w, w.state.Load(), 50*time.Millisecond) {
			t.Fatal("a 50 ms timeout refused by a ring of 300 10-ms ticks")
		}
	}
	answered.callback()(core.Result{Index: 7})
	reused.callback()(core.Result{Index: 8})
	<-reused.resc
	reused.recycle() // its next call begins: the armed timeout is not its
	nextCall := reused.state.Load()

	d.sweep(d.start.Add(40 * time.Millisecond)) // before the timeout
	select {
	case res := <-pending.resc:
		t.Fatalf("timed out before its timeout: %+v", res)
	default:
	}
	d.sweep(d.start.Add(70 * time.Millisecond))
	select {
	case res := <-pending.resc:
		if !errors.Is(res.Err, errTimeout) {
			t.Fatalf("unanswered call got %+v, want errTimeout", res)
		}
	default:
		t.Fatal("unanswered call not timed out after its timeout")
	}
	if res := <-answered.resc; res.Index != 7 || res.Err != nil {
		t.Fatalf("answered call got %+v, want its own answer", res)
	}
	select {
	case res := <-reused.resc:
		t.Fatalf("the waiter's next call got the last one's timeout: %+v", res)
	default:
	}
	if reused.state.Load() != nextCall {
		t.Fatal("the sweep changed the next call's state")
	}
	if d.add(pending, pending.state.Load(), time.Hour) {
		t.Fatal("a one-hour timeout accepted by a three-second ring")
	}
}

// TestCallTimesOut: a call whose callback never comes ends with
// errTimeout, through the sweep or, past the ring, a timer.
func TestCallTimesOut(t *testing.T) {
	m := startSingle(t)
	_, err := m.node.call(ctxT(t), 50*time.Millisecond, func(*core.Replica, core.Callback) {})
	if !errors.Is(err, errTimeout) {
		t.Fatalf("call ended with %v, want errTimeout", err)
	}
	w := &waiter{resc: make(chan core.Result, 1)}
	if _, err := m.node.waitTimer(ctxT(t), w, 50*time.Millisecond); !errors.Is(err, errTimeout) {
		t.Fatalf("wait with a timer ended with %v, want errTimeout", err)
	}
}
