package core

import (
	"cmp"
	"slices"
	"time"

	pb "go.etcd.io/etcd/api/v3/etcdserverpb"
	"go.etcd.io/raft/v3"
	"google.golang.org/protobuf/proto"

	"metastore/core/mvcc"
)

// lessor is the leader's side of leases. The lease table itself (TTLs,
// attached keys, checkpointed remaining TTLs) is replicated state in the
// store; expiry deadlines are the current leader's alone, on its Clock, and
// are rebuilt from the checkpointed remaining TTLs when a leader is elected.
// An expired lease is revoked by proposing a LeaseRevoke through raft, so
// every replica deletes its keys at the same revision.
type lessor struct {
	expiry    map[int64]time.Duration // lease ID -> deadline; leader only
	revoking  map[int64]int           // lease ID -> ticks since we proposed its revoke
	sinceCkpt int
}

func (l *lessor) init() {
	l.expiry = make(map[int64]time.Duration)
	l.revoking = make(map[int64]int)
}

const second = time.Second

// promote starts the lease clocks when this replica becomes leader. Like
// etcd, every lease gets at least its remaining (or full) TTL from now.
func (l *lessor) promote(r *Replica) {
	now := r.cfg.Clock.Now()
	clear(l.expiry)
	clear(l.revoking)
	for _, li := range r.store.Leases() {
		ttl := li.TTL
		if li.RemainingTTL > 0 && li.RemainingTTL < ttl {
			ttl = li.RemainingTTL
		}
		l.expiry[li.ID] = now + time.Duration(ttl)*second
	}
	l.sinceCkpt = 0
}

func (l *lessor) demote(*Replica) {
	clear(l.expiry)
	clear(l.revoking)
}

// reset follows a snapshot install: the table may have changed wholesale.
func (l *lessor) reset(r *Replica) {
	if r.role == raft.StateLeader {
		l.promote(r)
	}
}

// onApply keeps the leader's deadlines in step with applied lease changes.
func (l *lessor) onApply(r *Replica, req *pb.InternalRaftRequest, resp proto.Message) {
	switch {
	case req.LeaseGrant != nil:
		if g, ok := resp.(*pb.LeaseGrantResponse); ok && r.role == raft.StateLeader {
			l.expiry[g.ID] = r.cfg.Clock.Now() + time.Duration(g.TTL)*second
		}
	case req.LeaseRevoke != nil:
		delete(l.expiry, req.LeaseRevoke.ID)
		delete(l.revoking, req.LeaseRevoke.ID)
	}
}

// tick revokes expired leases and periodically checkpoints remaining TTLs.
func (l *lessor) tick(r *Replica) {
	if r.role != raft.StateLeader {
		return
	}
	now := r.cfg.Clock.Now()
	var expired []int64
	for id, deadline := range l.expiry {
		if deadline > now {
			continue
		}
		if t, ok := l.revoking[id]; ok && t < 2*r.cfg.ElectionTicks {
			l.revoking[id] = t + 1
			continue
		}
		expired = append(expired, id)
	}
	slices.Sort(expired)
	for _, id := range expired {
		l.revoking[id] = 0
		r.Propose(&pb.InternalRaftRequest{LeaseRevoke: &pb.LeaseRevokeRequest{ID: id}}, nil)
	}
	l.sinceCkpt++
	if l.sinceCkpt >= r.cfg.LeaseCheckpointTicks {
		l.sinceCkpt = 0
		l.checkpoint(r, now)
	}
}

// checkpoint replicates the remaining TTLs, so a new leader does not give
// every lease its full TTL again.
func (l *lessor) checkpoint(r *Replica, now time.Duration) {
	var cps []*pb.LeaseCheckpoint
	for id, deadline := range l.expiry {
		remaining := int64((deadline - now + second - 1) / second)
		if remaining <= 0 {
			continue
		}
		if li, ok := r.store.Lease(id); ok && li.RemainingTTL != remaining {
			cps = append(cps, &pb.LeaseCheckpoint{ID: id, Remaining_TTL: remaining})
		}
	}
	if len(cps) == 0 {
		return
	}
	slices.SortFunc(cps, func(a, b *pb.LeaseCheckpoint) int { return cmp.Compare(a.ID, b.ID) })
	r.Propose(&pb.InternalRaftRequest{LeaseCheckpoint: &pb.LeaseCheckpointRequest{Checkpoints: cps}}, nil)
}

// whileLeading runs fn once a read barrier proves this replica still leads
// (lease deadlines live on the leader's clock alone); otherwise cb gets
// ErrNotLeader or the barrier's error.
func (r *Replica) whileLeading(cb Callback, fn func()) {
	if r.role != raft.StateLeader {
		cb(Result{Err: ErrNotLeader})
		return
	}
	r.ReadBarrier(func(err error) {
		switch {
		case err != nil:
			cb(Result{Err: err})
		case r.role != raft.StateLeader:
			cb(Result{Err: ErrNotLeader})
		default:
			fn()
		}
	})
}

// LeaseKeepAlive renews a lease on the leader: after a read barrier proves
// it still leads, the deadline moves to now+TTL. Followers answer
// ErrNotLeader (the server forwards to the leader).
func (r *Replica) LeaseKeepAlive(id int64, cb Callback) {
	r.whileLeading(cb, func() {
		li, ok := r.store.Lease(id)
		if !ok {
			cb(Result{Err: mvcc.ErrLeaseNotFound})
			return
		}
		deadline, tracked := r.lessor.expiry[id]
		now := r.cfg.Clock.Now()
		if tracked && deadline <= now {
			cb(Result{Err: ErrLeaseExpired})
			return
		}
		r.lessor.expiry[id] = now + time.Duration(li.TTL)*second
		if li.RemainingTTL != 0 && li.RemainingTTL < li.TTL {
			// A stale short checkpoint would make the next leader expire the
			// lease early: reset it to the full TTL.
			r.Propose(&pb.InternalRaftRequest{LeaseCheckpoint: &pb.LeaseCheckpointRequest{
				Checkpoints: []*pb.LeaseCheckpoint{{ID: id, Remaining_TTL: li.TTL}}}}, nil)
		}
		cb(Result{Resp: &pb.LeaseKeepAliveResponse{Header: r.header(), ID: id, TTL: li.TTL}})
	})
}

// LeaseTimeToLive answers from the leader's clock; followers answer
// ErrNotLeader.
func (r *Replica) LeaseTimeToLive(req *pb.LeaseTimeToLiveRequest, cb Callback) {
	r.whileLeading(cb, func() {
		resp := &pb.LeaseTimeToLiveResponse{Header: r.header(), ID: req.ID, TTL: -1}
		li, ok := r.store.Lease(req.ID)
		if !ok {
			cb(Result{Resp: resp})
			return
		}
		resp.GrantedTTL = li.TTL
		if deadline, ok := r.lessor.expiry[req.ID]; ok {
			remaining := int64((deadline - r.cfg.Clock.Now()) / second)
			resp.TTL = max(remaining, 0)
		} else {
			resp.TTL = li.TTL
		}
		if req.Keys {
			resp.Keys = li.Keys
		}
		cb(Result{Resp: resp})
	})
}

func (r *Replica) header() *pb.ResponseHeader {
	return &pb.ResponseHeader{MemberId: r.cfg.ID, Revision: r.store.Rev(), RaftTerm: r.node().BasicStatus().HardState.GetTerm()}
}
