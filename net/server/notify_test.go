package server

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"metastore/core"
)

// notifyCtx is a call context like net/leangrpc's: it signals its end on
// a registered channel, and counts the Done channels asked of it.
type notifyCtx struct {
	context.Context
	mu      sync.Mutex
	err     error
	ch      chan<- struct{}
	doneAsk atomic.Int32
}

func (c *notifyCtx) Done() <-chan struct{} {
	c.doneAsk.Add(1)
	return c.Context.Done()
}

func (c *notifyCtx) Err() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.err
}

func (c *notifyCtx) NotifyDone(ch chan<- struct{}) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.ch != nil {
		return false
	}
	c.ch = ch
	if c.err != nil {
		ch <- struct{}{}
	}
	return true
}

func (c *notifyCtx) StopNotify(ch chan<- struct{}) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.ch == ch {
		c.ch = nil
	}
}

func (c *notifyCtx) cancel() {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.err == nil {
		c.err = context.Canceled
		if c.ch != nil {
			c.ch <- struct{}{}
		}
	}
}

func (c *notifyCtx) registered() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.ch != nil
}

// TestCallWaitsOnNotifierContext checks a call whose context signals its
// end on the waiter's channel: it makes no Done channel, unregisters when
// it returns, ends with the context's error when the context ends first,
// and a signal that came with the answer does not reach the waiter's next
// call (which would return an empty result and no error).
func TestCallWaitsOnNotifierContext(t *testing.T) {
	m := startSingle(t)
	// A timeout the deadline ring takes, and one it leaves to a timer.
	for _, timeout := range []time.Duration{50 * testTick, time.Minute} {
		t.Run(timeout.String(), func(t *testing.T) { testNotifierContext(t, m, timeout) })
	}
}

func testNotifierContext(t *testing.T, m *member, timeout time.Duration) {
	want := core.Result{Index: 42}
	ctx := &notifyCtx{Context: ctxT(t)}
	res, err := m.node.call(ctx, timeout, func(_ *core.Replica, cb core.Callback) { cb(want) })
	if err != nil || res.Index != want.Index {
		t.Fatalf("call: %+v %v", res, err)
	}
	if n := ctx.doneAsk.Load(); n != 0 {
		t.Fatalf("Done asked %d times of a context that notifies", n)
	}
	if ctx.registered() {
		t.Fatal("the waiter's channel is still registered after the call")
	}

	// The context ends while the loop holds the call.
	ctx = &notifyCtx{Context: ctxT(t)}
	started, release := make(chan struct{}), make(chan struct{})
	returned := make(chan error, 1)
	go func() {
		_, err := m.node.call(ctx, timeout, func(_ *core.Replica, cb core.Callback) {
			close(started)
			<-release
			cb(want)
		})
		returned <- err
	}()
	<-started
	ctx.cancel()
	if err := <-returned; !errors.Is(err, context.Canceled) {
		t.Fatalf("call whose context ended: %v", err)
	}
	close(release)

	// The end and the answer together, then a call on (likely) the same
	// waiter, many times.
	for i := range 200 {
		ended := &notifyCtx{Context: ctxT(t)}
		_, err := m.node.call(ended, timeout, func(_ *core.Replica, cb core.Callback) {
			ended.cancel()
			cb(want)
		})
		if err != nil && !errors.Is(err, context.Canceled) {
			t.Fatalf("round %d: call ended with its answer: %v", i, err)
		}
		next := &notifyCtx{Context: ctxT(t)}
		res, err := m.node.call(next, timeout, func(_ *core.Replica, cb core.Callback) { cb(want) })
		if err != nil || res.Index != want.Index {
			t.Fatalf("round %d: the next call got %+v %v, want its answer", i, res, err)
		}
	}
}

// TestWaiterUnwatchDrains checks the case the race above rarely hits: the
// context's signal is already in the waiter's channel when its answer is
// taken; unwatch for reuse must leave the channel empty and unregistered.
func TestWaiterUnwatchDrains(t *testing.T) {
	w := waiters.Get().(*waiter)
	ctx := &notifyCtx{Context: context.Background()}
	ended, dn := w.watch(ctx)
	if dn == nil || ended != (<-chan struct{})(w.ctxEnded) {
		t.Fatal("watch did not use the waiter's channel")
	}
	ctx.cancel()
	w.unwatch(dn, true)
	if ctx.registered() {
		t.Fatal("still registered after unwatch")
	}
	select {
	case <-w.ctxEnded:
		t.Fatal("the signal stayed in the waiter's channel for its next call")
	default:
	}
	// A context that cannot notify gets its own Done.
	plain, cancel := context.WithCancel(context.Background())
	defer cancel()
	if ended, dn := w.watch(plain); dn != nil || ended != plain.Done() {
		t.Fatal("a plain context did not get its Done")
	}
}
