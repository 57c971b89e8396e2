package server

import (
	"context"
	"sync"
	"sync/atomic"
	"time"

	pb "go.etcd.io/etcd/api/v3/etcdserverpb"

	"metastore/core"
)

// call runs start on the loop goroutine and waits for the result it passes
// to its callback. The wait ends at the first of: the callback, ctx's end
// (ctx's error), timeout (errTimeout, up to a tick late: the callback may
// never come, e.g. a proposal lost in a leader change), or the loop's end
// (ErrNodeStopped).
func (n *Node) call(ctx context.Context, timeout time.Duration, start func(r *core.Replica, cb core.Callback)) (core.Result, error) {
	w := waiters.Get().(*waiter)
	w.start = start
	return n.await(ctx, timeout, w)
}

// callPropose is call for a proposal, whose work the waiter carries (see
// proposal): a closure for it cost an allocation per write.
func (n *Node) callPropose(ctx context.Context, timeout time.Duration, p proposal) (core.Result, error) {
	w := waiters.Get().(*waiter)
	w.prop = p
	return n.await(ctx, timeout, w)
}

// await queues w, whose work is set, and waits for its call as call says.
func (n *Node) await(ctx context.Context, timeout time.Duration, w *waiter) (core.Result, error) {
	call := w.state.Load()
	w.cb = w.callback()
	if err := n.queue(ctx, w); err != nil {
		return core.Result{}, err // w is dropped: it may still be queued
	}
	if !n.deadlines.add(w, call, timeout) {
		return n.waitTimer(ctx, w, timeout)
	}
	ended, dn := w.watch(ctx)
	select {
	case res := <-w.resc:
		w.unwatch(dn, true)
		w.recycle() // NB: a timeout is an answer too: a late one is dropped
		return res, res.Err
	case <-ended:
		w.unwatch(dn, false)
		return core.Result{}, ctx.Err()
	case <-n.done:
		w.unwatch(dn, false)
		return core.Result{}, ErrNodeStopped
	}
}

// waitTimer is call's wait for a timeout longer than deadlines take.
func (n *Node) waitTimer(ctx context.Context, w *waiter, timeout time.Duration) (core.Result, error) {
	t := time.NewTimer(timeout)
	defer t.Stop()
	ended, dn := w.watch(ctx)
	select {
	case res := <-w.resc:
		w.unwatch(dn, true)
		w.recycle()
		return res, res.Err
	case <-ended:
		w.unwatch(dn, false)
		return core.Result{}, ctx.Err()
	case <-t.C:
		w.unwatch(dn, false)
		return core.Result{}, errTimeout
	case <-n.done:
		w.unwatch(dn, false)
		return core.Result{}, ErrNodeStopped
	}
}

// watch returns the channel that says ctx ended: the waiter's own, when
// ctx can signal it (dn then is ctx, to unwatch), else ctx.Done().
func (w *waiter) watch(ctx context.Context) (ended <-chan struct{}, dn doneNotifier) {
	if dn, ok := ctx.(doneNotifier); ok && dn.NotifyDone(w.ctxEnded) {
		return w.ctxEnded, dn
	}
	return ctx.Done(), nil
}

// unwatch undoes watch; reuse drains a signal that came with the answer,
// so the waiter's next call does not see it.
func (w *waiter) unwatch(dn doneNotifier, reuse bool) {
	if dn == nil {
		return
	}
	dn.StopNotify(w.ctxEnded)
	if reuse {
		select {
		case <-w.ctxEnded:
		default:
		}
	}
}

// doneNotifier is a context that signals its end on a channel of the
// waiter's (net/leangrpc's call contexts): ctx.Done would make a channel
// per call, a write's largest allocation after its request. NotifyDone
// false: another channel is registered, use Done. After StopNotify
// returns, nothing more is sent on the channel.
type doneNotifier interface {
	NotifyDone(ch chan<- struct{}) bool
	StopNotify(ch chan<- struct{})
}

