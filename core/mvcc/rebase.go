package mvcc

import (
	"fmt"

	pb "go.etcd.io/etcd/api/v3/etcdserverpb"

	"metastore/core/engine"
)

// Rebase makes the store the starting state of a new cluster, as
// `snapshot restore` needs: the member table is replaced by members, the
// alarms (raised by members of the old cluster) are cleared, and index
// becomes the applied index, all in one batch. Keys, values, revisions,
// leases and compaction are kept.
func (s *Store) Rebase(index uint64, members []Member) error {
	var stale [][]byte
	for _, prefix := range [][]byte{prefixMember, prefixAlarm} {
		it := s.eng.NewIter(prefix, prefixEnd(prefix))
		for ok := it.First(); ok; ok = it.Next() {
			stale = append(stale, append([]byte(nil), it.Key()...))
		}
		if err := it.Close(); err != nil {
			return fmt.Errorf("mvcc: rebase: %w", err)
		}
	}
	err := s.writeMeta(index, func(b engine.Batch) {
		for _, k := range stale {
			b.Delete(k)
		}
		for _, m := range members {
			b.Set(idKey(prefixMember, m.ID), memberValue(m))
		}
	})
	if err != nil {
		return err
	}
	return s.load()
}

// BumpRevision raises the current revision by n (> 0) without writing a
// key, as `etcdutl snapshot restore --bump-revision` does: revisions handed
// out after a restore from an older backup stay above every revision a
// client saw before it. The history is then compacted at the new revision,
// so reads and watches from before the restore get ErrCompacted and
// clients that cache by revision (Kubernetes' watch cache) start over.
// index becomes the applied index.
func (s *Store) BumpRevision(index uint64, n int64) error {
	if n <= 0 {
		return fmt.Errorf("mvcc: bump revision by %d: must be positive", n)
	}
	s.rev += n
	if res := s.applyCompaction(&pb.CompactionRequest{Revision: s.rev}); res.Err != nil {
		s.batch.Reset()
		return fmt.Errorf("mvcc: bump revision: %w", res.Err)
	}
	if err := s.writeMeta(index, nil); err != nil {
		return err
	}
	return s.load()
}
