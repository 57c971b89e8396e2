package mvcc

import (
	"bytes"
	"cmp"

	pb "go.etcd.io/etcd/api/v3/etcdserverpb"
	"go.etcd.io/etcd/api/v3/mvccpb"
)

// applyTxn runs a Txn request as etcd does: every compare of the top-level
// txn and of the nested txns on the taken path is evaluated first against
// the state before the txn; the state-dependent checks of the path's ops
// (range revisions, put leases and ignore_* keys) then run against that
// same state; finally the ops execute in order, each seeing the earlier
// ones' writes, all at one revision.
func (s *Store) applyTxn(t *pb.TxnRequest) Result {
	if err := validateTxn(t, TxnOpsCeiling); err != nil {
		return Result{Err: err}
	}
	var pathBuf [8]bool
	path := s.txnPath(t, pathBuf[:0])
	if _, err := s.checkTxn(t, path); err != nil {
		return Result{Err: err}
	}
	w := s.beginWrite()
	resp, _ := s.execTxn(w, t, path)
	resp.Header.Revision = w.begin
	if w.changed() {
		resp.Header.Revision = w.rev()
	}
	return Result{Resp: resp, Events: s.endWrite()}
}

// txnAlloc holds a txn's response and its header, allocated together; the
// messages are handed out by pointer, never copied.
type txnAlloc struct {
	resp pb.TxnResponse
	hdr  pb.ResponseHeader
}

// newTxnResponse returns an empty txn response whose header (revision 0)
// came in the same allocation.
func newTxnResponse() *pb.TxnResponse {
	a := new(txnAlloc)
	a.resp.Header = &a.hdr
	return &a.resp
}

// responseOp is one op's answer with every oneof wrapper it may use, so
// that execTxn allocates a branch's answers in one array.
type responseOp struct {
	op     pb.ResponseOp
	rng    pb.ResponseOp_ResponseRange
	put    pb.ResponseOp_ResponsePut
	del    pb.ResponseOp_ResponseDeleteRange
	nested pb.ResponseOp_ResponseTxn
}

// txnPath appends to path the outcome of t's compares followed, depth first,
// by the paths of the nested txns in the taken branch.
func (s *Store) txnPath(t *pb.TxnRequest, path []bool) []bool {
	ok := s.compares(t.Compare)
	path = append(path, ok)
	for _, op := range branch(t, ok) {
		if nt := op.GetRequestTxn(); nt != nil {
			path = s.txnPath(nt, path)
		}
	}
	return path
}

func branch(t *pb.TxnRequest, ok bool) []*pb.RequestOp {
	if ok {
		return t.Success
	}
	return t.Failure
}

// checkTxn checks the ops on path against the current state; it returns how
// many path entries t's nested txns used.
func (s *Store) checkTxn(t *pb.TxnRequest, path []bool) (int, error) {
	used := 0
	for _, op := range branch(t, path[0]) {
		var err error
		switch r := op.Request.(type) {
		case *pb.RequestOp_RequestRange:
			err = s.checkRangeRev(r.RequestRange.Revision)
		case *pb.RequestOp_RequestPut:
			err = s.checkPut(r.RequestPut, s.rev)
		case *pb.RequestOp_RequestTxn:
			var n int
			n, err = s.checkTxn(r.RequestTxn, path[1+used:])
			used += n + 1
		}
		if err != nil {
			return 0, err
		}
	}
	return used, nil
}

// checkRangeRev is Range's revision check against the current state.
func (s *Store) checkRangeRev(rev int64) error {
	switch {
	case rev == 0:
		return nil
	case rev > s.rev:
		return ErrFutureRev
	case rev < s.compact || s.CompactRevUnreadable && rev == s.compact:
		return ErrCompacted
	}
	return nil
}

// txnOneOp is everything a txn whose taken branch holds one op allocates
// for its answer (nearly every txn: a put, or a compare-and-put), so that
// it costs one allocation as a lone put does; put is used when the op is
// a put.
type txnOneOp struct {
	txnAlloc
	responses [1]*pb.ResponseOp
	outs      [1]responseOp
	put       putAlloc
}

