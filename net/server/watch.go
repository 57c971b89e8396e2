package server

import (
	"bytes"
	"context"
	"errors"
	"io"
	"time"

	pb "go.etcd.io/etcd/api/v3/etcdserverpb"
	"go.etcd.io/etcd/api/v3/mvccpb"
	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
	"google.golang.org/grpc"
	"google.golang.org/protobuf/proto"

	"metastore/core"
)

// Cancel reasons etcd answers with (storage/mvcc's watcher errors).
const (
	reasonEmptyRange  = "mvcc: watcher range is empty"
	reasonDuplicateID = "mvcc: duplicate watch ID provided on the WatchStream"
)

// invalidWatchID is clientv3.InvalidWatchID: the watch ID of stream-wide
// responses (progress requests, failed creates).
const invalidWatchID = -1

// maxCoalescedEvents bounds how many queued events of one watcher are sent
// in a single response.
const maxCoalescedEvents = 1000

type watchServer struct {
	pb.UnimplementedWatchServer
	s *Server
}

// watchStream is one Watch call: its watchers and the queue of responses
// its sender goroutine writes out, both guarded by hub.mu.
type watchStream struct {
	h        *hub
	watchers map[int64]*watcher
	nextID   int64
	queue    []watchItem
	queued   int           // events in queue
	wake     chan struct{} // capacity 1: the queue is non-empty
	// progressAll is a pending progress request: answered once every
	// watcher of the stream is synced.
	progressAll bool
}

func (ws *watchStream) push(it watchItem) {
	ws.queue = append(ws.queue, it)
	select {
	case ws.wake <- struct{}{}:
	default:
	}
}

func (ws *watchStream) pushEvents(w *watcher, rev int64, evs []*mvccpb.Event) {
	ws.push(watchItem{
		resp:     &pb.WatchResponse{Header: &pb.ResponseHeader{Revision: rev}, WatchId: w.id, Events: evs},
		fragment: w.fragment,
		events:   true,
	})
	ws.queued += len(evs)
	w.sentSince = true
}

func (ws *watchStream) remove(w *watcher) {
	delete(ws.watchers, w.id)
	if !w.synced {
		ws.h.unsynced--
	}
}

// maybeProgressAll answers a pending progress request once all watchers are
// synced: every event up to the current revision is then queued ahead of
// it. Called on the loop goroutine with hub.mu held.
func (ws *watchStream) maybeProgressAll(r *core.Replica) {
	if !ws.progressAll {
		return
	}
	for _, w := range ws.watchers {
		if !w.synced {
			return
		}
	}
	ws.progressAll = false
	ws.push(watchItem{resp: &pb.WatchResponse{
		Header: &pb.ResponseHeader{Revision: r.Store().Rev()}, WatchId: invalidWatchID}})
}

func (w *watchServer) Watch(stream grpc.BidiStreamingServer[pb.WatchRequest, pb.WatchResponse]) error {
	s := w.s
	ws := &watchStream{h: s.hub, watchers: make(map[int64]*watcher), wake: make(chan struct{}, 1)}
	s.hub.mu.Lock()
	s.hub.streams[ws] = struct{}{}
	s.hub.mu.Unlock()
	defer func() {
		s.hub.mu.Lock()
		for _, w := range ws.watchers {
			ws.remove(w)
		}
		delete(s.hub.streams, ws)
		s.hub.mu.Unlock()
	}()

	ctx, cancel := context.WithCancel(stream.Context())
	defer cancel()
	// NB: the handler may not return while the sender is in Send; a
	// pending Recv, however, ends by itself once the handler returns.
	sendc := make(chan error, 1)
	recvc := make(chan error, 1)
	go func() { sendc <- s.sendWatch(ctx, ws, stream) }()
	go func() { recvc <- s.recvWatch(ctx, ws, stream) }()
	var err error
	select {
	case err = <-sendc:
		cancel()
	case err = <-recvc:
		if errors.Is(err, io.EOF) {
			// As etcd: a client that closed its side still gets events.
			err = <-sendc
			break
		}
		cancel()
		<-sendc
	}
	if errors.Is(err, io.EOF) || errors.Is(err, context.Canceled) {
		return nil
	}
	return err
}

