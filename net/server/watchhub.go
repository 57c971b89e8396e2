package server

import (
	"bytes"
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"time"

	pb "go.etcd.io/etcd/api/v3/etcdserverpb"
	"go.etcd.io/etcd/api/v3/mvccpb"

	"metastore/core"
	"metastore/core/mvcc"
)

// hub holds every watcher of this member. The replica's event sink feeds it
// on the loop goroutine and must never block: it appends to the watcher's
// stream queue, bounded by Config.WatchQueueEvents. A watcher whose events
// do not fit becomes unsynced and later catches up from the store's history
// (Store.Events) on the loop goroutine, where no sink call can interleave;
// so no event is lost or duplicated, and revision order is kept.
//
// Everything below is guarded by mu. Synced and unsynced watchers live in
// the same map; a watcher's next revision says where it stands.
type hub struct {
	s        *Server
	mu       sync.Mutex
	streams  map[*watchStream]struct{}
	unsynced int // watchers with synced == false
	syncing  atomic.Bool
	// fellBehind counts watchers that overflowed their stream's queue.
	fellBehind atomic.Int64
}

// watcher is one watch on one stream.
type watcher struct {
	id       int64
	key, end []byte // etcd's forms: end nil = key alone, empty = from key on
	prevKV   bool
	noPut    bool
	noDelete bool
	progress bool // progress_notify
	fragment bool

	// next is the first revision not yet queued for this watcher.
	next   int64
	synced bool
	// sentSince records an event response queued since the last progress
	// tick (etcd elides the next progress notification then).
	sentSince bool
}

// watchItem is one response queued for a stream's sender.
type watchItem struct {
	resp     *pb.WatchResponse
	fragment bool // the watcher accepts fragmented responses
	events   bool // an event response (may be coalesced with the next)
}

func newHub(s *Server) *hub {
	return &hub{s: s, streams: make(map[*watchStream]struct{})}
}

// sink receives the events of one revision on the loop goroutine.
func (h *hub) sink(rev int64, evs []*mvccpb.Event) {
	h.mu.Lock()
	defer h.mu.Unlock()
	// A PUT event comes without PrevKv: it is read from the store here,
	// once per event, for the watchers asking for it (etcd's watch reads
	// it too), so puts nobody watches that way read nothing.
	var filled []*mvccpb.Event
	withPrev := func(i int) *mvccpb.Event {
		if filled == nil {
			filled = make([]*mvccpb.Event, len(evs))
		}
		if filled[i] == nil {
			ev := evs[i]
			filled[i] = ev
			if p := h.s.node.r.Store().EventPrevKV(ev); p != ev.PrevKv {
				filled[i] = &mvccpb.Event{Type: ev.Type, Kv: ev.Kv, PrevKv: p}
			}
		}
		return filled[i]
	}
	for ws := range h.streams {
		for _, w := range ws.watchers {
			if !w.synced || rev < w.next {
				continue
			}
			sel := w.filter(evs, withPrev)
			if len(sel) == 0 {
				w.next = rev + 1
				continue
			}
			if ws.queued+len(sel) > h.s.cfg.WatchQueueEvents && ws.queued > 0 {
				w.synced = false // w.next stays at rev: catch up from there
				h.unsynced++
				h.fellBehind.Add(1)
				continue
			}
			w.next = rev + 1
			ws.pushEvents(w, rev, sel)
		}
	}
}

// filter selects the events w wants, without PrevKv unless it asked;
// withPrev, when not nil, gives event i with its PrevKv. The events are
// shared with the replica: copies are made, never edits.
func (w *watcher) filter(evs []*mvccpb.Event, withPrev func(i int) *mvccpb.Event) []*mvccpb.Event {
	var out []*mvccpb.Event
	for i, ev := range evs {
		if !inRange(ev.GetKv().GetKey(), w.key, w.end) {
			continue
		}
		if (ev.Type == mvccpb.PUT && w.noPut) || (ev.Type == mvccpb.DELETE && w.noDelete) {
			continue
		}
		switch {
		case !w.prevKV && ev.PrevKv != nil:
			ev = &mvccpb.Event{Type: ev.Type, Kv: ev.Kv}
		case w.prevKV && withPrev != nil:
			ev = withPrev(i)
		}
		out = append(out, ev)
	}
	return out
}

