package scenarios

import (
	"fmt"
	"strings"

	"metastore/core"
	"metastore/sim"
)

// campaignOffsets are the ticks after the leader is cut off at which the
// member under test campaigns: before, around and after the other
// follower's lease (E) and its own election timeout ([E, 2E)).
var campaignOffsets = []int{0, 3, 6, 9, 10, 11, 12, 13, 14, 15, 17, 19}

// firstWinner cuts a follower (the challenger) off while the majority
// commits writes when stale is set, then cuts the leader off, reconnects
// the two followers, makes the challenger campaign offset ticks later, and
// returns who wins the first election after the cut.
func firstWinner(env *Env, r *Result, label string, canary core.Canaries, stale bool, offset int) (challenger, winner uint64, granted bool) {
	// The challenger campaigns with raft's plain election: Campaign would
	// otherwise ask the (cut-off) leader for a transfer.
	canary.PlainCampaign = true
	sc := env.Script(sim.ScriptOptions{Canary: canary})
	lead := awaitLeader(r, label, sc)
	challenger = sc.Follower(lead)
	if stale {
		sc.Net().IsolateNode(challenger)
	}
	writeN(sc, lead, "p3-", 5)
	sc.Ticks(2 * E)
	sc.Net().IsolateNode(lead)
	before := sc.Candidacies(challenger)
	sc.Ticks(offset)
	sc.Campaign(challenger)
	sc.Until(6*E, func() bool {
		l := sc.Leader()
		if l != 0 && l != lead {
			winner = l
			return true
		}
		return false
	})
	// With PreVote, becoming a candidate means a pre-vote was granted.
	granted = sc.Candidacies(challenger) > before
	sc.Net().Heal()
	recovered, _ := sc.Recover(10 * E)
	rep := sc.Finish()
	r.Traces = append(r.Traces, rep.TraceHash)
	r.Expect(!rep.Failed(), "%s offset %d: no invariant or checker violation (%d found)", label, offset, len(rep.Violations))
	for _, v := range rep.Violations {
		r.Report("%s offset %d: VIOLATION %s", label, offset, v)
	}
	r.Expect(recovered < 10*E, "%s offset %d: the healed cluster takes a write (in %d ticks)", label, offset, recovered)
	return challenger, winner, granted
}

// staleLogCannotWin is P3: a stale challenger never wins, with PreVote on
// or off; the control, the same challenger with a current log, does win
// at some offsets — the timing gave it the chance the log check took away.
func staleLogCannotWin(env *Env) *Result {
	r := &Result{}
	wins, grants := map[string]int{}, map[string]int{}
	for _, run := range []struct {
		label  string
		canary core.Canaries
		stale  bool
	}{
		{"P3 stale prevote-on", core.Canaries{}, true},
		{"P3 stale prevote-off", core.Canaries{NoPreVote: true}, true},
		{"P3 control current-log", core.Canaries{}, false},
	} {
		var winners []string
		var c uint64
		for _, off := range campaignOffsets {
			var w uint64
			var granted bool
			c, w, granted = firstWinner(env, r, run.label, run.canary, run.stale, off)
			winners = append(winners, fmt.Sprintf("%d:%d", off, w))
			if granted {
				grants[run.label]++
			}
			if w == c {
				wins[run.label]++
			}
			if run.stale {
				r.Expect(w != c, "%s offset %d: the stale challenger %d did not win (winner %d)", run.label, off, c, w)
			}
			if run.canary.NoPreVote {
				// Without PreVote the stale challenger's rising term can keep
				// disrupting the other member's elections: no liveness claim.
				continue
			}
			r.Expect(w != 0, "%s offset %d: the majority elected a leader", run.label, off)
		}
		r.Report("%s: challenger %d; winner by campaign offset (ticks after the leader's cut): %s",
			run.label, c, strings.Join(winners, " "))
	}
	on, ctl := "P3 stale prevote-on", "P3 control current-log"
	r.Expect(grants[on] == 0, "P3: with PreVote no member granted the stale challenger a pre-vote (granted at %d of %d offsets)", grants[on], len(campaignOffsets))
	r.Expect(grants[ctl] > 0, "P3 control: with a current log the challenger's pre-vote is granted at %d of %d offsets (and it wins at %d)",
		grants[ctl], len(campaignOffsets), wins[ctl])
	r.Figures = fmt.Sprintf("stale challenger: pre-vote granted %d/%d, wins %d/%d (prevote on), wins %d/%d (prevote off); current-log challenger: pre-vote granted %d/%d, wins %d/%d",
		grants[on], len(campaignOffsets), wins[on], len(campaignOffsets), wins["P3 stale prevote-off"], len(campaignOffsets),
		grants[ctl], len(campaignOffsets), wins[ctl], len(campaignOffsets))
	return r
}
