package mvcc

import (
	pb "go.etcd.io/etcd/api/v3/etcdserverpb"
	"go.etcd.io/etcd/api/v3/mvccpb"
)

// applyPut runs a top-level Put request.
func (s *Store) applyPut(p *pb.PutRequest) Result {
	if err := validatePut(p); err != nil {
		return Result{Err: err}
	}
	if err := s.checkPut(p, s.rev); err != nil {
		return Result{Err: err}
	}
	w := s.beginWrite()
	resp := s.put(w, p, new(putAlloc))
	return Result{Resp: resp, Events: s.endWrite()}
}

// checkPut reports the state-dependent errors of p at revision atRev: an
// unknown lease, or ignore_value/ignore_lease on a missing key.
func (s *Store) checkPut(p *pb.PutRequest, atRev int64) error {
	if p.Lease != 0 && s.leases[p.Lease] == nil {
		return ErrLeaseNotFound
	}
	if p.IgnoreValue || p.IgnoreLease {
		ki := s.idx.get(p.Key)
		if ki == nil {
			return ErrKeyNotFound
		}
		if _, ok := ki.at(atRev); !ok {
			return ErrKeyNotFound
		}
	}
	return nil
}

// putAlloc holds everything one put allocates, so that it costs one
// allocation; the messages are handed out by pointer, never copied. The
// version a put replaces, which only some puts read, is allocated apart:
// kept out, a put's allocation is 320 bytes instead of 448, and a one-op
// txn's (txnOneOp) comes nearer the 512 bytes above which the allocator
// needs a header.
type putAlloc struct {
	resp pb.PutResponse
	hdr  pb.ResponseHeader
	kv   mvccpb.KeyValue
	ev   mvccpb.Event
	evs  [1]*mvccpb.Event // Result.Events of a lone put
}

// put writes p inside w; checkPut has passed. The version it replaces is
// read only when the request needs it (prev_kv, ignore_value,
// ignore_lease): its create revision and version come from the key index
// and its lease from keyLease, so a plain put reads nothing from the engine.
// Its event carries no PrevKv; EventPrevKV gives it to watchers asking.
// Its messages go in a, fresh and zero, which the caller allocated (alone
// or inside a txn's answer).
func (s *Store) put(w *writeTxn, p *pb.PutRequest, a *putAlloc) *pb.PutResponse {
	ki, created := s.idx.getOrBorrow(p.Key)
	if _, owned := s.batch.(ownedSetter); created && !owned {
		ki.setKey(p.Key) // no record will take the key's place (putKV)
	}
	r, live := ki.at(w.readRev())
	var prev *mvccpb.KeyValue
	if live && (p.PrevKv || p.IgnoreValue || p.IgnoreLease) {
		prev = new(mvccpb.KeyValue)
		s.readKVInto(ki, r, prev)
	}
	kv := &a.kv
	kv.Key, kv.Value, kv.Lease = ki.keyBytes(), p.Value, p.Lease
	kv.CreateRevision, kv.ModRevision, kv.Version = w.rev(), w.rev(), 1
	oldLease := int64(0)
	if live {
		created, version := ki.generation()
		kv.CreateRevision, kv.Version = created, version+1
		oldLease = s.leaseOf(kv.Key)
		if p.IgnoreValue {
			kv.Value = prev.Value
		}
		if p.IgnoreLease {
			kv.Lease = prev.Lease
		}
	} else if p.IgnoreValue {
		// NB: only reachable inside a txn whose earlier from-key delete
		// (which etcd's duplicate check lets through) removed the key;
		// etcd panics there, we write an empty value.
		kv.Value = nil
	}
	resp := &a.resp
	a.hdr.Revision = w.rev()
	resp.Header = &a.hdr
	if p.PrevKv {
		resp.PrevKv = prev
	}
	if w.events == nil {
		w.events = a.evs[:0]
	}
	s.putKV(w, ki, kv, oldLease, &a.ev)
	return resp
}