// waiter carries one call's result from the loop goroutine to the caller:
// a channel reused across calls. A waiter goes back to the pool only after
// its answer was taken, and its callback (or timeout) answers only the call
// it was made for, so a late or second answer never reaches a later call.
type waiter struct {
	resc chan core.Result // capacity 1
	// ctxEnded (capacity 1) is signaled by a doneNotifier context's end;
	// drained before the waiter is reused.
	ctxEnded chan struct{}
	state    atomic.Uint64 // the call's number << 1 | answered

	// The call's work, run on the loop: start, or when start is nil the
	// proposal prop. The waiter is the loop's task, which saves a closure
	// per request.
	start func(r *core.Replica, cb core.Callback)
	prop  proposal
	cb    core.Callback
	// started is set once the loop has read the work and cb: until then the
	// waiter may still be queued (a timeout answers a call the loop has
	// not reached), and must not be reused.
	started atomic.Bool
}

// proposal is propose's work on the loop: stamp req with the caller's
// identity as of the replica's auth state, then propose it.
type proposal struct {
	s   *Server
	c   caller
	req *pb.InternalRaftRequest
}

func (p *proposal) run(r *core.Replica, cb core.Callback) {
	if err := p.s.stamp(r, p.c, p.req); err != nil {
		cb(core.Result{Err: err})
		return
	}
	r.Propose(p.req, cb)
}

// run starts the call on the loop goroutine. NB: it reads its fields
// before the work runs: once cb answers, the caller may recycle w and the
// next call overwrite them.
func (w *waiter) run(r *core.Replica) {
	start, cb, p := w.start, w.cb, w.prop
	w.started.Store(true)
	if start != nil {
		start(r, cb)
		return
	}
	p.run(r, cb)
}

var waiters = sync.Pool{New: func() any {
	return &waiter{resc: make(chan core.Result, 1), ctxEnded: make(chan struct{}, 1)}
}}

// callback is the current call's callback: the first answer goes to resc,
// later ones (the contract says exactly once) and any after the waiter
// moved on are dropped.
func (w *waiter) callback() core.Callback {
	call := w.state.Load()
	return func(res core.Result) { w.answer(call, res) }
}

// answer gives res to the call that began at state call, if that call is
// still current and unanswered.
func (w *waiter) answer(call uint64, res core.Result) {
	if w.state.CompareAndSwap(call, call|1) {
		w.resc <- res // never blocks: one send per call, taken before reuse
	}
}

// recycle readies w for its next call, after its answer was taken. A
// waiter the loop has not started yet (its call timed out in the queue)
// is left to the collector instead: the loop will still run its call, and
// its answer is dropped (the call is answered already).
func (w *waiter) recycle() {
	if !w.started.Load() {
		return
	}
	w.started.Store(false)
	w.start, w.cb, w.prop = nil, nil, proposal{}
	w.state.Add(1) // answered (odd) -> the next call (even)
	waiters.Put(w)
}

// exec executes fn on the loop goroutine and waits for it, bounded like call.
func (n *Node) exec(ctx context.Context, timeout time.Duration, fn func(r *core.Replica)) error {
	_, err := n.call(ctx, timeout, func(r *core.Replica, cb core.Callback) {
		fn(r)
		cb(core.Result{})
	})
	return err
}

// awaitLeader waits one tick, then until a leader is known, polling once a
// tick (a proposal dropped during a leadership transfer must not be retried
// in a busy loop). It reports false when ctx, the deadline or the node ends
// first.
func (n *Node) awaitLeader(ctx context.Context, deadline time.Time) bool {
	t := time.NewTicker(n.cfg.TickInterval)
	defer t.Stop()
	for first := true; first || n.Status().Leader == 0; first = false {
		if !time.Now().Before(deadline) {
			return false
		}
		select {
		case <-ctx.Done():
			return false
		case <-n.done:
			return false
		case <-t.C:
		}
	}
	return true
}
