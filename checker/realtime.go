package checker

import (
	"fmt"
	"sort"
)

// RevisionsRespectRealTime checks that revisions never go back in real
// time: if an acknowledged operation A returned before operation B was
// invoked (A.Return < B.Invoke; equal times are concurrent), then B's
// header revision is at least A's, and strictly greater when B created a
// revision (an acked write that changed state). Only OK operations carry
// revisions; others are ignored. This is implied by Linearizable but is
// cheap, needs no search, and names the two operations directly.
func RevisionsRespectRealTime(ops []Op) error {
	var done []Op
	for _, op := range ops {
		if op.hasRevision() {
			done = append(done, op)
		}
	}
	byInvoke := make([]Op, len(done))
	copy(byInvoke, done)
	sort.SliceStable(byInvoke, func(i, j int) bool { return byInvoke[i].Invoke < byInvoke[j].Invoke })
	byReturn := done
	sort.SliceStable(byReturn, func(i, j int) bool { return byReturn[i].Return < byReturn[j].Return })

	// Sweep: latest is the highest-revision operation among those that
	// returned strictly before the current invocation.
	var latest *Op
	r := 0
	for _, b := range byInvoke {
		for r < len(byReturn) && byReturn[r].Return < b.Invoke {
			if latest == nil || byReturn[r].Output.Revision > latest.Output.Revision {
				latest = &byReturn[r]
			}
			r++
		}
		if latest == nil {
			continue
		}
		switch {
		case b.Output.Revision < latest.Output.Revision:
			return fmt.Errorf("checker: revision went back in real time: %v returned after %v", b, *latest)
		case b.writes() && b.Output.Revision == latest.Output.Revision:
			return fmt.Errorf("checker: write reused an earlier revision: %v returned after %v", b, *latest)
		}
	}
	return nil
}
