package mvcc

import (
	"bytes"
	"cmp"
	"slices"

	pb "go.etcd.io/etcd/api/v3/etcdserverpb"
	"go.etcd.io/etcd/api/v3/mvccpb"
)

// Range serves a read at the current state (or at req.Revision), with
// etcd's semantics:
//
//   - Revision 0 (or negative) reads the current revision; above it is
//     ErrFutureRev; below CompactRev is ErrCompacted (CompactRev itself is
//     readable).
//   - RangeEnd: empty for Key alone, "\x00" for every key >= Key, otherwise
//     [Key, RangeEnd); a RangeEnd at or before Key matches nothing (etcd
//     answers such a range with no keys rather than an error).
//   - Count is the number of keys in the range at that revision, before
//     Limit and before the min/max mod/create revision filters, as etcd's.
//   - Sorting: target KEY with order NONE is ascending by key; any other
//     target with NONE sorts ascending. Ties keep ascending key order.
//   - Limit applies after filters and sorting; More reports a cut.
//   - KeysOnly drops values; as etcd 3.7's index-only path does, it also
//     reports Lease 0 unless the sort target is VALUE.
//   - Header.Revision is the store's current revision.
//
// Range does not validate req (see Validate).
func (s *Store) Range(req *pb.RangeRequest) (*pb.RangeResponse, error) {
	return s.rangeAt(req, s.rev)
}

// rangeAt serves req as of a store whose current revision is curRev (inside
// a write, the revision including the write's earlier changes).
func (s *Store) rangeAt(req *pb.RangeRequest, curRev int64) (*pb.RangeResponse, error) {
	rev := req.Revision
	if rev > curRev {
		return nil, ErrFutureRev
	}
	if rev <= 0 {
		rev = curRev
	}
	if rev < s.compact || s.CompactRevUnreadable && rev == s.compact {
		return nil, ErrCompacted
	}
	ra := &rangeAlloc{}
	ra.hdr.Revision = curRev
	resp := &ra.resp
	resp.Header = &ra.hdr

	plain := isDefaultOrder(req) && !hasRevFilters(req)
	fetch := -1 // how many values to read; -1: all
	if req.CountOnly {
		fetch = 0
	} else if plain && req.Limit > 0 {
		fetch = int(req.Limit) + 1
	}
	var revs []revision
	var kis []*keyIndex // parallel to revs
	total := 0
	canaryOld := s.OldReadsSkipTombstones && rev < curRev
	at := (*keyIndex).at
	if canaryOld {
		at = (*keyIndex).putAtOrBelow
	}
	var oneRev [1]revision
	var oneKI [1]*keyIndex
	if len(req.RangeEnd) == 0 {
		// One key, the commonest read: no visitor closure, whose
		// captured results would all move to the heap, and ki.at called
		// directly (inlined) outside the canary.
		if ki := s.idx.get(req.Key); ki != nil {
			r, ok := ki.at(rev)
			if canaryOld {
				r, ok = ki.putAtOrBelow(rev)
			}
			if ok {
				total = 1
				if fetch != 0 {
					oneRev[0], oneKI[0] = r, ki
					revs, kis = oneRev[:], oneKI[:]
				}
			}
		}
	} else {
		revs, kis, total = s.collect(req, rev, fetch, at)
	}
	resp.Count = int64(total)
	if req.CountOnly {
		return resp, nil
	}

	kvs := make([]*mvccpb.KeyValue, 0, len(revs))
	for i, r := range revs {
		kvs = append(kvs, s.readKV(kis[i], r))
	}
	kvs = filterKVs(kvs, req)
	sortKVs(kvs, req)
	if req.Limit > 0 && len(kvs) > int(req.Limit) {
		kvs = kvs[:req.Limit]
		resp.More = true
	}
	if req.KeysOnly {
		for _, kv := range kvs {
			kv.Value = nil
			if req.SortTarget != pb.RangeRequest_VALUE {
				kv.Lease = 0
			}
		}
	}
	resp.Kvs = kvs
	return resp, nil
}

// rangeAlloc is a range response with its header: one allocation, not two.
type rangeAlloc struct {
	resp pb.RangeResponse
	hdr  pb.ResponseHeader
}

