package sim

import (
	"testing"
)

// TestAuthSweep runs seeds with the auth workload: users, a limited user
// whose write grants change under load, denied writes that must change
// nothing. Every check of the plain sweep applies, and the sweep must have
// exercised what it is about.
func TestAuthSweep(t *testing.T) {
	skipWhenReplaying(t)
	n := 20
	if testing.Short() {
		n = 5
	}
	total := map[string]int{}
	for seed := uint64(1); seed <= uint64(n); seed++ {
		rep := runSeed(t, seed, Options{Auth: true})
		for k, v := range rep.Counts {
			total[k] += v
		}
		if rep.Failed() {
			t.Errorf("seed %d (auth): %d violations, first: %s\n    replay: %s", seed, len(rep.Violations), rep.Violations[0], authReplayLine(seed))
		}
	}
	t.Logf("auth sweep totals: %s", (&Report{Counts: total}).CountsLine())
	for _, need := range []string{"auth_enabled", "op_denied", "op_ok"} {
		if total[need] == 0 {
			t.Errorf("coverage: no %s across %d auth seeds", need, n)
		}
	}
}

func authReplayLine(seed uint64) string {
	if *authFlag {
		return replayLine(seed)
	}
	return replayLine(seed) + " -auth"
}