// recvWatch reads create, cancel and progress requests until the client
// closes its side.
func (s *Server) recvWatch(ctx context.Context, ws *watchStream, stream grpc.BidiStreamingServer[pb.WatchRequest, pb.WatchResponse]) error {
	for {
		req, err := stream.Recv()
		if err != nil {
			return err
		}
		switch {
		case req.GetCreateRequest() != nil:
			if err := s.createWatch(ctx, ws, req.GetCreateRequest()); err != nil {
				return s.toGRPC(err)
			}
		case req.GetCancelRequest() != nil:
			s.cancelWatch(ws, req.GetCancelRequest().WatchId)
		case req.GetProgressRequest() != nil:
			err := s.node.Do(ctx, func(r *core.Replica) {
				s.hub.mu.Lock()
				defer s.hub.mu.Unlock()
				ws.progressAll = true
				ws.maybeProgressAll(r)
			})
			if err != nil {
				return s.toGRPC(err)
			}
		}
	}
}

func (s *Server) createWatch(ctx context.Context, ws *watchStream, creq *pb.WatchCreateRequest) error {
	key := creq.Key
	if len(key) == 0 {
		key = []byte{0} // the smallest key
	}
	var end []byte // nil: key alone
	switch {
	case len(creq.RangeEnd) == 1 && creq.RangeEnd[0] == 0:
		end = []byte{} // from key on
	case len(creq.RangeEnd) > 0:
		end = creq.RangeEnd
	}
	refuse := func(reason string) {
		s.hub.mu.Lock()
		defer s.hub.mu.Unlock()
		ws.push(watchItem{resp: &pb.WatchResponse{WatchId: invalidWatchID, Created: true, Canceled: true, CancelReason: reason}})
	}
	if creq.StartRevision < 0 {
		refuse(rpctypes.ErrCompacted.Error())
		return nil
	}
	if len(end) > 0 && bytes.Compare(key, end) >= 0 {
		refuse(reasonEmptyRange)
		return nil
	}
	w := &watcher{key: key, end: end, prevKV: creq.PrevKv, progress: creq.ProgressNotify, fragment: creq.Fragment}
	for _, f := range creq.Filters {
		switch f {
		case pb.WatchCreateRequest_NOPUT:
			w.noPut = true
		case pb.WatchCreateRequest_NODELETE:
			w.noDelete = true
		}
	}
	c := s.callerOf(ctx)
	return s.node.Do(ctx, func(r *core.Replica) {
		// etcd's rule: watching needs read access to the whole range.
		user, arev, err := s.resolve(r, c)
		if err == nil {
			err = r.Store().Auth().CheckRange(user, arev, creq.Key, creq.RangeEnd)
		}
		if err != nil {
			refuse(s.toGRPC(err).Error())
			return
		}
		h := s.hub
		h.mu.Lock()
		defer h.mu.Unlock()
		id := creq.WatchId
		if id == 0 { // clientv3.AutoWatchID
			for ws.watchers[ws.nextID] != nil {
				ws.nextID++
			}
			id = ws.nextID
			ws.nextID++
		} else if ws.watchers[id] != nil {
			ws.push(watchItem{resp: &pb.WatchResponse{
				Header: &pb.ResponseHeader{Revision: r.Store().Rev()}, WatchId: invalidWatchID,
				Created: true, Canceled: true, CancelReason: reasonDuplicateID}})
			return
		}
		w.id = id
		rev := r.Store().Rev()
		ws.push(watchItem{resp: &pb.WatchResponse{Header: &pb.ResponseHeader{Revision: rev}, WatchId: id, Created: true}})
		ws.watchers[id] = w
		w.next = creq.StartRevision
		if w.next == 0 || w.next > rev {
			w.next = max(w.next, rev+1)
			w.synced = true
			return
		}
		h.unsynced++
		h.catchUp(r, ws, w)
		ws.maybeProgressAll(r)
	})
}

