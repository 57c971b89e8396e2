package server

import (
	"context"
	"time"

	"metastore/core"
)

// call runs start on the loop goroutine and waits for the result it passes
// to its callback. The wait ends at the first of: the callback, ctx's end
// (ctx's error), timeout (errTimeout: the callback may never come, e.g. a
// proposal lost in a leader change), or the loop's end (ErrNodeStopped).
func (n *Node) call(ctx context.Context, timeout time.Duration, start func(r *core.Replica, cb core.Callback)) (core.Result, error) {
	resc := make(chan core.Result, 1)
	cb := func(res core.Result) {
		select {
		case resc <- res:
		default: // a second answer; the contract says exactly once
		}
	}
	timer := time.NewTimer(timeout)
	defer timer.Stop()
	if err := n.Do(ctx, func(r *core.Replica) { start(r, cb) }); err != nil {
		return core.Result{}, err
	}
	select {
	case res := <-resc:
		return res, res.Err
	case <-ctx.Done():
		return core.Result{}, ctx.Err()
	case <-timer.C:
		return core.Result{}, errTimeout
	case <-n.done:
		return core.Result{}, ErrNodeStopped
	}
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
