package checker

import (
	"fmt"
	"slices"
	"sort"
	"strings"

	"github.com/anishathalye/porcupine"
)

// state is the sequential specification's state: etcd's current revision,
// every live key, and the history back to the compacted floor. It is
// immutable once built (porcupine keeps old states for backtracking), so a
// write copies the key slice. Keys are sorted, which makes Equal a slice
// comparison and Range a contiguous scan.
//
// hash is the XOR of entryHash over keys, updated incrementally by writes,
// so Hash and the first test of Equal are O(1) even with many keys.
type state struct {
	rev int64
	// compacted is the last compaction's revision (0: none): the floor
	// below which etcd answers reads and watches with ErrCompacted.
	compacted int64
	hash      uint64
	kvs       []KV
	// writable are the keys the limited user may write, sorted; shared
	// between states like kvs, copied on change.
	writable []string
	// undo is the history, newest revision first: what each revision
	// changed, so a read at an old revision starts from kvs and undoes the
	// revisions above it. A write prepends one node and shares the rest, so
	// keeping the history costs one small allocation per write and no copy.
	// Nodes at or below the floor can no longer be read; they stay linked
	// (states share them) but neither Equal nor a read walks that far.
	undo *change
}

// change is one revision as a read at an older revision undoes it: the
// key it wrote and that key's entry before (had false: absent before).
// Every revision the model creates changes exactly one key.
type change struct {
	rev    int64
	key    string
	had    bool
	before KV
	older  *change
}

// sameChanges reports whether two histories of states at the same revision
// agree above floor, the part a read can still reach. Histories that forked
// share their older nodes, so the walk stops at the fork.
func sameChanges(a, b *change, floor int64) bool {
	for ; a != b; a, b = a.older, b.older {
		switch {
		case a == nil || b == nil:
			return false
		case a.rev <= floor && b.rev <= floor:
			return true
		case a.rev != b.rev || a.key != b.key || a.had != b.had || a.before != b.before:
			return false
		}
	}
	return true
}

// entryHash is FNV-1a over the entry's fields, written out by hand because
// it runs on every model step and fmt would dominate the search's cost.
func entryHash(kv KV) uint64 {
	const prime = 1099511628211
	h := uint64(14695981039346656037)
	str := func(s string) {
		for i := 0; i < len(s); i++ {
			h = (h ^ uint64(s[i])) * prime
		}
		h = (h ^ 0xff) * prime // separator: no key/value split collides
	}
	num := func(n int64) {
		for i := 0; i < 8; i++ {
			h = (h ^ uint64(byte(n>>(8*i)))) * prime
		}
	}
	str(kv.Key)
	str(kv.Value)
	num(kv.ModRev)
	num(kv.CreateRev)
	num(kv.Version)
	return h
}

func (s *state) find(key string) (int, bool) {
	return sort.Find(len(s.kvs), func(i int) int { return strings.Compare(key, s.kvs[i].Key) })
}

func (s *state) get(key string) (KV, bool) {
	if i, ok := s.find(key); ok {
		return s.kvs[i], true
	}
	return KV{}, false
}

// put returns the state after writing key=value at revision s.rev+1.
func (s *state) put(key, value string) *state {
	next := &state{rev: s.rev + 1, compacted: s.compacted, hash: s.hash, writable: s.writable}
	i, ok := s.find(key)
	kv := KV{Key: key, Value: value, ModRev: next.rev, CreateRev: next.rev, Version: 1}
	undo := &change{rev: next.rev, key: key, older: s.undo}
	if ok {
		old := s.kvs[i]
		undo.had, undo.before = true, old
		kv.CreateRev, kv.Version = old.CreateRev, old.Version+1
		next.hash ^= entryHash(old)
		next.kvs = slices.Clone(s.kvs)
		next.kvs[i] = kv
	} else {
		next.kvs = slices.Insert(slices.Clone(s.kvs), i, kv)
	}
	next.hash ^= entryHash(kv)
	next.undo = undo
	return next
}

// del returns the state after deleting key, which must exist.
func (s *state) del(key string) *state {
	i, _ := s.find(key)
	return &state{
		rev:       s.rev + 1,
		compacted: s.compacted,
		hash:      s.hash ^ entryHash(s.kvs[i]),
		kvs:       slices.Delete(slices.Clone(s.kvs), i, i+1),
		writable:  s.writable,
		undo:      &change{rev: s.rev + 1, key: key, had: true, before: s.kvs[i], older: s.undo},
	}
}

