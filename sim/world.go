package sim

import (
	"fmt"
	"time"
)

// Virtual time units, in nanoseconds (the unit of World.Now).
const (
	Microsecond = int64(time.Microsecond)
	Millisecond = int64(time.Millisecond)
	Second      = int64(time.Second)
)

// World is the simulation's event loop on virtual time. It is not safe for
// concurrent use; the whole simulation runs on one goroutine.
type World struct {
	// Now is the current virtual time in nanoseconds. It only moves forward,
	// when Step or RunUntil pops an event (or RunUntil reaches its bound).
	Now int64
	// Executed counts the events run so far (cancelled ones excluded).
	Executed uint64

	seq    uint64
	events eventHeap
}

// Timer is a scheduled event; Cancel prevents it from running.
type Timer struct {
	at        int64
	seq       uint64
	fn        func()
	call      caller // instead of fn (scheduleCall)
	cancelled bool
}

// caller is an event that carries its own state, so that scheduling it
// allocates no closure (a message in flight).
type caller interface{ fire() }

// At returns the virtual time the event is scheduled for.
func (t *Timer) At() int64 { return t.at }

// Cancel prevents the event from running; a no-op once it has run.
func (t *Timer) Cancel() { t.cancelled = true }

// NewWorld returns a world at virtual time 0 with no events.
func NewWorld() *World { return &World{} }

// Schedule runs fn at virtual time at. Events at the same time run in the
// order they were scheduled. Scheduling in the past panics: it would let an
// effect precede its cause (usually a Host whose StepStart was not set).
func (w *World) Schedule(at int64, fn func()) *Timer {
	if at < w.Now {
		panic(fmt.Sprintf("sim: event scheduled at %d, before now %d", at, w.Now))
	}
	w.seq++
	t := &Timer{at: at, seq: w.seq, fn: fn}
	w.events.push(t)
	return t
}

// scheduleCall schedules c.fire at virtual time at, on the timer t that c
// holds (one allocation per event instead of three), like Schedule.
func (w *World) scheduleCall(at int64, t *Timer, c caller) {
	if at < w.Now {
		panic(fmt.Sprintf("sim: event scheduled at %d, before now %d", at, w.Now))
	}
	w.seq++
	*t = Timer{at: at, seq: w.seq, call: c}
	w.events.push(t)
}

// After runs fn d nanoseconds from now (d < 0 panics, like Schedule).
func (w *World) After(d int64, fn func()) *Timer { return w.Schedule(w.Now+d, fn) }

// Pending returns how many events are queued, cancelled ones included.
func (w *World) Pending() int { return len(w.events) }

// NextAt returns the time of the earliest queued event that is not
// cancelled, and false when there is none.
func (w *World) NextAt() (int64, bool) {
	w.dropCancelled()
	if len(w.events) == 0 {
		return 0, false
	}
	return w.events[0].at, true
}

// Step runs the earliest event, advancing Now to its time. It returns false
// when no event is left.
func (w *World) Step() bool {
	w.dropCancelled()
	if len(w.events) == 0 {
		return false
	}
	t := w.events.pop()
	w.Now = t.at
	w.Executed++
	if t.call != nil {
		t.call.fire()
	} else {
		t.fn()
	}
	return true
}

// RunUntil runs, in order, every event scheduled at or before t (including
// events those events schedule), then sets Now to t if it is later.
func (w *World) RunUntil(t int64) {
	for {
		at, ok := w.NextAt()
		if !ok || at > t {
			break
		}
		w.Step()
	}
	if t > w.Now {
		w.Now = t
	}
}

func (w *World) dropCancelled() {
	for len(w.events) > 0 && w.events[0].cancelled {
		w.events.pop()
	}
}

// eventHeap orders timers by (at, seq); seq is unique, so the order is total
// and does not depend on the heap's internal layout. NB: a binary heap
// written out rather than container/heap: its interface calls were a few
// percent of a seed's time.
type eventHeap []*Timer

func (t *Timer) before(u *Timer) bool {
	if t.at != u.at {
		return t.at < u.at
	}
	return t.seq < u.seq
}

func (h *eventHeap) push(t *Timer) {
	q := append(*h, t)
	i := len(q) - 1
	for i > 0 {
		parent := (i - 1) / 2
		if !t.before(q[parent]) {
			break
		}
		q[i] = q[parent]
		i = parent
	}
	q[i] = t
	*h = q
}

// pop removes and returns the earliest timer; the heap must not be empty.
func (h *eventHeap) pop() *Timer {
	q := *h
	top := q[0]
	last := q[len(q)-1]
	q[len(q)-1] = nil
	q = q[:len(q)-1]
	if n := len(q); n > 0 {
		i := 0
		for {
			child := 2*i + 1
			if child >= n {
				break
			}
			if r := child + 1; r < n && q[r].before(q[child]) {
				child = r
			}
			if !q[child].before(last) {
				break
			}
			q[i] = q[child]
			i = child
		}
		q[i] = last
	}
	*h = q
	return top
}
