package sim

import (
	"fmt"

	pb "go.etcd.io/etcd/api/v3/etcdserverpb"

	"metastore/checker"
	"metastore/core"
)

func rangeAll() *pb.RangeRequest {
	return &pb.RangeRequest{Key: []byte{0}, RangeEnd: []byte{0}}
}

// watcher follows every key through one member's event stream. When that
// member crashes the stream ends, and the watcher resumes on another member
// from the next revision it has not seen, reading the history the store
// keeps. Each stream is checked on its own: ordered, unique, complete,
// atomic per revision, and the resumed suffix exactly continues the last.
type watcher struct {
	s       *Sim
	on      *node
	inc     int
	streams []*watchStream
}

type watchStream struct {
	node       uint64
	spec       checker.WatchSpec
	deliveries []checker.Delivery
	next       int64 // the next revision this stream expects
	compacted  bool  // cancelled: its history was compacted away
}

func (w *watcher) cur() *watchStream {
	if len(w.streams) == 0 {
		return nil
	}
	return w.streams[len(w.streams)-1]
}

// attach starts a new stream on n from revision from: the history first,
// then live events.
func (w *watcher) attach(n *node, from int64) {
	st := &watchStream{node: n.id, spec: checker.WatchSpec{Key: "\x00", End: "\x00", FromRev: from}, next: from}
	w.streams = append(w.streams, st)
	w.on, w.inc = n, n.host.Incarnation
	w.s.count("watch_stream")
	w.s.drv.exec(n, "watch", func(r *core.Replica) { w.catchUp(r, st) })
}

// catchUp delivers the stored history from st.next on, grouped per
// revision, as a resumed etcd watch does.
func (w *watcher) catchUp(r *core.Replica, st *watchStream) {
	evs, err := r.Store().Events(st.next, []byte{0}, []byte{0}, false)
	if err != nil {
		// The history it needs was compacted: etcd cancels such a watch
		// with its compact revision. The stream ends here, complete up to
		// what it received, and the watcher stops (no later event may
		// reach it: that would leave a gap).
		w.s.count("watch_compacted")
		st.compacted = true
		w.on = nil
		return
	}
	var cur checker.Delivery
	var curRev int64
	flush := func() {
		if len(cur.Events) > 0 {
			st.deliveries = append(st.deliveries, cur)
			cur = checker.Delivery{}
		}
	}
	for _, e := range evs {
		rev := e.GetKv().GetModRevision()
		if rev != curRev {
			flush()
			curRev = rev
		}
		ev := checker.WatchEvent{Revision: rev, Key: string(e.GetKv().GetKey()), Delete: e.GetType() == 1}
		if !ev.Delete {
			ev.Value = string(e.GetKv().GetValue())
		}
		cur.Events = append(cur.Events, ev)
		st.next = rev + 1
	}
	flush()
}

// onEvents is called for every revision any member applies.
func (w *watcher) onEvents(n *node, rev int64, writes []checker.AppliedWrite) {
	st := w.cur()
	if st == nil || w.on != n || w.inc != n.host.Incarnation {
		return
	}
	if rev < st.next {
		return // a replica replaying its log after a snapshot restore
	}
	if rev > st.next {
		// A snapshot install skipped revisions: fill them from history.
		w.catchUp(n.rep, st)
		if rev < st.next || st.compacted {
			return
		}
	}
	d := checker.Delivery{}
	for _, wr := range writes {
		d.Events = append(d.Events, checker.WatchEvent{Revision: rev, Key: wr.Key, Value: wr.Value, Delete: wr.Delete})
	}
	st.deliveries = append(st.deliveries, d)
	st.next = rev + 1
}

// onCrash moves the watcher to another live member after a short delay.
func (w *watcher) onCrash(n *node) {
	if w.on != n {
		return
	}
	w.on = nil
	w.s.world.After(50*Millisecond, w.reattach)
}

func (w *watcher) reattach() {
	if w.on != nil || w.s.world.Now >= w.s.safetyEnd+livenessBound {
		return
	}
	for _, id := range w.s.drv.ids {
		if n := w.s.drv.nodes[id]; n.alive() {
			w.attach(n, w.cur().next)
			return
		}
	}
	w.s.world.After(100*Millisecond, w.reattach)
}

// finish records how far the live stream is known complete: its member's
// revision once the cluster converged.
func (w *watcher) finish() {
	st := w.cur()
	if st == nil || w.on == nil || !w.on.alive() {
		return
	}
	st.spec.Through = w.on.rep.Store().Rev()
}

func (w *watcher) check(applied []checker.AppliedWrite) {
	for i, st := range w.streams {
		if err := checker.CheckWatch(st.spec, st.deliveries, applied); err != nil {
			w.s.violation(fmt.Sprintf("watch stream %d (on node %d from revision %d): %v", i, st.node, st.spec.FromRev, err))
		}
		if i > 0 && st.spec.FromRev != checker.NextRev(w.streams[i-1].deliveries, w.streams[i-1].spec.FromRev) {
			w.s.violation(fmt.Sprintf("watch stream %d resumed at %d, not where stream %d ended", i, st.spec.FromRev, i-1))
		}
	}
}
