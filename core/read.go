package core

import (
	"encoding/binary"

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
	r.reads.add(r, readOp{rng: req, cb: cb})
}

// ReadTxn answers a read-only txn (mvcc.IsReadOnlyTxn) without raft, as
// etcd does: like a Range, after a ReadIndex round unless every Range in
// it is serializable. Its compares and ranges all see the one state this
// replica has when the read is served; the header carries that revision.
// A txn that writes is refused with ErrNotReadOnly: propose it.
func (r *Replica) ReadTxn(req *pb.TxnRequest, cb Callback) {
	if r.failed != nil {
		cb(Result{Err: ErrStopped})
		return
	}
	if !mvcc.IsReadOnlyTxn(req) {
		cb(Result{Err: ErrNotReadOnly})
		return
	}
	if err := mvcc.ValidateOps(&pb.InternalRaftRequest{Txn: req}, r.cfg.MaxTxnOps); err != nil {
		cb(Result{Err: err})
		return
	}
	if mvcc.IsSerializableTxn(req) || r.cfg.Canary.ReadWithoutReadIndex {
		resp, err := r.store.ReadTxn(req)
		cb(Result{Resp: resp, Err: err})
		return
	}
	r.reads.add(r, readOp{txn: req, cb: cb})
}

// ReadBarrier calls fn once this replica has applied everything committed
// before the call, as a linearizable read would see it (lease keep-alives
// and other leader checks use it).
func (r *Replica) ReadBarrier(fn func(err error)) {
	if r.failed != nil {
		fn(ErrStopped)
		return
	}
	r.reads.add(r, readOp{barrier: fn})
}

// readOp is one waiting linearizable read: a range or a read-only txn
// answered through cb, or a barrier. It holds its request rather than a
// closure, and queues by value: a read costs no allocation of its own.
type readOp struct {
	rng     *pb.RangeRequest
	txn     *pb.TxnRequest
	cb      Callback
	barrier func(err error)
	index   uint64 // the read index once known
}

// serve answers o from the store as it is now.
func (o *readOp) serve(r *Replica) {
	switch {
	case o.barrier != nil:
		o.barrier(nil)
	case o.txn != nil:
		resp, err := r.store.ReadTxn(o.txn)
		o.cb(Result{Resp: resp, Err: err, Index: r.store.AppliedIndex()})
	default:
		resp, err := r.store.Range(o.rng)
		o.cb(Result{Resp: resp, Err: err, Index: r.store.AppliedIndex()})
	}
}

// fail answers o with err instead.
func (o *readOp) fail(err error) {
	if o.barrier != nil {
		o.barrier(err)
		return
	}
	o.cb(Result{Err: err})
}

// readBatch is one ReadIndex round: every read in it was invoked before the
// request went out, so the index the leader confirms serves them all.
type readBatch struct {
	ctx       uint64
	ops       []readOp
	waitTicks int
}

// readQueue takes linearizable reads through ReadIndex with at most one
// round in flight: reads that arrive meanwhile wait for the next round, so
// a burst of reads costs one heartbeat round, not one each.
type readQueue struct {
	waiting  []readOp   // invoked, not yet in a round
	inflight *readBatch // the round awaiting its ReadState
	ready    []readOp   // index known, waiting for apply
	spare    []readOp   // an answered round's array, for the next waiting reads
}

func (q *readQueue) init() {}

func (q *readQueue) len() int {
	n := len(q.waiting) + len(q.ready)
	if q.inflight != nil {
		n += len(q.inflight.ops)
	}
	return n
}

func (q *readQueue) add(r *Replica, op readOp) {
	if q.len() >= r.cfg.MaxPendingReads {
		op.fail(ErrTooManyReads)
		return
	}
	if q.waiting == nil {
		q.waiting, q.spare = q.spare, nil
	}
	q.waiting = append(q.waiting, op)
	if q.inflight == nil {
		q.flush(r)
	}
}

// flush starts a round for the waiting reads. Each round gets a fresh
// random context, so a late answer to an earlier round — even one from
// before this replica restarted — can never be taken for this one.
func (q *readQueue) flush(r *Replica) {
	if len(q.waiting) == 0 {
		return
	}
	ctx := r.cfg.Rand.Uint64()
	q.inflight = &readBatch{ctx: ctx, ops: q.waiting}
	q.waiting = nil
	var b [8]byte
	binary.BigEndian.PutUint64(b[:], ctx)
	r.node().ReadIndex(b[:])
}

func (q *readQueue) onReadStates(r *Replica, states []raft.ReadState) {
	for _, rs := range states {
		if q.inflight == nil || len(rs.RequestCtx) != 8 || binary.BigEndian.Uint64(rs.RequestCtx) != q.inflight.ctx {
			continue
		}
		ops := q.inflight.ops
		for i := range ops {
			ops[i].index = rs.Index
		}
		q.ready = append(q.ready, ops...)
		clear(ops)
		q.spare = ops[:0]
		q.inflight = nil
	}
	if q.inflight == nil {
		q.flush(r)
	}
	q.serve(r)
}

// serve answers the reads whose read index has been applied.
func (q *readQueue) serve(r *Replica) {
	applied := r.store.AppliedIndex()
	kept := q.ready[:0]
	for _, o := range q.ready {
		if o.index <= applied {
			o.serve(r)
		} else {
			kept = append(kept, o)
		}
	}
	clear(q.ready[len(kept):])
	q.ready = kept
}

// tick retries a round that got no answer within an election timeout:
// raft drops ReadIndex requests silently when there is no leader. The
// retry takes the reads that queued behind it along.
func (q *readQueue) tick(r *Replica) {
	if q.inflight == nil {
		return
	}
	q.inflight.waitTicks++
	if q.inflight.waitTicks < r.cfg.ElectionTicks {
		return
	}
	q.waiting = append(q.inflight.ops, q.waiting...)
	q.inflight = nil
	q.flush(r)
}
