package core

import (
	"math"

	"go.etcd.io/raft/v3/raftpb"
)

// LogBounds returns the first and last index of the replica's stable raft
// log (entries handed to raft's storage); first > last when it is empty
// after a snapshot. Invariant checkers read it; the replica never needs it.
func (r *Replica) LogBounds() (first, last uint64) {
	first, _ = r.storage.FirstIndex()
	last, _ = r.storage.LastIndex()
	return first, last
}

// LogEntries returns the stable log entries in [lo, hi). The slice and the
// entries belong to the replica: the caller reads them before the next
// call into the replica and never modifies them.
func (r *Replica) LogEntries(lo, hi uint64) ([]*raftpb.Entry, error) {
	return r.storage.Entries(lo, hi, math.MaxUint64)
}

// Waiting reports the callbacks waiting for their requests' apply, and
// how many of those keep their request to apply without decoding (this
// replica's proposals, see Replica.requestOf); tests check that neither
// outlives its request.
func (r *Replica) Waiting() (callbacks, requests int) {
	for _, p := range r.pending {
		if p.req != nil {
			requests++
		}
	}
	return len(r.pending), requests
}