// execTxn executes the branch path[0] selects, returning its response
// (header at revision 0) and how many path entries the nested txns used.
// Errors cannot happen here: checkTxn ran on the same state.
func (s *Store) execTxn(w *writeTxn, t *pb.TxnRequest, path []bool) (*pb.TxnResponse, int) {
	ops := branch(t, path[0])
	var resp *pb.TxnResponse
	var outs []responseOp
	var onePut *putAlloc
	if len(ops) == 1 {
		a := new(txnOneOp)
		a.resp.Header = &a.hdr
		resp, outs, onePut = &a.resp, a.outs[:], &a.put
		resp.Responses = a.responses[:]
	} else {
		resp = newTxnResponse()
		resp.Responses = make([]*pb.ResponseOp, len(ops))
		outs = make([]responseOp, len(ops))
	}
	resp.Succeeded = path[0]
	used := 0
	for i, op := range ops {
		o := &outs[i]
		switch r := op.Request.(type) {
		case *pb.RequestOp_RequestRange:
			rr, err := s.rangeAt(r.RequestRange, w.readRev())
			if err != nil {
				panic("mvcc: txn range failed after its check: " + err.Error())
			}
			o.rng.ResponseRange = rr
			o.op.Response = &o.rng
		case *pb.RequestOp_RequestPut:
			pa := onePut
			if pa == nil {
				pa = new(putAlloc)
			}
			o.put.ResponsePut = s.put(w, r.RequestPut, pa)
			o.op.Response = &o.put
		case *pb.RequestOp_RequestDeleteRange:
			o.del.ResponseDeleteRange = s.deleteRange(w, r.RequestDeleteRange)
			o.op.Response = &o.del
		case *pb.RequestOp_RequestTxn:
			// NB: etcd leaves a nested txn's header at revision 0.
			nr, n := s.execTxn(w, r.RequestTxn, path[1+used:])
			used += n + 1
			o.nested.ResponseTxn = nr
			o.op.Response = &o.nested
		}
		resp.Responses[i] = &o.op
	}
	return resp, used
}

// compares reports whether every compare holds at the current revision.
func (s *Store) compares(cs []*pb.Compare) bool {
	for _, c := range cs {
		if !s.compare(c) {
			return false
		}
	}
	return true
}

// compare evaluates c as etcd does: over a range every live key must
// satisfy it; with no live key, a VALUE compare fails and other targets
// compare against zero (version, revisions and lease 0).
func (s *Store) compare(c *pb.Compare) bool {
	found := false
	ok := true
	s.idx.visit(c.Key, c.RangeEnd, func(ki *keyIndex) bool {
		r, live := ki.at(s.rev)
		if !live {
			return true
		}
		found = true
		ok = compareKV(c, s.readKV(ki, r))
		return ok
	})
	if !found {
		if c.Target == pb.Compare_VALUE {
			return false
		}
		return compareKV(c, &mvccpb.KeyValue{})
	}
	return ok
}

func compareKV(c *pb.Compare, kv *mvccpb.KeyValue) bool {
	var r int
	switch c.Target {
	case pb.Compare_VALUE:
		r = bytes.Compare(kv.Value, c.GetValue())
	case pb.Compare_CREATE:
		r = cmp.Compare(kv.CreateRevision, c.GetCreateRevision())
	case pb.Compare_MOD:
		r = cmp.Compare(kv.ModRevision, c.GetModRevision())
	case pb.Compare_VERSION:
		r = cmp.Compare(kv.Version, c.GetVersion())
	case pb.Compare_LEASE:
		r = cmp.Compare(kv.Lease, c.GetLease())
	}
	switch c.Result {
	case pb.Compare_EQUAL:
		return r == 0
	case pb.Compare_NOT_EQUAL:
		return r != 0
	case pb.Compare_GREATER:
		return r > 0
	case pb.Compare_LESS:
		return r < 0
	}
	return true
}
