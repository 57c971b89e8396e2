package leangrpc

import (
	"context"
	"sync"
	"time"

	"google.golang.org/grpc"
)

// callCtx is a call's context, held inside its stream so that a call
// allocates no context of its own: context.WithCancel would cost a
// cancelCtx, and its Done channel another allocation the first time
// anyone waits on it (net/server's proposals do, on every write).
//
// Its parent carries the values (the connection's peer, the call's
// metadata) and, when the client sent grpc-timeout, the deadline; the
// call's cancellation is its own: the stream cancels it when the client
// resets the stream or the call ends, and the connection cancels every
// open stream when it closes (conn.close), so it need not hang on the
// connection's context. The Done channel is made only when asked for; a
// waiter that owns a reusable channel can instead have it signaled
// (NotifyDone), which makes none. Derived contexts hang on it through
// AfterFunc, as they would on a cancelCtx, without a goroutine each.
type callCtx struct {
	parent   context.Context
	st       *stream
	mu       sync.Mutex
	deadline *callDeadline // when the call has one
	err      error
	done     chan struct{}   // made by the first Done
	notify   chan<- struct{} // NotifyDone's channel
	afters   *afterFuncs     // made by the first AfterFunc
}

// callDeadline detaches a call from its deadline context (stop) and frees
// that context's timer (release).
type callDeadline struct {
	stop    func() bool
	release context.CancelFunc
}

// afterFuncs are the functions waiting for a call's end.
type afterFuncs struct {
	list   []afterFunc
	nextID uint64
}

type afterFunc struct {
	id uint64
	f  func()
}

// closedDone is the Done of a call that ended before anyone asked.
var closedDone = func() chan struct{} {
	ch := make(chan struct{})
	close(ch)
	return ch
}()

func (x *callCtx) init(st *stream, parent context.Context) {
	x.st, x.parent = st, parent
}

// withDeadline gives the call a deadline d from now; only before the call
// is dispatched (parent is read without the lock). The deadline context
// can end at once (the connection closing), before its stop is recorded.
func (x *callCtx) withDeadline(d time.Duration) {
	dctx, release := context.WithTimeout(x.parent, d)
	x.parent = dctx
	cd := &callDeadline{release: release}
	cd.stop = context.AfterFunc(dctx, func() { x.cancel(dctx.Err()) })
	x.mu.Lock()
	ended := x.err != nil
	if !ended {
		x.deadline = cd
	}
	x.mu.Unlock()
	if ended {
		cd.stop()
		cd.release()
	}
}

func (x *callCtx) Deadline() (time.Time, bool) { return x.parent.Deadline() }

func (x *callCtx) Done() <-chan struct{} {
	x.mu.Lock()
	defer x.mu.Unlock()
	if x.done == nil {
		if x.err != nil {
			x.done = closedDone
		} else {
			x.done = make(chan struct{})
		}
	}
	return x.done
}

func (x *callCtx) Err() error {
	x.mu.Lock()
	defer x.mu.Unlock()
	return x.err
}

func (x *callCtx) Value(key any) any {
	if key == transportStreamKey {
		return x.st
	}
	return x.parent.Value(key)
}

// cancel ends the context with err; later calls do nothing.
func (x *callCtx) cancel(err error) {
	x.mu.Lock()
	if x.err != nil {
		x.mu.Unlock()
		return
	}
	x.err = err
	if x.done != nil {
		close(x.done)
	}
	if x.notify != nil {
		signal(x.notify)
	}
	d := x.deadline
	var afters []afterFunc
	if x.afters != nil {
		afters, x.afters.list = x.afters.list, nil
	}
	x.mu.Unlock()
	for _, a := range afters {
		go a.f()
	}
	if d != nil {
		// In this order, so the deadline context's end does not come back
		// here on a goroutine of its own.
		d.stop()
		d.release()
	}
}

func signal(ch chan<- struct{}) {
	select {
	case ch <- struct{}{}:
	default:
	}
}

// AfterFunc runs f on a goroutine of its own once the call's context ends,
// unless stop is called first: what context.AfterFunc and the contexts
// derived from this one use (the interface context looks for).
func (x *callCtx) AfterFunc(f func()) (stop func() bool) {
	x.mu.Lock()
	if x.err != nil {
		x.mu.Unlock()
		go f()
		return func() bool { return false }
	}
	if x.afters == nil {
		x.afters = &afterFuncs{}
	}
	fs := x.afters
	fs.nextID++
	id := fs.nextID
	fs.list = append(fs.list, afterFunc{id, f})
	x.mu.Unlock()
	return func() bool {
		x.mu.Lock()
		defer x.mu.Unlock()
		for i, a := range fs.list {
			if a.id == id {
				fs.list = append(fs.list[:i], fs.list[i+1:]...)
				return true
			}
		}
		return false
	}
}

// NotifyDone has ch (buffered) signaled when the call's context ends, at
// once if it has: a waiter that selects on a channel it reuses need not
// make the call's Done channel. One channel at a time; false means another
// is registered and the caller should use Done. After StopNotify(ch)
// returns, nothing more is sent on ch, so the caller can drain it for
// reuse.
func (x *callCtx) NotifyDone(ch chan<- struct{}) bool {
	x.mu.Lock()
	defer x.mu.Unlock()
	if x.notify != nil {
		return false
	}
	x.notify = ch
	if x.err != nil {
		signal(ch)
	}
	return true
}

// StopNotify undoes NotifyDone(ch).
func (x *callCtx) StopNotify(ch chan<- struct{}) {
	x.mu.Lock()
	if x.notify == ch {
		x.notify = nil
	}
	x.mu.Unlock()
}

// transportStreamKey is the key grpc stores a ServerTransportStream under
// (its type is unexported), learned by asking grpc to look one up in a
// context that records the key it is asked for. It stays nil, and streams
// fall back to grpc.NewContextWithServerTransportStream, if grpc then does
// not find the stream a callCtx holds under it.
var transportStreamKey any

func init() {
	probe := &keyProbe{Context: context.Background()}
	grpc.ServerTransportStreamFromContext(probe)
	if probe.key == nil {
		return
	}
	transportStreamKey = probe.key
	st := &stream{}
	st.cctx.init(st, context.Background())
	if grpc.ServerTransportStreamFromContext(&st.cctx) != st {
		transportStreamKey = nil
	}
}

// keyProbe records the first key a lookup asks it for.
type keyProbe struct {
	context.Context
	key any
}

func (p *keyProbe) Value(key any) any {
	if p.key == nil {
		p.key = key
	}
	return nil
}
