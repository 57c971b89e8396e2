package core

import (
	"bytes"

	pb "go.etcd.io/etcd/api/v3/etcdserverpb"
	"go.etcd.io/raft/v3"
	"go.etcd.io/raft/v3/raftpb"
	"google.golang.org/protobuf/encoding/protowire"
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
	data, err := MarshalRequest(req)
	if err != nil {
		cb(Result{Err: err})
		return
	}
	id := req.Header.ID
	if !own {
		r.pending[id] = pendingCall{cb: cb, req: req, data: data}
	}
	if r.proposals == nil {
		// Room for a burst like the last, so a batch grows its array
		// once, not at each doubling.
		r.proposals = make([]*raftpb.Entry, 0, max(8, r.lastBatch))
	}
	r.proposals = append(r.proposals, &raftpb.Entry{Data: data})
	r.proposalIDs = append(r.proposalIDs, id)
}

// node is raft, for every use but Propose's: proposals wait in
// r.proposals until raft is next used, then go in as one MsgProp. Raft
// sees the same calls in the same order as if each had been stepped at
// once, but a burst of proposals costs one message, one append and one
// self-acknowledgement instead of one of each per proposal.
func (r *Replica) node() *raft.RawNode {
	if len(r.proposals) > 0 {
		r.flushProposals()
	}
	return r.rn
}

// flushProposals steps the waiting proposals into raft. Raft drops them
// all or none (no leader, a leadership transfer, the uncommitted limit);
// each dropped one is answered with ErrDropped.
func (r *Replica) flushProposals() {
	ents, ids := r.proposals, r.proposalIDs
	// NB: a fresh array for the next batch: a follower forwards the
	// message as is. The IDs' array is reused once read, but not before:
	// a dropped proposal's callback may propose again.
	r.proposals, r.proposalIDs = nil, nil
	r.lastBatch = len(ents)
	if r.failed != nil {
		return // lost with the replica, as a crash loses them
	}
	err := r.rn.Step(&raftpb.Message{Type: raftpb.MsgProp.Enum(), From: proto.Uint64(r.cfg.ID), Entries: ents})
	if err != nil {
		for _, id := range ids {
			if cb, ok := r.takePending(id); ok {
				cb(Result{Err: proposeError(err)})
			}
		}
	}
	if r.proposalIDs == nil {
		r.proposalIDs = ids[:0]
	}
}

// pendingCall is a callback waiting for its request's apply. A proposal
// keeps its request and the bytes proposed for it: apply uses the request
// instead of decoding an entry that holds exactly those bytes (raft copies
// what it appends, so only the content can tell). A configuration change
// keeps neither.
type pendingCall struct {
	cb   Callback
	req  *pb.InternalRaftRequest
	data []byte
}

// takePending removes and returns the callback waiting for requestID.
func (r *Replica) takePending(requestID uint64) (Callback, bool) {
	p, ok := r.pending[requestID]
	if !ok {
		return nil, false
	}
	delete(r.pending, requestID)
	return p.cb, true
}

// requestOf is the request an entry's data encodes: the one proposed here
// when the bytes are those it was proposed with, else decoded from them.
// A decoded plain put is r.decodedPut, reused by the next entry: the
// request must not be kept past its entry's apply (the store keeps none of
// it: see Store.putKV), and a follower then allocates nothing for a put's
// ~480 bytes of messages.
func (r *Replica) requestOf(data []byte) (*pb.InternalRaftRequest, error) {
	if p, ok := r.pending[requestID(data)]; ok && p.req != nil && bytes.Equal(p.data, data) {
		return p.req, nil
	}
	return unmarshalRequest(data, &r.decodedPut)
}

// requestID reads the header's ID from an encoded InternalRaftRequest
// without decoding the rest; 0 when there is none (or the bytes are not a
// request: the full decode reports that).
func requestID(data []byte) uint64 {
	const headerField, idField = 100, 1
	hdr := fieldBytes(data, headerField)
	for len(hdr) > 0 {
		num, typ, n := protowire.ConsumeTag(hdr)
		if n < 0 {
			return 0
		}
		hdr = hdr[n:]
		if num == idField && typ == protowire.VarintType {
			id, n := protowire.ConsumeVarint(hdr)
			if n < 0 {
				return 0
			}
			return id
		}
		if n = protowire.ConsumeFieldValue(num, typ, hdr); n < 0 {
			return 0
		}
		hdr = hdr[n:]
	}
	return 0
}

// fieldBytes returns the first length-delimited field numbered num in an
// encoded message, or nil.
func fieldBytes(msg []byte, num protowire.Number) []byte {
	for len(msg) > 0 {
		n2, typ, n := protowire.ConsumeTag(msg)
		if n < 0 {
			return nil
		}
		msg = msg[n:]
		if n2 == num && typ == protowire.BytesType {
			v, n := protowire.ConsumeBytes(msg)
			if n < 0 {
				return nil
			}
			return v
		}
		if n = protowire.ConsumeFieldValue(n2, typ, msg); n < 0 {
			return nil
		}
		msg = msg[n:]
	}
	return nil
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
	if err := r.node().ProposeConfChange(cc); err != nil {
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

// newID hands out a request ID. IDs only need to be unique across the
// cluster's requests within the dedup window: each replica counts up from
// a random 64-bit start drawn at Open, so two replicas' runs of IDs (or one
// replica's before and after a restart) overlap only if their starts fall
// within a few billion of each other. Counting rather than drawing each ID
// keeps the dedup records (keyed by ID) in ascending order, which a
// log-structured engine such as RocksDB inserts and prunes at one end of
// its memtable instead of at random places.
func (r *Replica) newID() uint64 {
	for {
		id := r.nextID
		r.nextID++
		if id != 0 {
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
