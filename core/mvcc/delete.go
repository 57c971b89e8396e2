package mvcc

import (
	pb "go.etcd.io/etcd/api/v3/etcdserverpb"
	"go.etcd.io/etcd/api/v3/mvccpb"
)

// applyDeleteRange runs a top-level DeleteRange request.
func (s *Store) applyDeleteRange(d *pb.DeleteRangeRequest) Result {
	if err := validateDelete(d); err != nil {
		return Result{Err: err}
	}
	w := s.beginWrite()
	resp := s.deleteRange(w, d)
	return Result{Resp: resp, Events: s.endWrite()}
}

// deleteRange deletes the live keys of d's span inside w, in key order. Its
// header revision is w's revision when w changed anything, as etcd's is.
func (s *Store) deleteRange(w *writeTxn, d *pb.DeleteRangeRequest) *pb.DeleteRangeResponse {
	atRev := w.readRev()
	var keys []*keyIndex
	s.idx.visit(d.Key, d.RangeEnd, func(ki *keyIndex) bool {
		if _, ok := ki.at(atRev); ok {
			keys = append(keys, ki)
		}
		return true
	})
	resp := &pb.DeleteRangeResponse{Deleted: int64(len(keys))}
	if d.PrevKv {
		resp.PrevKvs = make([]*mvccpb.KeyValue, 0, len(keys))
	}
	for _, ki := range keys {
		if d.PrevKv {
			resp.PrevKvs = append(resp.PrevKvs, s.current(ki, atRev))
		}
		s.deleteKey(w, ki)
	}
	rev := w.begin
	if w.changed() {
		rev = w.rev()
	}
	resp.Header = header(rev)
	return resp
}
