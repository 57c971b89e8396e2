package mvcc

import (
	"fmt"

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