func (s *Server) cancelWatch(ws *watchStream, id int64) {
	h := s.hub
	h.mu.Lock()
	w := ws.watchers[id]
	if w == nil {
		h.mu.Unlock()
		return // as etcd: an unknown ID gets no answer
	}
	ws.remove(w)
	ws.push(watchItem{resp: &pb.WatchResponse{
		Header: &pb.ResponseHeader{Revision: s.node.Status().Revision}, WatchId: id, Canceled: true}})
	waited := ws.progressAll && !w.synced
	h.mu.Unlock()
	if waited {
		// A pending progress request may have waited for this watcher. NB:
		// never call Do holding h.mu: the loop's sink takes h.mu.
		_ = s.node.Do(context.Background(), func(r *core.Replica) {
			h.mu.Lock()
			defer h.mu.Unlock()
			ws.maybeProgressAll(r)
		})
	}
}

// sendWatch writes the stream's queue out, and every ProgressNotifyInterval
// asks for progress responses for idle progress_notify watchers.
func (s *Server) sendWatch(ctx context.Context, ws *watchStream, stream grpc.BidiStreamingServer[pb.WatchRequest, pb.WatchResponse]) error {
	tick := time.NewTicker(s.cfg.ProgressNotifyInterval)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-s.node.Done():
			return rpctypes.ErrGRPCStopped
		case <-tick.C:
			if err := s.node.Do(ctx, func(r *core.Replica) { s.hub.progressTick(r, ws) }); err != nil {
				return s.toGRPC(err)
			}
			continue
		case <-ws.wake:
		}
		s.hub.mu.Lock()
		items := ws.queue
		ws.queue, ws.queued = nil, 0
		s.hub.mu.Unlock()
		for _, it := range coalesce(items) {
			if err := s.sendWatchResponse(stream, it); err != nil {
				return err
			}
		}
	}
}

// progressTick queues a progress response for each synced progress_notify
// watcher that got no events since the last tick. On the loop goroutine.
func (h *hub) progressTick(r *core.Replica, ws *watchStream) {
	h.mu.Lock()
	defer h.mu.Unlock()
	for _, w := range ws.watchers {
		if w.progress && w.synced && !w.sentSince {
			ws.push(watchItem{resp: &pb.WatchResponse{
				Header: &pb.ResponseHeader{Revision: r.Store().Rev()}, WatchId: w.id}})
		}
		w.sentSince = false
	}
}

// coalesce merges consecutive event responses of one watcher.
func coalesce(items []watchItem) []watchItem {
	out := items[:0]
	for _, it := range items {
		if n := len(out); n > 0 && it.events && out[n-1].events &&
			out[n-1].resp.WatchId == it.resp.WatchId &&
			len(out[n-1].resp.Events)+len(it.resp.Events) <= maxCoalescedEvents {
			prev := out[n-1].resp
			// The full slice expression copies: queued slices may share arrays.
			prev.Events = append(prev.Events[:len(prev.Events):len(prev.Events)], it.resp.Events...)
			prev.Header = it.resp.Header
			continue
		}
		out = append(out, it)
	}
	return out
}

func (s *Server) sendWatchResponse(stream grpc.BidiStreamingServer[pb.WatchRequest, pb.WatchResponse], it watchItem) error {
	wr := it.resp
	wr.Header = s.header(wr.Header)
	if !it.fragment || len(wr.Events) < 2 || proto.Size(wr) < s.cfg.MaxRequestBytes {
		return stream.Send(wr)
	}
	// Fragment as etcd does: every part but the last has Fragment set.
	evs := wr.Events
	for len(evs) > 0 {
		part := &pb.WatchResponse{Header: wr.Header, WatchId: wr.WatchId, Fragment: true}
		n := 0
		for n < len(evs) {
			part.Events = evs[:n+1]
			if n > 0 && proto.Size(part) >= s.cfg.MaxRequestBytes {
				break
			}
			n++
		}
		part.Events = evs[:n]
		evs = evs[n:]
		part.Fragment = len(evs) > 0
		if err := stream.Send(part); err != nil {
			return err
		}
	}
	return nil
}
