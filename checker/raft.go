package checker

import (
	"fmt"
	"slices"
	"sort"
	"strings"
)

// AppliedEntry is one raft entry a replica applied, as the simulator saw
// it. Hash is a digest of the entry (type and data) computed the same way
// for every replica; StateHash, if the simulator records it, is the state
// machine's hash right after applying the entry (leave it 0 everywhere if
// not recorded).
type AppliedEntry struct {
	Index, Term uint64
	Hash        uint64
	StateHash   uint32
}

// AppliedPrefixes checks raft's State Machine Safety as observed: each
// replica applied entries in strictly increasing index order with
// non-decreasing terms (gaps are allowed: a snapshot skips entries), and
// any two replicas that applied the same index applied the same entry
// (term and hash) and reached the same state hash. Replica ids are
// visited in increasing order, so the first disagreement reported is
// deterministic.
func AppliedPrefixes(logs map[uint64][]AppliedEntry) error {
	replicas := sortedKeys(logs)
	type seen struct {
		replica uint64
		e       AppliedEntry
	}
	first := map[uint64]seen{}
	for _, r := range replicas {
		log := logs[r]
		for i, e := range log {
			if i > 0 {
				prev := log[i-1]
				if e.Index <= prev.Index {
					return fmt.Errorf("checker: replica %d applied index %d after index %d", r, e.Index, prev.Index)
				}
				if e.Term < prev.Term {
					return fmt.Errorf("checker: replica %d applied index %d term %d after index %d term %d", r, e.Index, e.Term, prev.Index, prev.Term)
				}
			}
			f, ok := first[e.Index]
			if !ok {
				first[e.Index] = seen{r, e}
				continue
			}
			if f.e.Term != e.Term || f.e.Hash != e.Hash {
				return fmt.Errorf("checker: index %d applied differently: replica %d term %d hash %#x, replica %d term %d hash %#x",
					e.Index, f.replica, f.e.Term, f.e.Hash, r, e.Term, e.Hash)
			}
			if f.e.StateHash != e.StateHash {
				return fmt.Errorf("checker: state after index %d differs: replica %d hash %#x, replica %d hash %#x",
					e.Index, f.replica, f.e.StateHash, r, e.StateHash)
			}
		}
	}
	return nil
}

// LeaderObs records that replica ID believed itself leader of Term.
// ID 0 (no leader) is ignored.
type LeaderObs struct {
	Term uint64
	ID   uint64
}

// OneLeaderPerTerm checks raft's Election Safety: no two replicas were
// leader in the same term. The error names the lowest such term.
func OneLeaderPerTerm(obs []LeaderObs) error {
	leaders := map[uint64][]uint64{}
	for _, o := range obs {
		if o.ID == 0 || slices.Contains(leaders[o.Term], o.ID) {
			continue
		}
		leaders[o.Term] = append(leaders[o.Term], o.ID)
	}
	for _, term := range sortedKeys(leaders) {
		if ids := leaders[term]; len(ids) > 1 {
			slices.Sort(ids)
			return fmt.Errorf("checker: term %d has %d leaders: %v", term, len(ids), ids)
		}
	}
	return nil
}

// HashesAgree checks that every replica reports the same hash (for
// example Store.Hash at one applied index). The error lists the replicas
// grouped by hash.
func HashesAgree(hashes map[uint64]uint32) error {
	groups := map[uint32][]uint64{}
	for id, h := range hashes {
		groups[h] = append(groups[h], id)
	}
	if len(groups) <= 1 {
		return nil
	}
	var parts []string
	for _, h := range sortedKeys(groups) {
		ids := groups[h]
		slices.Sort(ids)
		parts = append(parts, fmt.Sprintf("%#x on replicas %v", h, ids))
	}
	return fmt.Errorf("checker: replica hashes disagree: %s", strings.Join(parts, "; "))
}

type ordered interface {
	~int | ~int64 | ~uint32 | ~uint64 | ~string
}

func sortedKeys[K ordered, V any](m map[K]V) []K {
	keys := make([]K, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Slice(keys, func(i, j int) bool { return keys[i] < keys[j] })
	return keys
}
