package mvcc

import pb "go.etcd.io/etcd/api/v3/etcdserverpb"

// IsReadOnlyTxn reports whether t only reads: every op of both branches is
// a Range (etcd's isTxnReadonly; a nested txn counts as a write, as in
// etcd). A read-only txn need not go through raft: ReadTxn serves it.
func IsReadOnlyTxn(t *pb.TxnRequest) bool {
	for _, ops := range [][]*pb.RequestOp{t.GetSuccess(), t.GetFailure()} {
		for _, op := range ops {
			if op.GetRequestRange() == nil {
				return false
			}
		}
	}
	return true
}

// IsSerializableTxn reports whether a read-only t may be served from local
// state: every Range in it asks for a serializable read (etcd's
// isTxnSerializable).
func IsSerializableTxn(t *pb.TxnRequest) bool {
	for _, ops := range [][]*pb.RequestOp{t.GetSuccess(), t.GetFailure()} {
		for _, op := range ops {
			if r := op.GetRequestRange(); r == nil || !r.GetSerializable() {
				return false
			}
		}
	}
	return true
}

// ReadTxn serves a read-only txn (IsReadOnlyTxn) at the current state,
// with applyTxn's semantics and without a write: the compares and every
// Range see one state, the header carries the current revision, and the
// store is left as it was. It validates t as Apply would.
func (s *Store) ReadTxn(t *pb.TxnRequest) (*pb.TxnResponse, error) {
	if !IsReadOnlyTxn(t) {
		panic("mvcc: ReadTxn with a txn that writes")
	}
	if err := validateTxn(t, TxnOpsCeiling); err != nil {
		return nil, err
	}
	var pathBuf [8]bool
	path := s.txnPath(t, pathBuf[:0])
	if _, err := s.checkTxn(t, path); err != nil {
		return nil, err
	}
	// NB: execTxn reads through a write in progress; one that changes
	// nothing leaves the revision and the engine alone.
	w := s.beginWrite()
	resp, _ := s.execTxn(w, t, path)
	resp.Header.Revision = w.begin
	if evs := s.endWrite(); len(evs) > 0 {
		panic("mvcc: read-only txn produced events")
	}
	return resp, nil
}
