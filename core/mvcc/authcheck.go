package mvcc

import (
	pb "go.etcd.io/etcd/api/v3/etcdserverpb"

	"metastore/core/auth"
)

// Auth is the replicated auth state, for the server's checks of requests
// that do not go through Apply (reads, watches, admin calls).
func (s *Store) Auth() *auth.Store { return s.auth }

// checkAuth is etcd's apply-time permission check of a client's key-value
// request, as the user and auth revision in its header: a denied request
// changes nothing. Requests the replica proposes itself (lease revokes and
// checkpoints) are not key-value requests and are never checked here.
func (s *Store) checkAuth(req *pb.InternalRaftRequest) error {
	a := s.auth
	if !a.Enabled() || s.NoAuthCheck {
		return nil
	}
	user, rev := req.GetHeader().GetUsername(), req.GetHeader().GetAuthRevision()
	switch {
	case req.Range != nil:
		return a.CheckRange(user, rev, req.Range.Key, req.Range.RangeEnd)
	case req.Put != nil:
		return s.authPut(user, rev, req.Put)
	case req.DeleteRange != nil:
		return s.authDelete(user, rev, req.DeleteRange)
	case req.Txn != nil:
		return s.authTxn(user, rev, req.Txn)
	}
	return nil
}

func (s *Store) authPut(user string, rev uint64, p *pb.PutRequest) error {
	if err := s.auth.CheckWrite(user, rev, p.Key, nil); err != nil {
		return err
	}
	if err := s.CheckLeaseKeys(user, rev, p.Lease); err != nil {
		return err
	}
	if p.PrevKv {
		return s.auth.CheckRange(user, rev, p.Key, nil)
	}
	return nil
}

func (s *Store) authDelete(user string, rev uint64, d *pb.DeleteRangeRequest) error {
	if err := s.auth.CheckWrite(user, rev, d.Key, d.RangeEnd); err != nil {
		return err
	}
	if d.PrevKv {
		return s.auth.CheckRange(user, rev, d.Key, d.RangeEnd)
	}
	return nil
}

// authTxn checks every key that any compare or either branch touches,
// whichever branch would run (etcd's rule: the outcome must not depend on
// data the user may not read).
func (s *Store) authTxn(user string, rev uint64, t *pb.TxnRequest) error {
	for _, c := range t.Compare {
		if err := s.auth.CheckRange(user, rev, c.Key, c.RangeEnd); err != nil {
			return err
		}
	}
	for _, ops := range [][]*pb.RequestOp{t.Success, t.Failure} {
		for _, op := range ops {
			var err error
			switch {
			case op.GetRequestRange() != nil:
				r := op.GetRequestRange()
				err = s.auth.CheckRange(user, rev, r.Key, r.RangeEnd)
			case op.GetRequestPut() != nil:
				err = s.authPut(user, rev, op.GetRequestPut())
			case op.GetRequestDeleteRange() != nil:
				err = s.authDelete(user, rev, op.GetRequestDeleteRange())
			case op.GetRequestTxn() != nil:
				err = s.authTxn(user, rev, op.GetRequestTxn())
			}
			if err != nil {
				return err
			}
		}
	}
	return nil
}

// CheckLeaseKeys checks that user may write every key attached to lease id
// (revoking it, or putting to it, deletes or moves them), unless user is an
// admin. An unknown lease passes: its own error comes later.
func (s *Store) CheckLeaseKeys(user string, rev uint64, id int64) error {
	l := s.leases[id]
	if l == nil || !s.auth.Enabled() || s.auth.CheckAdmin(user) == nil {
		return nil
	}
	for k := range l.keys {
		if err := s.auth.CheckWrite(user, rev, []byte(k), nil); err != nil {
			return err
		}
	}
	return nil
}
