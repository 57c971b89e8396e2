package auth

import (
	"bytes"
	"slices"

	"go.etcd.io/etcd/api/v3/authpb"
)

// span is the half-open key interval [start, end); a nil end is unbounded.
type span struct{ start, end []byte }

// spanOf maps a permission or request (key, rangeEnd) to its span, as etcd
// reads them: an empty end is the single key, "\x00" is every key from key
// on.
func spanOf(key, end []byte) span {
	switch {
	case len(end) == 0:
		return span{key, append(slices.Clip(key), 0)}
	case len(end) == 1 && end[0] == 0:
		return span{key, nil}
	}
	return span{key, end}
}

// endBefore reports whether end a <= end b (nil is +inf).
func endAtMost(a, b []byte) bool {
	if b == nil {
		return true
	}
	return a != nil && bytes.Compare(a, b) <= 0
}

// spans is a sorted union of disjoint, non-adjacent spans.
type spans []span

// merge builds the union of ss.
func merge(ss []span) spans {
	slices.SortFunc(ss, func(a, b span) int { return bytes.Compare(a.start, b.start) })
	var out spans
	for _, s := range ss {
		if n := len(out); n > 0 && (out[n-1].end == nil || bytes.Compare(s.start, out[n-1].end) <= 0) {
			if !endAtMost(s.end, out[n-1].end) {
				out[n-1].end = s.end
			}
			continue
		}
		out = append(out, s)
	}
	return out
}

// covers reports whether q lies inside the union.
func (u spans) covers(q span) bool {
	for _, s := range u {
		if bytes.Compare(s.start, q.start) <= 0 && endAtMost(q.end, s.end) {
			return true
		}
	}
	return false
}

// userPerms is one user's merged read and write permissions.
type userPerms struct {
	read, write spans
}

func (s *Store) buildPerms(u *authpb.User) *userPerms {
	var read, write []span
	for _, rn := range u.GetRoles() {
		r := s.roles[rn]
		if r == nil {
			continue
		}
		for _, p := range r.GetKeyPermission() {
			sp := spanOf(p.GetKey(), p.GetRangeEnd())
			switch p.GetPermType() {
			case authpb.Permission_READ:
				read = append(read, sp)
			case authpb.Permission_WRITE:
				write = append(write, sp)
			case authpb.Permission_READWRITE:
				read = append(read, sp)
				write = append(write, sp)
			}
		}
	}
	return &userPerms{read: merge(read), write: merge(write)}
}

// validPermRange is etcd's rule: a key, and an end that is empty (one
// key), "\x00" (from key on) or after key.
func validPermRange(key, end []byte) bool {
	if len(key) == 0 {
		return false
	}
	if len(end) == 0 || (len(end) == 1 && end[0] == 0) {
		return true
	}
	return bytes.Compare(key, end) < 0
}