// collect lists the key indexes in req's span that have a version at rev
// (as at finds it), with that version, up to fetch of them (-1: all), and
// counts them all.
func (s *Store) collect(req *pb.RangeRequest, rev int64, fetch int, at func(*keyIndex, int64) (revision, bool)) (revs []revision, kis []*keyIndex, total int) {
	s.idx.visit(req.Key, req.RangeEnd, func(ki *keyIndex) bool {
		r, ok := at(ki, rev)
		if !ok {
			return true
		}
		total++
		if fetch < 0 || len(revs) < fetch {
			revs = append(revs, r)
			kis = append(kis, ki)
		}
		return true
	})
	return revs, kis, total
}

// putAtOrBelow is canary C10's lookup: the newest put at or below atRev,
// through any tombstone after it.
func (ki *keyIndex) putAtOrBelow(atRev int64) (revision, bool) {
	revs := ki.revs()
	for i := len(revs) - 1; i >= 0; i-- {
		if r := revs[i]; r.main <= atRev && !r.tomb() && !r.ghost() {
			return r, true
		}
	}
	return revision{}, false
}

// isDefaultOrder reports whether req wants the index's natural key order.
func isDefaultOrder(req *pb.RangeRequest) bool {
	return req.SortOrder == pb.RangeRequest_NONE ||
		(req.SortTarget == pb.RangeRequest_KEY && req.SortOrder == pb.RangeRequest_ASCEND)
}

func hasRevFilters(req *pb.RangeRequest) bool {
	return req.MinModRevision != 0 || req.MaxModRevision != 0 ||
		req.MinCreateRevision != 0 || req.MaxCreateRevision != 0
}

// filterKVs drops the versions outside req's min/max revision filters (0:
// no bound), in place.
func filterKVs(kvs []*mvccpb.KeyValue, req *pb.RangeRequest) []*mvccpb.KeyValue {
	if !hasRevFilters(req) {
		return kvs
	}
	return slices.DeleteFunc(kvs, func(kv *mvccpb.KeyValue) bool {
		return (req.MaxModRevision != 0 && kv.ModRevision > req.MaxModRevision) ||
			(req.MinModRevision != 0 && kv.ModRevision < req.MinModRevision) ||
			(req.MaxCreateRevision != 0 && kv.CreateRevision > req.MaxCreateRevision) ||
			(req.MinCreateRevision != 0 && kv.CreateRevision < req.MinCreateRevision)
	})
}

// sortKVs orders kvs (given in ascending key order) as req asks. The sort
// is stable, so ties stay in ascending key order in both directions.
func sortKVs(kvs []*mvccpb.KeyValue, req *pb.RangeRequest) {
	order := req.SortOrder
	if req.SortTarget != pb.RangeRequest_KEY && order == pb.RangeRequest_NONE {
		order = pb.RangeRequest_ASCEND
	}
	if order == pb.RangeRequest_NONE ||
		(req.SortTarget == pb.RangeRequest_KEY && order == pb.RangeRequest_ASCEND) {
		return
	}
	var c func(a, b *mvccpb.KeyValue) int
	switch req.SortTarget {
	case pb.RangeRequest_KEY:
		c = func(a, b *mvccpb.KeyValue) int { return bytes.Compare(a.Key, b.Key) }
	case pb.RangeRequest_VERSION:
		c = func(a, b *mvccpb.KeyValue) int { return cmp.Compare(a.Version, b.Version) }
	case pb.RangeRequest_CREATE:
		c = func(a, b *mvccpb.KeyValue) int { return cmp.Compare(a.CreateRevision, b.CreateRevision) }
	case pb.RangeRequest_MOD:
		c = func(a, b *mvccpb.KeyValue) int { return cmp.Compare(a.ModRevision, b.ModRevision) }
	case pb.RangeRequest_VALUE:
		c = func(a, b *mvccpb.KeyValue) int { return bytes.Compare(a.Value, b.Value) }
	default:
		return
	}
	if order == pb.RangeRequest_DESCEND {
		asc := c
		c = func(a, b *mvccpb.KeyValue) int { return asc(b, a) }
	}
	slices.SortStableFunc(kvs, c)
}
