package core

import (
	pb "go.etcd.io/etcd/api/v3/etcdserverpb"
	"go.etcd.io/raft/v3"
	"go.etcd.io/raft/v3/raftpb"
	"google.golang.org/protobuf/proto"

	"metastore/core/mvcc"
)

// Propose replicates a write (put, delete, txn, compaction, lease grant or
// revoke) and calls cb once it is applied on this replica. A follower
// forwards the proposal to the leader through raft.
//
// The request gets a fresh ID in its header unless it has one; apply runs
// an ID at most once, because raft may commit a duplicated MsgProp twice.
// cb is never called when the proposal is lost (a leader change, a crash):
// the caller times out, and the outcome is then unknown.
func (r *Replica) Propose(req *pb.InternalRaftRequest, cb Callback) {
	own := cb == nil // the replica's own proposals (lease revokes, checkpoints)
	if own {
		cb = func(Result) {}
	}
	if r.failed != nil {
		cb(Result{Err: ErrStopped})
		return
	}
	if err := mvcc.ValidateOps(req, r.cfg.MaxTxnOps); err != nil {
		cb(Result{Err: err})
		return
	}
	if req.Header == nil {
		req.Header = &pb.RequestHeader{}
	}
	if req.Header.ID == 0 {
		req.Header.ID = r.newID()
	}
	data, err := proto.Marshal(req)
	if err != nil {
		cb(Result{Err: err})
		return
	}
	id := req.Header.ID
	if !own {
		r.pending[id] = pendingCall{cb: cb, data: &data[0]} // data holds at least the ID
		r.proposed[&data[0]] = req
	}
	if err := r.rn.Propose(data); err != nil {
		r.takePending(id)
		cb(Result{Err: proposeError(err)})
	}
}

// pendingCall is a callback waiting for its request's apply; data is the
// first byte of a proposal's entry data (its key in Replica.proposed), nil
// for a configuration change.
type pendingCall struct {
	cb   Callback
	data *byte
}

// takePending removes and returns the callback waiting for requestID.
func (r *Replica) takePending(requestID uint64) (Callback, bool) {
	p, ok := r.pending[requestID]
	if !ok {
		return nil, false
	}
	delete(r.pending, requestID)
	if p.data != nil {
		delete(r.proposed, p.data)
	}
	return p.cb, true
}

// Forget drops the callback of a request the caller stopped waiting for
// (it timed out): a proposal lost in a leader change is never answered, and
// its callback must not be kept forever. The request may still be applied.
func (r *Replica) Forget(requestID uint64) { r.takePending(requestID) }

// ProposeConfChange proposes a membership change; cb runs once it is
// applied here (Result carries only the index).
func (r *Replica) ProposeConfChange(cc *raftpb.ConfChange, cb Callback) {
	if r.failed != nil {
		cb(Result{Err: ErrStopped})
		return
	}
	id := r.newID()
	cc.Id = proto.Uint64(id)
	r.pending[id] = pendingCall{cb: cb}
	if err := r.rn.ProposeConfChange(cc); err != nil {
		delete(r.pending, id)
		cb(Result{Err: proposeError(err)})
	}
}

func proposeError(err error) error {
	if err == raft.ErrProposalDropped {
		return ErrDropped
	}
	return err
}

// newID draws a request ID. IDs only need to be unique across the cluster's
// in-flight requests; 64 random bits from the world's source are.
func (r *Replica) newID() uint64 {
	for {
		if id := r.cfg.Rand.Uint64(); id != 0 {
			if _, taken := r.pending[id]; !taken {
				return id
			}
		}
	}
}

// ackOnAppend is canary C2: the leader answers a put as soon as it appends
// the entry, before a quorum has it, guessing the revision it will get.
func (r *Replica) ackOnAppend(ents []*raftpb.Entry) {
	rev := r.store.Rev()
	for _, e := range ents {
		if e.GetType() != raftpb.EntryNormal || len(e.GetData()) == 0 {
			continue
		}
		req := &pb.InternalRaftRequest{}
		if proto.Unmarshal(e.GetData(), req) != nil || req.Put == nil {
			continue
		}
		rev++
		id := req.GetHeader().GetID()
		if cb, ok := r.takePending(id); ok {
			cb(Result{Resp: &pb.PutResponse{Header: &pb.ResponseHeader{Revision: rev}}, Index: e.GetIndex()})
		}
	}
}
