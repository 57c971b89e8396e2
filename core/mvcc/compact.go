package mvcc

import (
	pb "go.etcd.io/etcd/api/v3/etcdserverpb"
)

// applyCompaction compacts the history at c.Revision: later reads and
// events below it get ErrCompacted; every key keeps its newest version at or
// below it (unless that is a deletion). The superseded versions are
// deleted from the engine at once, in the request's batch, so every
// replica's engine holds the same pairs. A revision above the current one
// is ErrFutureRev; at or below the previous compaction, ErrCompacted.
// c.Physical changes nothing: compaction is always complete on return.
func (s *Store) applyCompaction(c *pb.CompactionRequest) Result {
	rev := c.Revision
	if rev > s.rev {
		return Result{Err: ErrFutureRev}
	}
	if rev <= s.compact {
		return Result{Err: ErrCompacted}
	}
	var empty []*keyIndex
	drop := func(r revision) {
		s.buf = appendRevKey(s.buf[:0], r)
		s.batch.Delete(s.buf)
	}
	s.idx.ascend(func(ki *keyIndex) bool {
		if ki.compact(rev, drop) {
			empty = append(empty, ki)
		}
		return true
	})
	for _, ki := range empty {
		s.idx.remove(ki)
	}
	s.compact = rev
	s.batch.Set(keyCompact, i64(rev))
	s.batch.Set(keyRev, i64(s.rev)) // the newest record may be gone
	return Result{Resp: &pb.CompactionResponse{Header: header(s.rev)}}
}
