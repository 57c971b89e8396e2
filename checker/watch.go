package checker

import (
	"fmt"
)

// WatchEvent is one event a watcher received.
type WatchEvent struct {
	Revision int64 // the event's kv.ModRevision
	Key      string
	Value    string // "" for deletes
	Delete   bool
}

func (e WatchEvent) String() string {
	if e.Delete {
		return fmt.Sprintf("delete(%q)@%d", e.Key, e.Revision)
	}
	return fmt.Sprintf("put(%q, %q)@%d", e.Key, e.Value, e.Revision)
}

// Delivery is one WatchResponse's events, in the order received.
type Delivery struct {
	Events []WatchEvent
}

// WatchSpec describes one watch stream.
type WatchSpec struct {
	// Key and End are the watched range, with etcd's conventions: End ""
	// watches Key alone, End "\x00" every key >= Key, otherwise [Key, End).
	// Use PrefixEnd for a prefix watch.
	Key, End string
	// FromRev is the watch's start revision (the create request's
	// StartRevision; for a resumed watch, the last seen revision + 1).
	FromRev int64
	// Through, if set, is a revision the watcher is known to have caught
	// up to (a progress notification, or the cluster's revision after the
	// stream drained). Completeness is checked up to the larger of Through
	// and the last event's revision.
	Through int64
}

// PrefixEnd returns the range end that makes [prefix, end) a prefix range,
// as clientv3.GetPrefixRangeEnd does.
func PrefixEnd(prefix string) string {
	b := []byte(prefix)
	for i := len(b) - 1; i >= 0; i-- {
		if b[i] < 0xff {
			b[i]++
			return string(b[:i+1])
		}
	}
	return "\x00"
}

func (s WatchSpec) contains(key string) bool {
	switch s.End {
	case "":
		return key == s.Key
	case "\x00":
		return key >= s.Key
	}
	return key >= s.Key && key < s.End
}

// NextRev is the revision from which a watch that received deliveries
// resumes without gap or repeat: the last event's revision + 1, or fromRev
// if nothing arrived.
func NextRev(deliveries []Delivery, fromRev int64) int64 {
	next := fromRev
	for _, d := range deliveries {
		for _, e := range d.Events {
			if e.Revision >= next {
				next = e.Revision + 1
			}
		}
	}
	return next
}

// CheckWatch checks one watch stream against the applied write log (all
// keys or at least the watched range, in apply order):
//   - ordered: event revisions never decrease;
//   - unique: no (revision, key) is delivered twice;
//   - atomic: all events of one revision arrive in one delivery;
//   - exact: every event is in the watched range, at or after FromRev, and
//     matches the applied change of its key at its revision;
//   - complete: every applied change of the range with revision in
//     [FromRev, max(Through, last event's revision)] was delivered.
//
// A resumed watch (FromRev = NextRev of the earlier stream) passing this
// check received exactly the suffix of the changes: nothing lost, nothing
// repeated.
func CheckWatch(spec WatchSpec, deliveries []Delivery, applied []AppliedWrite) error {
	if err := checkAppliedLog(applied); err != nil {
		return err
	}
	type rk struct {
		rev int64
		key string
	}
	want := map[rk]AppliedWrite{}
	for _, w := range applied {
		if spec.contains(w.Key) && w.Revision >= spec.FromRev {
			want[rk{w.Revision, w.Key}] = w
		}
	}
	got := map[rk]bool{}
	last := spec.FromRev - 1
	lastDelivery := -1
	for d, del := range deliveries {
		for _, e := range del.Events {
			switch {
			case !spec.contains(e.Key):
				return fmt.Errorf("checker: watch delivery %d: %v is outside the watched range", d, e)
			case e.Revision < spec.FromRev:
				return fmt.Errorf("checker: watch delivery %d: %v precedes start revision %d", d, e, spec.FromRev)
			case e.Revision < last:
				return fmt.Errorf("checker: watch delivery %d: %v after an event at revision %d", d, e, last)
			case e.Revision == last && lastDelivery != d:
				return fmt.Errorf("checker: watch delivery %d: revision %d split across deliveries %d and %d", d, e.Revision, lastDelivery, d)
			case got[rk{e.Revision, e.Key}]:
				return fmt.Errorf("checker: watch delivery %d: %v delivered twice", d, e)
			}
			w, ok := want[rk{e.Revision, e.Key}]
			if !ok {
				return fmt.Errorf("checker: watch delivery %d: %v was never applied", d, e)
			}
			if w.Delete != e.Delete || w.Value != e.Value {
				return fmt.Errorf("checker: watch delivery %d: %v but the applied change was %v", d, e, w)
			}
			got[rk{e.Revision, e.Key}] = true
			last, lastDelivery = e.Revision, d
		}
	}
	through := max(last, spec.Through)
	for _, w := range applied {
		k := rk{w.Revision, w.Key}
		if _, in := want[k]; in && w.Revision <= through && !got[k] {
			return fmt.Errorf("checker: watch from revision %d through %d missed %v", spec.FromRev, through, w)
		}
	}
	return nil
}
