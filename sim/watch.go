package sim

import (
	"fmt"
	"math/rand/v2"

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
//
// Now and then (drawn from rng) the watcher also starts over from a
// revision it has already seen, up to rewindLagMax back, as a client
// re-reading recent history does. Clients compact a few revisions behind
// the newest, so some of those starts fall below the compacted floor: the
// member cancels the stream with its compact revision, and the watcher
// starts again just above it, as an etcd client restarts from the
// CompactRevision it was given.
type watcher struct {
	s       *Sim
	rng     *rand.Rand
	on      *node
	inc     int
	streams []*watchStream
}

const (
	rewindLagMax   = 12
	rewindEveryMin = 300 * Millisecond
	rewindEveryMax = 1500 * Millisecond
)

type watchStream struct {
	node       uint64
	spec       checker.WatchSpec
	deliveries []checker.Delivery
	next       int64 // the next revision this stream expects
	compacted  bool  // cancelled: its history was compacted away
	// compactRev is the member's compact revision the cancel carried,
	// cancelledAt the revision the stream needed when it was cancelled.
	compactRev, cancelledAt int64
	// rewound: started at or below where the last stream ended, on purpose,
	// rather than exactly where it ended.
	rewound bool
}

func (w *watcher) cur() *watchStream {
	if len(w.streams) == 0 {
		return nil
	}
	return w.streams[len(w.streams)-1]
}

// attach starts a new stream on n from revision from: the history first,
// then live events.
func (w *watcher) attach(n *node, from int64) *watchStream {
	st := &watchStream{node: n.id, spec: checker.WatchSpec{Key: "\x00", End: "\x00", FromRev: from}, next: from}
	w.streams = append(w.streams, st)
	w.on, w.inc = n, n.host.Incarnation
	w.s.count("watch_stream")
	w.s.drv.exec(n, "watch", func(r *core.Replica) { w.catchUp(r, st) })
	return st
}

// catchUp delivers the stored history from st.next on, grouped per
// revision, as a resumed etcd watch does.
func (w *watcher) catchUp(r *core.Replica, st *watchStream) {
	if st != w.cur() || st.compacted {
		return // a deferred catch-up of a stream the watcher already left
	}
	evs, err := r.Store().Events(st.next, []byte{0}, []byte{0}, false)
	if err != nil {
		// The history it needs was compacted: etcd cancels such a watch
		// with its compact revision. The stream ends here, complete up to
		// what it received (no later event may reach it: that would leave
		// a gap), and the watcher starts a new one above the floor.
		w.s.count("watch_compacted")
		st.compacted = true
		st.compactRev, st.cancelledAt = r.Store().CompactRev(), st.next
		w.on = nil
		w.s.world.After(10*Millisecond, w.reattach)
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
	from := w.cur().next
	if w.cur().compacted {
		// Above the floor, not at it: compaction kept only the puts of the
		// compact revision itself, so a stream from there would be
		// incomplete by the deletions it made.
		from = w.cur().compactRev + 1
	}
	for _, id := range w.s.drv.ids {
		if n := w.s.drv.nodes[id]; n.alive() {
			w.attach(n, from)
			return
		}
	}
	w.s.world.After(100*Millisecond, w.reattach)
}

func (w *watcher) scheduleRewind() {
	w.s.world.After(rewindEveryMin+w.rng.Int64N(rewindEveryMax-rewindEveryMin), w.rewind)
}

// rewind leaves the live stream and starts one on the same member from a
// revision the watcher has already seen, minus a lag.
func (w *watcher) rewind() {
	if w.s.world.Now >= w.s.safetyEnd {
		return
	}
	lag := w.rng.Int64N(rewindLagMax)
	if n := w.on; n != nil && n.alive() && w.inc == n.host.Incarnation {
		w.on = nil
		w.attach(n, max(1, w.cur().next-1-lag)).rewound = true
		w.s.count("watch_rewind")
	}
	w.scheduleRewind()
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

// check checks every stream on its own, then that the streams chain:
// each starts where the last one ended, or earlier when it rewound on
// purpose, or just above the compact revision that cancelled the last.
// A cancel must be true: the revision the stream needed was at or below
// the floor the member reported, and that floor one a client asked for.
func (w *watcher) check(applied []checker.AppliedWrite) {
	for i, st := range w.streams {
		if err := checker.CheckWatch(st.spec, st.deliveries, applied); err != nil {
			w.s.violation(fmt.Sprintf("watch stream %d (on node %d from revision %d): %v", i, st.node, st.spec.FromRev, err))
		}
		if st.compacted {
			if end := checker.NextRev(st.deliveries, st.spec.FromRev); end != st.cancelledAt || end > st.compactRev {
				w.s.violation(fmt.Sprintf("watch stream %d (on node %d) cancelled for compaction at %d, but it had received through %d and the compact revision was %d",
					i, st.node, st.cancelledAt, end-1, st.compactRev))
			}
			if !w.s.compactAsked[st.compactRev] {
				w.s.violation(fmt.Sprintf("watch stream %d (on node %d) cancelled with compact revision %d, which no client asked to compact", i, st.node, st.compactRev))
			}
		}
		if i == 0 {
			continue
		}
		prev := w.streams[i-1]
		end := checker.NextRev(prev.deliveries, prev.spec.FromRev)
		switch {
		case prev.compacted:
			if st.spec.FromRev != prev.compactRev+1 {
				w.s.violation(fmt.Sprintf("watch stream %d restarted at %d, not above compact revision %d that cancelled stream %d", i, st.spec.FromRev, prev.compactRev, i-1))
			}
		case st.rewound:
			if st.spec.FromRev > end {
				w.s.violation(fmt.Sprintf("watch stream %d rewound to %d, past where stream %d ended (%d)", i, st.spec.FromRev, i-1, end))
			}
		case st.spec.FromRev != end:
			w.s.violation(fmt.Sprintf("watch stream %d resumed at %d, not where stream %d ended", i, st.spec.FromRev, i-1))
		}
	}
}
