package leangrpc

import (
	"context"
	"errors"
	"testing"
	"time"

	"google.golang.org/grpc"
)

// TestCallContext checks the call context a stream holds in itself: grpc
// finds the stream in it (the key was learned, not left nil), other values
// come from the parent, and everything that waits on it ends with the call:
// its Done channel (made before or after the end), a derived context (with
// the call's cause), an AfterFunc, and a NotifyDone channel; a stopped
// AfterFunc and an unregistered channel are not called.
func TestCallContext(t *testing.T) {
	if transportStreamKey == nil {
		t.Fatal("the ServerTransportStream key was not learned: every call pays a context.WithValue")
	}
	type key struct{}
	// A cancelable parent, as the connection's context is: the call's
	// cause must still be its own.
	connCtx, closeConn := context.WithCancel(context.Background())
	defer closeConn()
	parent := context.WithValue(connCtx, key{}, "v")
	st := &stream{}
	st.cctx.init(st, parent)
	ctx := context.Context(&st.cctx)
	if got := grpc.ServerTransportStreamFromContext(ctx); got != st {
		t.Fatalf("transport stream %v, want the stream", got)
	}
	if got := ctx.Value(key{}); got != "v" {
		t.Fatalf("parent's value %v", got)
	}
	if _, ok := ctx.Deadline(); ok {
		t.Fatal("a deadline without grpc-timeout")
	}
	done := ctx.Done()
	child, stop := context.WithCancel(ctx)
	defer stop()
	ran := make(chan struct{})
	context.AfterFunc(ctx, func() { close(ran) })
	stopped := context.AfterFunc(ctx, func() { t.Error("a stopped AfterFunc ran") })
	if !stopped() {
		t.Fatal("stop of a pending AfterFunc said it was not pending")
	}
	notify, other := make(chan struct{}, 1), make(chan struct{}, 1)
	if !st.cctx.NotifyDone(notify) {
		t.Fatal("NotifyDone refused the first channel")
	}
	if st.cctx.NotifyDone(other) {
		t.Fatal("NotifyDone took a second channel")
	}
	select {
	case <-done:
		t.Fatal("Done closed before the call ended")
	case <-notify:
		t.Fatal("signaled before the call ended")
	default:
	}
	if ctx.Err() != nil {
		t.Fatal("Err before the end")
	}

	st.cancel()
	<-done
	<-child.Done()
	<-ran
	<-notify
	if !errors.Is(ctx.Err(), context.Canceled) || !errors.Is(child.Err(), context.Canceled) ||
		!errors.Is(context.Cause(child), context.Canceled) || !errors.Is(context.Cause(ctx), context.Canceled) {
		t.Fatalf("after the call's end: %v, child %v, causes %v %v", ctx.Err(), child.Err(), context.Cause(child), context.Cause(ctx))
	}
	st.cctx.StopNotify(notify)
	st.cancel() // a second end changes nothing
	select {
	case <-notify:
		t.Fatal("signaled after StopNotify")
	default:
	}

	// Asked for after the end: a closed channel, a signal at once.
	late := &stream{}
	late.cctx.init(late, context.Background())
	late.cancel()
	<-late.cctx.Done()
	if !late.cctx.NotifyDone(other) {
		t.Fatal("NotifyDone refused")
	}
	<-other
	lateRan := make(chan struct{})
	context.AfterFunc(&late.cctx, func() { close(lateRan) })
	<-lateRan
}

// TestCallContextDeadline checks a call with grpc-timeout: the deadline is
// visible, and the context ends with DeadlineExceeded when it passes, or
// with Canceled when the call ends first.
func TestCallContextDeadline(t *testing.T) {
	st := &stream{}
	st.cctx.init(st, context.Background())
	st.cctx.withDeadline(20 * time.Millisecond)
	if dl, ok := st.cctx.Deadline(); !ok || dl.IsZero() {
		t.Fatal("no deadline")
	}
	notify := make(chan struct{}, 1)
	st.cctx.NotifyDone(notify)
	<-notify
	if err := st.cctx.Err(); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("past the deadline: %v", err)
	}
	if err := context.Cause(&st.cctx); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("cause past the deadline: %v", err)
	}
	st.cancel()
	if err := st.cctx.Err(); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("the end after the deadline changed the error to %v", err)
	}

	early := &stream{}
	early.cctx.init(early, context.Background())
	early.cctx.withDeadline(time.Hour)
	early.cancel()
	<-early.cctx.Done()
	if err := early.cctx.Err(); !errors.Is(err, context.Canceled) {
		t.Fatalf("ended before the deadline: %v", err)
	}
}

// TestCallContextDeadlineParentEnded checks a deadline given while the
// connection is closing: the deadline context ends at once, possibly
// before withDeadline has recorded it (run under -race), and the call's
// context ends with it.
func TestCallContextDeadlineParentEnded(t *testing.T) {
	for range 100 {
		parent, cancel := context.WithCancel(context.Background())
		cancel()
		st := &stream{}
		st.cctx.init(st, parent)
		st.cctx.withDeadline(time.Hour)
		<-st.cctx.Done()
		if err := st.cctx.Err(); !errors.Is(err, context.Canceled) {
			t.Fatalf("under an ended parent: %v", err)
		}
		st.cancel()
	}
}
