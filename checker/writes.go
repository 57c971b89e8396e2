package checker

import (
	"fmt"
	"slices"
	"sort"
)

// AckedWrite is a write a client saw succeed: a Put, a successful TxnCAS
// (Delete false, Value the written value), or a Delete that deleted the key
// (Delete true, Value ""). Revision is the revision its response carried.
// Writes that changed nothing (deleting a missing key, a failed compare)
// are not acked writes.
type AckedWrite struct {
	Key      string
	Value    string
	Delete   bool
	Revision int64
}

func (w AckedWrite) String() string {
	if w.Delete {
		return fmt.Sprintf("delete(%q) acked at rev %d", w.Key, w.Revision)
	}
	return fmt.Sprintf("put(%q, %q) acked at rev %d", w.Key, w.Value, w.Revision)
}

// AppliedWrite is one key change the state machine applied, in apply
// order: the replicated log's history of writes (for instance every event
// of a replica's Store.Events(1, all keys), or the sim's apply trace).
type AppliedWrite struct {
	Revision int64
	Key      string
	Value    string
	Delete   bool
}

func (w AppliedWrite) String() string {
	if w.Delete {
		return fmt.Sprintf("delete(%q)@%d", w.Key, w.Revision)
	}
	return fmt.Sprintf("put(%q, %q)@%d", w.Key, w.Value, w.Revision)
}

// AckedWritesFromHistory extracts the acknowledged writes of a history.
func AckedWritesFromHistory(ops []Op) []AckedWrite {
	var out []AckedWrite
	for _, op := range ops {
		if !op.writes() {
			continue
		}
		w := AckedWrite{Key: op.Input.Key, Revision: op.Output.Revision}
		if op.Input.Kind == Delete {
			w.Delete = true
		} else {
			w.Value = op.Input.Value
		}
		out = append(out, w)
	}
	return out
}

// checkAppliedLog checks the applied log itself: revisions never decrease
// and no key changes twice in one revision.
func checkAppliedLog(applied []AppliedWrite) error {
	type rk struct {
		rev int64
		key string
	}
	seen := map[rk]bool{}
	for i, w := range applied {
		if i > 0 && w.Revision < applied[i-1].Revision {
			return fmt.Errorf("checker: applied log goes back: %v after %v", w, applied[i-1])
		}
		if seen[rk{w.Revision, w.Key}] {
			return fmt.Errorf("checker: applied log changes key %q twice at revision %d", w.Key, w.Revision)
		}
		seen[rk{w.Revision, w.Key}] = true
	}
	return nil
}

// sortedAcked returns acked ordered by revision then key, so the first
// error reported is deterministic.
func sortedAcked(acked []AckedWrite) []AckedWrite {
	s := slices.Clone(acked)
	sort.SliceStable(s, func(i, j int) bool {
		if s[i].Revision != s[j].Revision {
			return s[i].Revision < s[j].Revision
		}
		return s[i].Key < s[j].Key
	})
	return s
}

// AckedWritesExactlyOnce checks that every acknowledged write was applied
// exactly once, at the revision it returned. A put is identified by its
// (Key, Value), which workloads keep unique, so a put applied twice (a
// retried proposal applied again) or at another revision is caught; a
// delete must appear as a deletion of its key at its revision.
func AckedWritesExactlyOnce(acked []AckedWrite, applied []AppliedWrite) error {
	if err := checkAppliedLog(applied); err != nil {
		return err
	}
	type kv struct{ key, value string }
	type rk struct {
		rev int64
		key string
	}
	puts := map[kv][]int64{}
	deletes := map[rk]bool{}
	for _, w := range applied {
		if w.Delete {
			deletes[rk{w.Revision, w.Key}] = true
		} else {
			puts[kv{w.Key, w.Value}] = append(puts[kv{w.Key, w.Value}], w.Revision)
		}
	}
	for _, a := range sortedAcked(acked) {
		if a.Delete {
			if !deletes[rk{a.Revision, a.Key}] {
				return fmt.Errorf("checker: %v, but no deletion of the key was applied at that revision", a)
			}
			continue
		}
		revs := puts[kv{a.Key, a.Value}]
		switch {
		case len(revs) == 0:
			return fmt.Errorf("checker: %v was never applied", a)
		case len(revs) > 1:
			return fmt.Errorf("checker: %v was applied %d times, at revisions %v", a, len(revs), revs)
		case revs[0] != a.Revision:
			return fmt.Errorf("checker: %v was applied at revision %d", a, revs[0])
		}
	}
	return nil
}

// Durable checks that no acknowledged write was lost: for each acked write
// of a key, the key's final state (final, for instance a full Range read
// after the run, keyed by key) is either that write or was produced by an
// applied write of a later revision. A superseding state must itself be
// backed by the applied log (a put of the final value at the final mod
// revision, or a delete of the key after the acked write), so a replica
// that silently rolled back cannot pass by showing an older value.
func Durable(acked []AckedWrite, applied []AppliedWrite, final map[string]KV) error {
	if err := checkAppliedLog(applied); err != nil {
		return err
	}
	type rk struct {
		rev int64
		key string
	}
	byRevKey := map[rk]AppliedWrite{}
	lastDelete := map[string]int64{}
	for _, w := range applied {
		byRevKey[rk{w.Revision, w.Key}] = w
		if w.Delete {
			lastDelete[w.Key] = w.Revision
		}
	}
	for _, a := range sortedAcked(acked) {
		fin, ok := final[a.Key]
		switch {
		case !ok && a.Delete:
			// Deleted by a, or by a later delete; either way a is reflected.
		case !ok:
			if lastDelete[a.Key] <= a.Revision {
				return fmt.Errorf("checker: %v is lost: the key is absent and no later delete was applied", a)
			}
		case fin.ModRev == a.Revision:
			if a.Delete || fin.Value != a.Value {
				return fmt.Errorf("checker: %v is lost: the key holds %q at that same mod revision", a, fin.Value)
			}
		case fin.ModRev < a.Revision:
			return fmt.Errorf("checker: %v is lost: the key holds %q from older revision %d", a, fin.Value, fin.ModRev)
		default:
			w, found := byRevKey[rk{fin.ModRev, a.Key}]
			if !found || w.Delete || w.Value != fin.Value {
				return fmt.Errorf("checker: %v is superseded by %q at revision %d, which no applied write produced", a, fin.Value, fin.ModRev)
			}
		}
	}
	return nil
}
