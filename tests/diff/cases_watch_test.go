package diff

import (
	"context"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
)

// watchRec is one watcher of a case, recording what it receives: the
// created response and progress responses with their header, events one
// by one (servers batch them differently, which clients must not rely on)
// and the cancel with its compact revision and error.
type watchRec struct {
	e      *env
	label  string
	ch     clientv3.WatchChan
	ctx    context.Context
	cancel context.CancelFunc
}

// quiet is how long a watcher must stay silent after its expected events
// for the case to know no extra ones come.
const quiet = 200 * time.Millisecond

// watch starts a watcher with created notification and records the created
// response, so that writes after it are certainly seen.
func (e *env) watch(label, key string, opts ...clientv3.OpOption) *watchRec {
	ctx, cancel := context.WithCancel(e.ctx)
	w := &watchRec{e: e, label: "watch " + label, ctx: ctx, cancel: cancel}
	w.ch = e.c.Watch(ctx, e.k(key), append(opts, clientv3.WithCreatedNotify())...)
	w.next(5 * time.Second)
	return w
}

// next records one response; false when the channel closed or nothing came
// within d.
func (w *watchRec) next(d time.Duration) bool {
	select {
	case resp, ok := <-w.ch:
		if !ok {
			w.e.note("%s closed", w.label)
			return false
		}
		w.record(resp)
		return !resp.Canceled
	case <-time.After(d):
		return false
	}
}

func (w *watchRec) record(r clientv3.WatchResponse) {
	e := w.e
	switch {
	case r.Created:
		e.note("%s created rev=%s", w.label, e.n.rev(r.Header.Revision))
	case r.IsProgressNotify():
		e.note("%s progress rev=%s", w.label, e.n.rev(r.Header.Revision))
	}
	for _, ev := range r.Events {
		e.note("%s event %s", w.label, e.n.message(ev.ProtoReflect()))
	}
	if r.Canceled {
		e.note("%s canceled compact=%s err=%s", w.label, e.n.rev(r.CompactRevision), errOrNil(r.Err()))
	} else if r.CompactRevision != 0 {
		e.note("%s compact=%s", w.label, e.n.rev(r.CompactRevision))
	}
}

func errOrNil(err error) string {
	if err == nil {
		return "nil"
	}
	return errText(err)
}

// expect records responses until n events came (then waits out quiet to see
// any extra ones), the watch was canceled, or a timeout passed.
func (w *watchRec) expect(n int) {
	start := len(w.e.out)
	deadline := time.Now().Add(5 * time.Second)
	for w.events(start) < n {
		left := time.Until(deadline)
		if left <= 0 || !w.next(left) {
			if left <= 0 {
				w.e.note("%s timeout after %d of %d events", w.label, w.events(start), n)
			}
			return
		}
	}
	for w.next(quiet) {
	}
}

// events counts event lines recorded since index start.
func (w *watchRec) events(start int) int {
	n := 0
	prefix := w.label + " event "
	for _, l := range w.e.out[start:] {
		if len(l) >= len(prefix) && l[:len(prefix)] == prefix {
			n++
		}
	}
	return n
}

func (w *watchRec) close() { w.cancel() }

