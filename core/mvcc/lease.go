package mvcc

import (
	"cmp"
	"encoding/binary"
	"fmt"
	"slices"
	"sort"

	pb "go.etcd.io/etcd/api/v3/etcdserverpb"
)

// lease is a granted lease. Its attached keys are not stored: they are the
// live keys whose current version names the lease, rebuilt at load.
type lease struct {
	id, ttl, remaining int64
	keys               map[string]struct{}
}

// attach and detach keep, beside each lease's keys, Store.keyLease: the
// lease of every key attached to one, which a put needs for the version it
// replaces without reading it. Keys without a lease cost nothing there.
func (s *Store) attach(id int64, key []byte) {
	if l := s.leases[id]; l != nil {
		k := string(key)
		l.keys[k] = struct{}{}
		s.keyLease[k] = id
	}
}

func (s *Store) detach(id int64, key []byte) {
	if l := s.leases[id]; l != nil {
		delete(l.keys, string(key))
		delete(s.keyLease, string(key))
	}
}

// leaseOf returns the granted lease key is attached to, or 0.
func (s *Store) leaseOf(key []byte) int64 {
	if len(s.keyLease) == 0 {
		return 0
	}
	return s.keyLease[string(key)]
}

func (s *Store) saveLease(l *lease) {
	v := binary.BigEndian.AppendUint64(nil, uint64(l.ttl))
	v = binary.BigEndian.AppendUint64(v, uint64(l.remaining))
	s.batch.Set(idKey(prefixLease, uint64(l.id)), v)
}

func (s *Store) loadLeases() error {
	it := s.eng.NewIter(prefixLease, prefixEnd(prefixLease))
	defer it.Close()
	for ok := it.First(); ok; ok = it.Next() {
		k, v := it.Key(), it.Value()
		if len(k) != len(prefixLease)+8 || len(v) != 16 {
			return fmt.Errorf("mvcc: load: corrupt lease record %q", k)
		}
		l := &lease{
			id:        int64(binary.BigEndian.Uint64(k[len(prefixLease):])),
			ttl:       int64(binary.BigEndian.Uint64(v)),
			remaining: int64(binary.BigEndian.Uint64(v[8:])),
			keys:      make(map[string]struct{}),
		}
		s.leases[l.id] = l
	}
	if err := it.Error(); err != nil {
		return fmt.Errorf("mvcc: load leases: %w", err)
	}
	return nil
}

// applyLeaseGrant grants a lease. ID 0 asks for one derived from the raft
// index: deterministic on every replica, positive, and never an existing
// lease's ID. The TTL is recorded as given.
func (s *Store) applyLeaseGrant(index uint64, g *pb.LeaseGrantRequest) Result {
	if err := validateLeaseGrant(g); err != nil {
		return Result{Err: err}
	}
	id := g.ID
	if id == 0 {
		id = s.newLeaseID(index)
	} else if s.leases[id] != nil {
		return Result{Err: ErrLeaseExists}
	}
	l := &lease{id: id, ttl: g.TTL, keys: make(map[string]struct{})}
	s.leases[id] = l
	s.saveLease(l)
	return Result{Resp: &pb.LeaseGrantResponse{Header: header(s.rev), ID: id, TTL: g.TTL}}
}

// newLeaseID mixes the raft index (splitmix64) into a positive ID, stepping
// on while the candidate is taken.
func (s *Store) newLeaseID(index uint64) int64 {
	x := index
	for {
		x += 0x9e3779b97f4a7c15
		z := x
		z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9
		z = (z ^ (z >> 27)) * 0x94d049bb133111eb
		z ^= z >> 31
		id := int64(z & (1<<63 - 1))
		if id != 0 && s.leases[id] == nil {
			return id
		}
	}
}

// applyLeaseRevoke deletes the lease's keys in key order at one revision
// (none when it has no keys) and forgets the lease.
func (s *Store) applyLeaseRevoke(r *pb.LeaseRevokeRequest) Result {
	l := s.leases[r.ID]
	if l == nil {
		return Result{Err: ErrLeaseNotFound}
	}
	keys := sortedKeys(l.keys)
	w := s.beginWrite()
	for _, k := range keys {
		ki := s.idx.get([]byte(k))
		if ki == nil || !ki.live() {
			panic(fmt.Sprintf("mvcc: lease %d holds dead key %q", l.id, k))
		}
		s.deleteKey(w, ki)
	}
	events := s.endWrite()
	delete(s.leases, l.id)
	s.batch.Delete(idKey(prefixLease, uint64(l.id)))
	return Result{Resp: &pb.LeaseRevokeResponse{Header: header(s.rev)}, Events: events}
}

// applyLeaseCheckpoint records each known lease's remaining TTL; unknown
// IDs are ignored.
func (s *Store) applyLeaseCheckpoint(c *pb.LeaseCheckpointRequest) Result {
	for _, cp := range c.Checkpoints {
		if l := s.leases[cp.ID]; l != nil {
			l.remaining = cp.Remaining_TTL
			s.saveLease(l)
		}
	}
	return Result{Resp: &pb.LeaseCheckpointResponse{Header: header(s.rev)}}
}

func sortedKeys(m map[string]struct{}) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

func (l *lease) info() LeaseInfo {
	keys := sortedKeys(l.keys)
	bs := make([][]byte, len(keys))
	for i, k := range keys {
		bs[i] = []byte(k)
	}
	return LeaseInfo{ID: l.id, TTL: l.ttl, RemainingTTL: l.remaining, Keys: bs}
}

// Lease returns one lease.
func (s *Store) Lease(id int64) (LeaseInfo, bool) {
	l := s.leases[id]
	if l == nil {
		return LeaseInfo{}, false
	}
	return l.info(), true
}

// Leases returns all leases sorted by ID.
func (s *Store) Leases() []LeaseInfo {
	out := make([]LeaseInfo, 0, len(s.leases))
	for _, l := range s.leases {
		out = append(out, l.info())
	}
	slices.SortFunc(out, func(a, b LeaseInfo) int {
		return cmp.Compare(a.ID, b.ID)
	})
	return out
}
