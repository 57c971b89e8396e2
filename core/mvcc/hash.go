package mvcc

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"hash"
	"hash/crc32"
)

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// hashPair feeds one engine pair to h, length-prefixed so that pair
// boundaries cannot shift.
func hashPair(h hash.Hash32, k, v []byte) {
	var n [8]byte
	binary.BigEndian.PutUint32(n[:4], uint32(len(k)))
	binary.BigEndian.PutUint32(n[4:], uint32(len(v)))
	h.Write(n[:])
	h.Write(k)
	h.Write(v)
}

// HashKV hashes the key-value history up to rev (0: current), as etcd's
// HashKV does: every stored version and tombstone with revision <= rev,
// which after compaction starts at the compact revision. It returns the
// revision hashed and the compact revision. rev above the current revision
// is ErrFutureRev; below the compact revision, ErrCompacted.
func (s *Store) HashKV(rev int64) (hash uint32, hashRev int64, compactRev int64, err error) {
	if rev <= 0 {
		rev = s.rev
	}
	if rev > s.rev {
		return 0, 0, s.compact, ErrFutureRev
	}
	if rev < s.compact {
		return 0, 0, s.compact, ErrCompacted
	}
	h := crc32.New(castagnoli)
	upper := appendRevKey(nil, revision{main: rev + 1})
	it := s.eng.NewIter(prefixRev, upper)
	defer it.Close()
	for ok := it.First(); ok; ok = it.Next() {
		hashPair(h, it.Key(), it.Value())
	}
	if err := it.Error(); err != nil {
		return 0, 0, s.compact, fmt.Errorf("mvcc: hash: %w", err)
	}
	return h.Sum32(), rev, s.compact, nil
}

// Hash hashes the whole replicated state (data, leases, members, dedup
// records, applied index excluded) for cross-replica comparison: two stores
// that applied the same entries hash equal, whatever their applied index
// and whether they got there through Restore.
func (s *Store) Hash() uint32 {
	h := crc32.New(castagnoli)
	it := s.eng.NewIter(nil, nil)
	defer it.Close()
	for ok := it.First(); ok; ok = it.Next() {
		if bytes.Equal(it.Key(), keyApplied) {
			continue
		}
		hashPair(h, it.Key(), it.Value())
	}
	if err := it.Error(); err != nil {
		// Hash has no error path: it compares replicas, and a replica that
		// cannot read its own engine must stop rather than report a hash.
		panic(fmt.Sprintf("mvcc: hash: %v", err))
	}
	return h.Sum32()
}
