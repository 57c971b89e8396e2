package checker

// ResolveUnknown settles writes whose client never saw an answer, using the
// applied write log (the cluster's committed history, which the simulator
// cross-checks between replicas). Without it, every unanswered write may
// take effect at any later point or never, and the search space of the
// linearizability check doubles with each one.
//
//   - A Put or TxnCAS writes a unique value: if the log holds that value for
//     its key, the operation took effect at that revision (the answer is
//     known, the return stays open); if not, it never changed state and is
//     dropped (a failed compare changes nothing either).
//   - A Delete is matched to the log's deletions of its key that no
//     acknowledged delete claims: none left means it deleted nothing and is
//     dropped; exactly one open delete and one unclaimed deletion pair up;
//     anything more ambiguous stays open.
//
// The result is a copy; ops is not modified.
func ResolveUnknown(ops []Op, applied []AppliedWrite) []Op {
	type kv struct{ key, value string }
	putAt := map[kv]int64{}
	deletesOf := map[string][]int64{}
	for _, w := range applied {
		if w.Delete {
			deletesOf[w.Key] = append(deletesOf[w.Key], w.Revision)
		} else {
			putAt[kv{w.Key, w.Value}] = w.Revision
		}
	}
	claimed := map[int64]bool{}
	openDeletes := map[string][]int{}
	out := make([]Op, len(ops))
	copy(out, ops)
	for i := range out {
		op := &out[i]
		if op.Input.Kind == Delete && op.Output.Status == OK && op.Output.Deleted > 0 {
			claimed[op.Output.Revision] = true
		}
		if op.Output.Status != Unknown {
			continue
		}
		switch op.Input.Kind {
		case Put, TxnCAS:
			if rev, ok := putAt[kv{op.Input.Key, op.Input.Value}]; ok {
				op.Output = Output{Status: OK, Revision: rev, Succeeded: true}
				op.Return = Open
			} else {
				op.Output = Output{Status: Failed}
			}
		case Delete:
			openDeletes[op.Input.Key] = append(openDeletes[op.Input.Key], i)
		}
	}
	for key, idxs := range openDeletes {
		var unclaimed []int64
		for _, rev := range deletesOf[key] {
			if !claimed[rev] {
				unclaimed = append(unclaimed, rev)
			}
		}
		switch {
		case len(unclaimed) == 0:
			for _, i := range idxs {
				out[i].Output = Output{Status: Failed}
			}
		case len(unclaimed) == 1 && len(idxs) == 1:
			out[idxs[0]].Output = Output{Status: OK, Revision: unclaimed[0], Deleted: 1}
			out[idxs[0]].Return = Open
		}
	}
	return out
}

// Background returns operations that stand for the writes in the applied
// log that the history's clients did not make (keys for which own is
// false: lease-attached keys deleted by expiry, another workload's keys).
// Every write bumps the revision the model checks, so such writes must be
// in the history; each gets the revision it was applied at and a time
// interval covering the whole run, so it constrains only revision order.
// Revisions that touch several keys are skipped by the model (they cannot
// be expressed as one operation) and reported by ok=false.
func Background(applied []AppliedWrite, own func(key string) bool, clientID, firstID int) (ops []Op, ok bool) {
	ok = true
	for i := 0; i < len(applied); {
		j := i
		for j < len(applied) && applied[j].Revision == applied[i].Revision {
			j++
		}
		group := applied[i:j]
		i = j
		if own(group[0].Key) {
			continue
		}
		if len(group) > 1 {
			ok = false
			continue
		}
		w := group[0]
		op := Op{ID: firstID + len(ops), ClientID: clientID, Invoke: 0, Return: Open,
			Input:  Input{Kind: Put, Key: w.Key, Value: w.Value},
			Output: Output{Status: OK, Revision: w.Revision}}
		if w.Delete {
			op.Input = Input{Kind: Delete, Key: w.Key}
			op.Output.Deleted = 1
		}
		ops = append(ops, op)
	}
	return ops, ok
}