// getAt returns key's entry at revision rev (the floor <= rev <= s.rev):
// the current one, unless a later revision changed it.
func (s *state) getAt(key string, rev int64) (KV, bool) {
	kv, ok := s.get(key)
	for c := s.undo; c != nil && c.rev > rev; c = c.older {
		if c.key == key {
			kv, ok = c.before, c.had
		}
	}
	return kv, ok
}

// spanAt returns the entries of the keys in Range r's span at revision rev
// (the floor <= rev <= s.rev), sorted. The result is s.kvs itself when
// nothing needs undoing: callers only read it.
func (s *state) spanAt(r Input, rev int64) []KV {
	first := sort.Search(len(s.kvs), func(i int) bool { return s.kvs[i].Key >= r.Key })
	end := first
	for end < len(s.kvs) && r.covers(s.kvs[end].Key) {
		end++
	}
	kvs := s.kvs[first:end]
	copied := false
	for c := s.undo; c != nil && c.rev > rev; c = c.older {
		if !r.covers(c.key) {
			continue
		}
		if !copied {
			kvs, copied = slices.Clone(kvs), true
		}
		i, found := sort.Find(len(kvs), func(i int) int { return strings.Compare(c.key, kvs[i].Key) })
		switch {
		case c.had && found:
			kvs[i] = c.before
		case c.had:
			kvs = slices.Insert(kvs, i, c.before)
		case found:
			kvs = slices.Delete(kvs, i, i+1)
		}
	}
	return kvs
}

// compare evaluates a TxnCAS's compare as etcd's applyCompare does.
func (s *state) compare(in Input) bool {
	kv, ok := s.get(in.Key)
	switch in.Compare {
	case CompareValue:
		return ok && kv.Value == in.CmpValue
	case CompareVersion:
		return kv.Version == in.CmpRev
	case CompareModRev:
		return kv.ModRev == in.CmpRev
	case CompareCreateRev:
		return kv.CreateRev == in.CmpRev
	}
	return false
}

// sameKV compares a returned key with the model's; an empty returned Key
// stands for the requested one.
func sameKV(got, want KV) bool {
	if got.Key == "" {
		got.Key = want.Key
	}
	return got == want
}

// readMatches checks a single-key read at revision rev (Get, or a TxnCAS
// else branch at the current revision).
func (s *state) readMatches(key string, rev int64, out Output) bool {
	kv, ok := s.getAt(key, rev)
	return out.Found == ok && (!ok || sameKV(out.KV, kv))
}

// mayWrite reports whether in's writes are permitted: always for the
// unlimited user, for the limited one only on keys granted to it.
func (s *state) mayWrite(in Input) bool {
	if !in.Limited {
		return true
	}
	_, ok := slices.BinarySearch(s.writable, in.Key)
	return ok
}

// withWritable returns s with key's write grant set or cleared.
func (s *state) withWritable(key string, on bool) *state {
	i, ok := slices.BinarySearch(s.writable, key)
	if ok == on {
		return s
	}
	next := *s
	if on {
		next.writable = slices.Insert(slices.Clone(s.writable), i, key)
	} else {
		next.writable = slices.Delete(slices.Clone(s.writable), i, i+1)
	}
	return &next
}

