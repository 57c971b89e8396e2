package server

import (
	"sync"
	"time"

	"metastore/core"
)

// deadlines times calls out without a timer per call. Arming, stopping and
// blocking on a timer cost about a microsecond a request (a tenth of a
// cached read's whole server CPU): the timer goes into the runtime's heap
// under its lock each time a waiter blocks on it. Instead a call's waiter
// goes into the slot of the sweep tick its timeout ends in, and one
// goroutine sweeps a slot per tick, answering errTimeout to the calls there
// still unanswered. A call therefore times out up to a tick after its
// timeout. The entries of answered calls stay until their slot is swept:
// 16 bytes each, and the sweep's compare-and-swap on a moved-on waiter
// does nothing (see waiter.state).
type deadlines struct {
	tick  time.Duration
	start time.Time // ticks count from here (monotonic)

	mu    sync.Mutex
	slots [][]deadline // ring: tick t's calls are in slots[t%len]
	swept int64        // the last tick swept
	spare []deadline   // a swept slot's array, for reuse
}

// deadline is a call waiting for its tick: call is the waiter's state when
// the call began.
type deadline struct {
	w    *waiter
	call uint64
}

// deadlineSlots bounds the timeouts the ring takes (a longer one gets a
// timer): 30 s at the default 100 ms tick, six times the request timeout.
const deadlineSlots = 300

func newDeadlines(tick time.Duration) *deadlines {
	return &deadlines{tick: tick, start: time.Now(), slots: make([][]deadline, deadlineSlots)}
}

// add arms a timeout for the call of w that began at state call; false
// when timeout is beyond the ring.
func (d *deadlines) add(w *waiter, call uint64, timeout time.Duration) bool {
	due := int64((time.Since(d.start) + timeout + d.tick - 1) / d.tick)
	d.mu.Lock()
	defer d.mu.Unlock()
	due = max(due, d.swept+1)
	if due-d.swept >= int64(len(d.slots)) {
		return false
	}
	i := due % int64(len(d.slots))
	d.slots[i] = append(d.slots[i], deadline{w, call})
	return true
}

// sweep times out the calls of every tick up to now.
func (d *deadlines) sweep(now time.Time) {
	upTo := int64(now.Sub(d.start) / d.tick)
	for {
		d.mu.Lock()
		if d.swept >= upTo {
			d.mu.Unlock()
			return
		}
		d.swept++
		i := d.swept % int64(len(d.slots))
		due := d.slots[i]
		d.slots[i], d.spare = d.spare, nil
		d.mu.Unlock()
		for _, e := range due {
			e.w.answer(e.call, core.Result{Err: errTimeout})
		}
		clear(due)
		d.mu.Lock()
		if d.spare == nil {
			d.spare = due[:0]
		}
		d.mu.Unlock()
	}
}

// run sweeps every tick until stop is closed.
func (d *deadlines) run(stop <-chan struct{}) {
	t := time.NewTicker(d.tick)
	defer t.Stop()
	for {
		select {
		case <-stop:
			return
		case now := <-t.C:
			d.sweep(now)
		}
	}
}