func watchCases() []tcase {
	return []tcase{
		{name: "watch-put-delete", run: func(e *env) {
			w := e.watch("a", "a")
			e.put("a", "1")
			e.put("b", "ignored")
			e.put("a", "2")
			e.del("a")
			w.expect(3)
			w.close()
		}},
		{name: "watch-prev-kv", run: func(e *env) {
			e.put("a", "0")
			w := e.watch("a", "a", clientv3.WithPrevKV())
			e.put("a", "1")
			e.del("a")
			e.put("a", "2")
			w.expect(3)
			w.close()
		}},
		{name: "watch-start-rev-past", run: func(e *env) {
			e.put("a", "1")
			e.put("a", "2")
			e.put("b", "1")
			e.del("a")
			w := e.watch("a from r+2", "a", clientv3.WithRev(e.n.base+2))
			w.expect(2)
			e.put("a", "3")
			w.expect(1)
			w.close()
		}},
		{name: "watch-prefix", run: func(e *env) {
			w := e.watch("p/", "p/", clientv3.WithPrefix())
			e.put("p/a", "1")
			e.put("q", "ignored")
			e.put("p/b/c", "2")
			e.del("p/", clientv3.WithPrefix())
			w.expect(4)
			w.close()
		}},
		{name: "watch-range-from-key", run: func(e *env) {
			w := e.watch("[b,d)", "b", clientv3.WithRange(e.k("d")))
			w2 := e.watch("from c", "c", clientv3.WithFromKey())
			for _, k := range []string{"a", "b", "c", "d"} {
				e.put(k, k)
			}
			w.expect(2)
			w2.expect(2)
			w.close()
			w2.close()
		}},
		{name: "watch-filter-noput", run: func(e *env) {
			w := e.watch("a no put", "a", clientv3.WithFilterPut())
			e.put("a", "1")
			e.del("a")
			e.put("a", "2")
			e.del("a")
			w.expect(2)
			w.close()
		}},
		{name: "watch-filter-nodelete", run: func(e *env) {
			w := e.watch("a no delete", "a", clientv3.WithFilterDelete(), clientv3.WithPrevKV())
			e.put("a", "1")
			e.del("a")
			e.put("a", "2")
			w.expect(2)
			w.close()
		}},
		{name: "watch-txn-events", run: func(e *env) {
			w := e.watch("prefix", "", clientv3.WithPrefix())
			e.put("z", "0")
			e.txn("multi", nil, ops{clientv3.OpPut(e.k("x"), "1"), clientv3.OpPut(e.k("y"), "2"),
				clientv3.OpDelete(e.k("z"))}, nil)
			w.expect(4)
			w.close()
		}},
		{name: "watch-compacted-start", run: func(e *env) {
			threeRevs(e)
			e.compact(e.n.base + 3)
			w := e.watch("a from r+1", "a", clientv3.WithRev(e.n.base+1))
			w.expect(1)
			w.close()
		}},
		{name: "watch-at-compact-rev", run: func(e *env) {
			threeRevs(e)
			e.compact(e.n.base + 2)
			w := e.watch("a from r+2", "a", clientv3.WithRev(e.n.base+2))
			w.expect(2)
			w.close()
		}},
		{name: "watch-progress-request", run: func(e *env) {
			w := e.watch("a", "a")
			e.put("b", "1")
			e.put("b", "2")
			if err := e.c.RequestProgress(w.ctx); err != nil {
				e.note("request progress: %s", errText(err))
			}
			w.next(5 * time.Second)
			e.put("a", "1")
			w.expect(1)
			w.close()
		}},
		{name: "watch-future-start", run: func(e *env) {
			w := e.watch("a from r+3", "a", clientv3.WithRev(e.n.base+3))
			e.put("a", "1")
			e.put("a", "2")
			e.put("a", "3")
			e.put("a", "4")
			w.expect(2)
			w.close()
		}},
		{name: "watch-lease-revoke", run: func(e *env) {
			id := e.grant(100)
			e.put("a", "1", clientv3.WithLease(id))
			w := e.watch("a", "a", clientv3.WithPrevKV())
			r, err := e.c.Revoke(e.ctx, id)
			e.rec("revoke", r, err)
			w.expect(1)
			w.close()
		}},
		{name: "watch-two-on-one-stream", run: func(e *env) {
			w1 := e.watch("a", "a")
			w2 := e.watch("prefix", "", clientv3.WithPrefix(), clientv3.WithFilterDelete())
			e.put("a", "1")
			e.put("b", "1")
			e.del("a")
			w1.expect(2)
			w2.expect(2)
			w1.close()
			w2.close()
		}},
	}
}