// step is the sequential specification: can the store in state s answer in
// with out, and what is the state afterwards? An Unknown output matches any
// answer: the operation is applied with whatever result the state dictates.
// A write the limited user may not make is denied and changes nothing.
func step(s *state, in Input, out Output) (bool, *state) {
	known := out.Status != Unknown
	switch in.Kind {
	case GrantWrite:
		return !known || out.Succeeded && !out.Denied, s.withWritable(in.Key, true)
	case RevokeWrite:
		_, had := slices.BinarySearch(s.writable, in.Key)
		return !known || out.Succeeded == had && !out.Denied, s.withWritable(in.Key, false)
	case Put, Delete, TxnCAS:
		if !s.mayWrite(in) {
			return !known || out.Denied, s
		}
	}
	if known && out.Denied {
		return false, s // reads, and permitted writes, are never denied
	}
	// A read at an old revision is checked against the floor first, in
	// etcd's order (rangeKeys in kvstore_txn.go): above the current
	// revision is ErrFutureRev, below the compact revision ErrCompacted;
	// the compact revision itself stays readable.
	at := s.rev
	if in.Kind == Get || in.Kind == Range {
		switch {
		case in.Revision > s.rev:
			return !known || out.FutureRev && !out.Compacted, s
		case in.Revision > 0 && in.Revision < s.compacted:
			return !known || out.Compacted && !out.FutureRev, s
		case in.Revision > 0:
			at = in.Revision
		}
	}
	if in.Kind != Compact && known && (out.Compacted || out.FutureRev) {
		return false, s
	}
	switch in.Kind {
	case Compact:
		switch {
		case in.Revision > s.rev:
			return !known || out.FutureRev && !out.Compacted, s
		case in.Revision <= s.compacted:
			return !known || out.Compacted && !out.FutureRev, s
		}
		next := *s
		next.compacted = in.Revision
		return !known || !out.Compacted && !out.FutureRev && out.Revision == s.rev, &next
	case Get:
		return !known || out.Revision == s.rev && s.readMatches(in.Key, at, out), s
	case Range:
		if !known {
			return true, s
		}
		return out.Revision == s.rev && rangeMatches(in, out, s.spanAt(in, at)), s
	case Put:
		return !known || out.Revision == s.rev+1, s.put(in.Key, in.Value)
	case Delete:
		if _, ok := s.get(in.Key); ok {
			return !known || out.Deleted == 1 && out.Revision == s.rev+1, s.del(in.Key)
		}
		// Deleting nothing creates no revision.
		return !known || out.Deleted == 0 && out.Revision == s.rev, s
	case TxnCAS:
		if s.compare(in) {
			return !known || out.Succeeded && out.Revision == s.rev+1, s.put(in.Key, in.Value)
		}
		// A txn that only reads creates no revision.
		return !known || !out.Succeeded && out.Revision == s.rev &&
			(!in.ElseGet || s.readMatches(in.Key, s.rev, out)), s
	}
	return false, s
}

// rangeMatches checks a Range's answer against every key in its span at
// its revision: Limit keeps the first keys and sets More when it cut any,
// CountOnly returns no keys; Count, all of them, is checked whenever either
// is asked for.
func rangeMatches(in Input, out Output, all []KV) bool {
	want, more := all, false
	switch {
	case in.CountOnly:
		want = nil
	case in.Limit > 0 && int64(len(all)) > in.Limit:
		want, more = all[:in.Limit], true
	}
	if (in.CountOnly || in.Limit > 0) && (out.Count != int64(len(all)) || out.More != more) {
		return false
	}
	return slices.Equal(out.KVs, want)
}

func (s *state) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "rev %d", s.rev)
	if s.compacted > 0 {
		fmt.Fprintf(&b, " compacted %d", s.compacted)
	}
	b.WriteString(" {")
	for i, kv := range s.kvs {
		if i > 0 {
			b.WriteString(", ")
		}
		fmt.Fprintf(&b, "%q=%q@mod%d,create%d,v%d", kv.Key, kv.Value, kv.ModRev, kv.CreateRev, kv.Version)
	}
	b.WriteString("}")
	if len(s.writable) > 0 {
		fmt.Fprintf(&b, " limited may write %q", s.writable)
	}
	return b.String()
}

// newModel returns the porcupine model of etcd's key space starting empty
// at revision initialRev.
//
// The model has no Partition function on purpose: every write bumps the one
// global revision and every answer carries it, so operations on different
// keys constrain each other's order. Checking keys separately would accept
// histories where two writes to different keys return the same revision, or
// a read's header revision contradicts a write on another key.
func newModel(initialRev int64) porcupine.Model {
	return porcupine.Model{
		Init: func() any { return &state{rev: initialRev} },
		Step: func(st, input, output any) (bool, any) {
			return step(st.(*state), input.(Input), output.(Output))
		},
		Equal: func(a, b any) bool {
			x, y := a.(*state), b.(*state)
			return x.rev == y.rev && x.compacted == y.compacted && x.hash == y.hash && slices.Equal(x.kvs, y.kvs) && slices.Equal(x.writable, y.writable) &&
				sameChanges(x.undo, y.undo, x.compacted)
		},
		// The history stays out of Hash: states that differ only there are
		// rare (deletions of two keys in either order) and Equal tells them
		// apart, while hashing it would cost a walk per state.
		Hash: func(st any) uint64 {
			s := st.(*state)
			return s.hash ^ uint64(s.rev)*0x9e3779b97f4a7c15 ^ uint64(s.compacted)*0xc2b2ae3d27d4eb4f ^ uint64(len(s.writable))<<56
		},
		DescribeOperation: func(input, output any) string {
			in := input.(Input)
			return in.String() + " -> " + output.(Output).describe(in)
		},
		DescribeState: func(st any) string { return st.(*state).String() },
		DescribeOperationMetadata: func(info any) string {
			if info == nil {
				return ""
			}
			return fmt.Sprint(info)
		},
	}
}
