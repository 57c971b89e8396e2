package mvcc

import (
	"fmt"

	"go.etcd.io/etcd/api/v3/mvccpb"
)

// Events returns the events with revision >= fromRev on keys in [key, end)
// (end nil: key alone; end "\x00": from key on), oldest first, with PrevKv
// filled when prevKV. ErrCompacted when fromRev <= CompactRev; a fromRev
// above the current revision gives no events. A DELETE event's Kv holds
// the key and its ModRevision only.
func (s *Store) Events(fromRev int64, key, end []byte, prevKV bool) ([]*mvccpb.Event, error) {
	if fromRev < s.compact || fromRev == s.compact && !s.HistoryAtCompactRev {
		return nil, ErrCompacted
	}
	return s.events(fromRev, key, end, prevKV)
}

// WatchEvents is Events as etcd's watch serves a start revision: starting
// at the compact revision itself is allowed (ErrCompacted only below it)
// and yields what compaction kept of that revision, its puts; its
// deletions are gone, in etcd too.
func (s *Store) WatchEvents(fromRev int64, key, end []byte, prevKV bool) ([]*mvccpb.Event, error) {
	if fromRev < s.compact {
		return nil, ErrCompacted
	}
	return s.events(fromRev, key, end, prevKV)
}

func (s *Store) events(fromRev int64, key, end []byte, prevKV bool) ([]*mvccpb.Event, error) {
	if fromRev > s.rev {
		return nil, nil
	}
	lower := appendRevKey(nil, revision{main: fromRev})
	it := s.eng.NewIter(lower, prefixEnd(prefixRev))
	defer it.Close()
	var out []*mvccpb.Event
	for ok := it.First(); ok; ok = it.Next() {
		var tmp mvccpb.KeyValue
		tomb := decodeRecord(it.Value(), &tmp)
		if !inSpan(tmp.Key, key, end) {
			continue
		}
		rev := parseRevKey(it.Key())
		kv := &mvccpb.KeyValue{}
		decodeRecord(append([]byte(nil), it.Value()...), kv)
		ev := &mvccpb.Event{Type: mvccpb.PUT, Kv: kv}
		if tomb {
			ev.Type = mvccpb.DELETE
			ev.Kv = &mvccpb.KeyValue{Key: kv.Key, ModRevision: kv.ModRevision}
		}
		if prevKV {
			if ki := s.idx.get(kv.Key); ki != nil {
				if pr, ok := ki.before(rev); ok {
					ev.PrevKv = s.readKV(ki, pr)
				}
			}
		}
		out = append(out, ev)
	}
	if err := it.Error(); err != nil {
		return nil, fmt.Errorf("mvcc: events: %w", err)
	}
	return out, nil
}