// inRange is etcd's watch range: end nil is key alone, end empty is every
// key >= key, otherwise [key, end).
func inRange(k, key, end []byte) bool {
	switch {
	case end == nil:
		return bytes.Equal(k, key)
	case len(end) == 0:
		return bytes.Compare(k, key) >= 0
	default:
		return bytes.Compare(k, key) >= 0 && bytes.Compare(k, end) < 0
	}
}

// syncLoop catches unsynced watchers up every WatchSyncInterval.
func (h *hub) syncLoop() {
	t := time.NewTicker(h.s.cfg.WatchSyncInterval)
	defer t.Stop()
	for {
		select {
		case <-h.s.stopc:
			return
		case <-h.s.node.Done():
			return
		case <-t.C:
		}
		h.mu.Lock()
		need := h.unsynced > 0
		h.mu.Unlock()
		if need && h.syncing.CompareAndSwap(false, true) {
			err := h.s.node.Do(context.Background(), func(r *core.Replica) {
				defer h.syncing.Store(false)
				h.catchUpAll(r)
			})
			if err != nil {
				h.syncing.Store(false)
			}
		}
	}
}

// catchUpAll runs on the loop goroutine.
func (h *hub) catchUpAll(r *core.Replica) {
	h.mu.Lock()
	defer h.mu.Unlock()
	for ws := range h.streams {
		for _, w := range ws.watchers {
			if !w.synced && ws.queued < h.s.cfg.WatchQueueEvents/2 {
				h.catchUp(r, ws, w)
			}
		}
		ws.maybeProgressAll(r)
	}
}

// catchUp queues w's missed events from the store, whole revisions at a
// time, as many as fit; when all fit, w is synced: every later revision
// reaches it through sink. Called on the loop goroutine with h.mu held.
func (h *hub) catchUp(r *core.Replica, ws *watchStream, w *watcher) {
	st := r.Store()
	evs, err := st.WatchEvents(w.next, w.key, w.end, w.prevKV)
	if errors.Is(err, mvcc.ErrCompacted) {
		ws.push(watchItem{resp: &pb.WatchResponse{
			Header:          &pb.ResponseHeader{Revision: st.Rev()},
			WatchId:         w.id,
			CompactRevision: st.CompactRev(),
			Canceled:        true,
		}})
		ws.remove(w)
		return
	}
	if err != nil {
		h.s.cfg.Logger.Error("watch catch-up", "err", err)
		return
	}
	evs = w.filter(evs, nil) // WatchEvents filled PrevKv
	room := max(h.s.cfg.WatchQueueEvents-ws.queued, 0)
	taken := len(evs)
	if taken > room {
		// Cut at a revision boundary, but always take the first revision
		// whole, however large: progress over a huge txn.
		taken = room
		for taken > 0 && taken < len(evs) && evs[taken].Kv.ModRevision == evs[taken-1].Kv.ModRevision {
			taken--
		}
		if taken == 0 {
			first := evs[0].Kv.ModRevision
			for taken < len(evs) && evs[taken].Kv.ModRevision == first {
				taken++
			}
		}
	}
	if taken < len(evs) {
		last := evs[taken-1].Kv.ModRevision
		ws.pushEvents(w, last, evs[:taken])
		w.next = last + 1
		return
	}
	if taken > 0 {
		ws.pushEvents(w, st.Rev(), evs)
	}
	w.next = st.Rev() + 1
	w.synced = true
	h.unsynced--
}
