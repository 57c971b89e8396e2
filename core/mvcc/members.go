package mvcc

import (
	"cmp"
	"encoding/binary"
	"fmt"
	"slices"

	"metastore/core/engine"
)

// ApplyMember records a configuration change applied at index: m is added
// or replaced, or removed when removed is set. The record and the applied
// index are written in one batch.
func (s *Store) ApplyMember(index uint64, m Member, removed bool) error {
	k := idKey(prefixMember, m.ID)
	var v []byte
	if !removed {
		v = memberValue(m)
	}
	err := s.writeMeta(index, func(b engine.Batch) {
		if removed {
			b.Delete(k)
		} else {
			b.Set(k, v)
		}
	})
	if err != nil {
		return err
	}
	if removed {
		delete(s.members, m.ID)
	} else {
		s.members[m.ID] = Member{ID: m.ID, Context: v[1:], Learner: m.Learner}
	}
	return nil
}

// memberValue is m's engine value: <learner:1><context>.
func memberValue(m Member) []byte {
	v := make([]byte, 1, 1+len(m.Context))
	if m.Learner {
		v[0] = 1
	}
	return append(v, m.Context...)
}

// Members returns the recorded members sorted by ID. The Context slices
// are shared: do not modify them.
func (s *Store) Members() []Member {
	out := make([]Member, 0, len(s.members))
	for _, m := range s.members {
		out = append(out, m)
	}
	slices.SortFunc(out, func(a, b Member) int { return cmp.Compare(a.ID, b.ID) })
	return out
}

func (s *Store) loadMembers() error {
	it := s.eng.NewIter(prefixMember, prefixEnd(prefixMember))
	defer it.Close()
	for ok := it.First(); ok; ok = it.Next() {
		k, v := it.Key(), it.Value()
		if len(k) != len(prefixMember)+8 || len(v) < 1 {
			return fmt.Errorf("mvcc: load: corrupt member record %q", k)
		}
		id := binary.BigEndian.Uint64(k[len(prefixMember):])
		s.members[id] = Member{ID: id, Learner: v[0] == 1, Context: append([]byte(nil), v[1:]...)}
	}
	if err := it.Error(); err != nil {
		return fmt.Errorf("mvcc: load members: %w", err)
	}
	return nil
}
