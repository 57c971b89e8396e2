package checker

import (
	"fmt"
	"slices"
	"sort"
	"strings"

	"github.com/anishathalye/porcupine"
)

// state is the sequential specification's state: etcd's current revision
// and every live key. It is immutable once built (porcupine keeps old states
// for backtracking), so a write copies the key slice. Keys are sorted, which
// makes Equal a slice comparison and Range a contiguous scan.
//
// hash is the XOR of entryHash over keys, updated incrementally by writes,
// so Hash and the first test of Equal are O(1) even with many keys.
type state struct {
	rev int64
	// compacted is the last compaction's revision (0: none): the floor
	// below which etcd answers reads and watches with ErrCompacted. The
	// workloads read only at the current revision, so only Compact's own
	// answers depend on it.
	compacted int64
	hash      uint64
	kvs       []KV
	// writable are the keys the limited user may write, sorted; shared
	// between states like kvs, copied on change.
	writable []string
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
	if ok {
		old := s.kvs[i]
		kv.CreateRev, kv.Version = old.CreateRev, old.Version+1
		next.hash ^= entryHash(old)
		next.kvs = slices.Clone(s.kvs)
		next.kvs[i] = kv
	} else {
		next.kvs = slices.Insert(slices.Clone(s.kvs), i, kv)
	}
	next.hash ^= entryHash(kv)
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
	}
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

func (s *state) prefix(p string) []KV {
	lo := sort.Search(len(s.kvs), func(i int) bool { return s.kvs[i].Key >= p })
	hi := lo
	for hi < len(s.kvs) && strings.HasPrefix(s.kvs[hi].Key, p) {
		hi++
	}
	return s.kvs[lo:hi]
}

// sameKV compares a returned key with the model's; an empty returned Key
// stands for the requested one.
func sameKV(got, want KV) bool {
	if got.Key == "" {
		got.Key = want.Key
	}
	return got == want
}

// readMatches checks a single-key read (Get, or a TxnCAS else branch).
func (s *state) readMatches(key string, out Output) bool {
	kv, ok := s.get(key)
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
		return !known || out.Revision == s.rev && s.readMatches(in.Key, out), s
	case Range:
		if !known {
			return true, s
		}
		want := s.prefix(in.Key)
		return out.Revision == s.rev && slices.Equal(out.KVs, want), s
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
			(!in.ElseGet || s.readMatches(in.Key, out)), s
	}
	return false, s
}

func (s *state) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "rev %d {", s.rev)
	if s.compacted > 0 {
		b.Reset()
		fmt.Fprintf(&b, "rev %d compacted %d {", s.rev, s.compacted)
	}
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
			return x.rev == y.rev && x.compacted == y.compacted && x.hash == y.hash && slices.Equal(x.kvs, y.kvs) && slices.Equal(x.writable, y.writable)
		},
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
