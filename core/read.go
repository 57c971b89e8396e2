package core

import (
	"cmp"
	"encoding/binary"
	"slices"

	pb "go.etcd.io/etcd/api/v3/etcdserverpb"
	"go.etcd.io/raft/v3"

	"metastore/core/mvcc"
)

// Read answers a range request. Serializable reads are served at once from
// local state. Linearizable reads go through raft's ReadIndex: the leader
// confirms with a quorum that it still leads, and the read is served once
// this replica has applied up to the leader's commit index at that moment.
func (r *Replica) Read(req *pb.RangeRequest, cb Callback) {
	if r.failed != nil {
		cb(Result{Err: ErrStopped})
		return
	}
	if err := mvcc.Validate(&pb.InternalRaftRequest{Range: req}); err != nil {
		cb(Result{Err: err})
		return
	}
	if req.GetSerializable() || r.cfg.Canary.ReadWithoutReadIndex {
		resp, err := r.store.Range(req)
		cb(Result{Resp: resp, Err: err})
		return
	}
	r.reads.add(r, readOp{serve: func() {
		resp, err := r.store.Range(req)
		cb(Result{Resp: resp, Err: err, Index: r.store.AppliedIndex()})
	}, fail: cb})
}

// ReadBarrier calls fn once this replica has applied everything committed
// before the call, as a linearizable read would see it (lease keep-alives
// and other leader checks use it).
func (r *Replica) ReadBarrier(fn func(err error)) {
	if r.failed != nil {
		fn(ErrStopped)
		return
	}
	r.reads.add(r, readOp{serve: func() { fn(nil) }, fail: func(res Result) { fn(res.Err) }})
}

// readOp is one waiting linearizable read.
type readOp struct {
	serve func()
	fail  Callback

	ctx       uint64 // the ReadIndex request context, fresh on every retry
	index     uint64 // the read index once known; 0 while waiting
	waitTicks int
}

// readQueue tracks linearizable reads through their ReadIndex round trip.
type readQueue struct {
	byCtx   map[uint64]*readOp
	ready   []*readOp // index known, waiting for apply; in index order
	nextCtx uint64
}

func (q *readQueue) init() { q.byCtx = make(map[uint64]*readOp) }

func (q *readQueue) add(r *Replica, op readOp) {
	if len(q.byCtx)+len(q.ready) >= r.cfg.MaxPendingReads {
		op.fail(Result{Err: ErrTooManyReads})
		return
	}
	o := &op
	q.request(r, o)
}

// request sends (or re-sends) a ReadIndex with a fresh context, so a late
// answer to an older attempt can never be mistaken for this one.
func (q *readQueue) request(r *Replica, o *readOp) {
	q.nextCtx++
	o.ctx = r.cfg.ID<<48 ^ q.nextCtx
	o.waitTicks = 0
	q.byCtx[o.ctx] = o
	var ctx [8]byte
	binary.BigEndian.PutUint64(ctx[:], o.ctx)
	r.rn.ReadIndex(ctx[:])
}

func (q *readQueue) onReadStates(r *Replica, states []raft.ReadState) {
	for _, rs := range states {
		if len(rs.RequestCtx) != 8 {
			continue
		}
		ctx := binary.BigEndian.Uint64(rs.RequestCtx)
		o, ok := q.byCtx[ctx]
		if !ok {
			continue
		}
		delete(q.byCtx, ctx)
		o.index = rs.Index
		q.ready = append(q.ready, o)
	}
	q.serve(r)
}

// serve answers the reads whose read index has been applied.
func (q *readQueue) serve(r *Replica) {
	applied := r.store.AppliedIndex()
	kept := q.ready[:0]
	for _, o := range q.ready {
		if o.index <= applied {
			o.serve()
		} else {
			kept = append(kept, o)
		}
	}
	for i := len(kept); i < len(q.ready); i++ {
		q.ready[i] = nil
	}
	q.ready = kept
}

// tick retries reads whose ReadIndex got no answer within an election
// timeout: raft drops them silently when there is no leader.
func (q *readQueue) tick(r *Replica) {
	if len(q.byCtx) == 0 {
		return
	}
	var retry []*readOp
	for _, o := range q.byCtx {
		o.waitTicks++
		if o.waitTicks >= r.cfg.ElectionTicks {
			retry = append(retry, o)
		}
	}
	// Sorted so the retried contexts do not depend on map order.
	slices.SortFunc(retry, func(a, b *readOp) int { return cmp.Compare(a.ctx, b.ctx) })
	for _, o := range retry {
		delete(q.byCtx, o.ctx)
		q.request(r, o)
	}
}
