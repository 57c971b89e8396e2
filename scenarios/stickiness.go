package scenarios

import (
	"fmt"
	"strings"

	"metastore/core"
	"metastore/sim"
)

// combos are the four settings of PreVote and CheckQuorum, both on first.
var combos = []struct {
	label  string
	canary core.Canaries
}{
	{"prevote+checkquorum", core.Canaries{}},
	{"prevote only", core.Canaries{NoCheckQuorum: true}},
	{"checkquorum only", core.Canaries{NoPreVote: true}},
	{"neither", core.Canaries{NoPreVote: true, NoCheckQuorum: true}},
}

// sticky is what P6 measures of one run.
type sticky struct {
	leaderChanges         int
	bystanderTermRaised   bool // the member that still hears the leader moved to a higher term
	transferOK            bool
	transferTicks         int
	disruptor, bystander  uint64
	leader, transferredTo uint64
}

// disruptLeader cuts one follower (the disruptor) off from the leader only:
// it still reaches the other follower (the bystander), which keeps hearing
// the leader. After 10E it asks the leader to transfer to the bystander.
func disruptLeader(env *Env, r *Result, label string, canary core.Canaries) sticky {
	sc := env.Script(sim.ScriptOptions{Canary: canary})
	var m sticky
	m.leader = awaitLeader(r, label, sc)
	m.disruptor = sc.Follower(m.leader)
	m.bystander = sc.Follower(m.leader, m.disruptor)
	before := sc.Figures().LeaderChanges
	termBefore := status(sc, m.bystander).Term
	// Writes first, so the disruptor's log is as current as anyone's: only
	// the lease, not the log, can make the bystander refuse it.
	writeN(sc, m.leader, "p6-", 3)
	sc.Ticks(E)
	sc.Net().Cut([]uint64{m.disruptor}, []uint64{m.leader})
	sc.Ticks(10 * E)
	m.leaderChanges = sc.Figures().LeaderChanges - before
	m.bystanderTermRaised = status(sc, m.bystander).Term > termBefore
	// A leader transfer is the one (pre)vote a member in lease must grant.
	lead := sc.Leader()
	if lead != 0 {
		to := sc.Follower(lead, m.disruptor)
		if to == 0 {
			to = sc.Follower(lead)
		}
		termNow := status(sc, lead).Term
		m.transferredTo = to
		sc.TransferLeader(lead, to)
		m.transferTicks, m.transferOK = sc.Until(2*E, func() bool {
			st := status(sc, to)
			return st.Role == "leader" && st.Term > termNow
		})
	}
	sc.Net().Heal()
	recovered, _ := sc.Recover(10 * E)
	r.FinishClean(label, sc, recovered)
	r.Report("%s: disruptor %d cut from leader %d for %d ticks: leader changes %d, bystander %d raised its term: %v; transfer to %d: %v in %d ticks",
		label, m.disruptor, m.leader, 10*E, m.leaderChanges, m.bystander, m.bystanderTermRaised, m.transferredTo, m.transferOK, m.transferTicks)
	return m
}

// leaderStickiness is P6: with CheckQuorum's lease the bystander ignores
// the disruptor's higher-term (pre)votes; with neither safeguard the
// leader is deposed. A transfer gets through in every setting.
func leaderStickiness(env *Env) *Result {
	r := &Result{}
	var figs []string
	for _, c := range combos {
		m := disruptLeader(env, r, "P6 "+c.label, c.canary)
		figs = append(figs, fmt.Sprintf("%s: %d leader changes", c.label, m.leaderChanges))
		switch {
		case c.canary == core.Canaries{}:
			r.Expect(m.transferOK, "P6 %s: the leader transfer to %d still wins (in %d ticks)", c.label, m.transferredTo, m.transferTicks)
		}
		switch {
		case !c.canary.NoCheckQuorum:
			r.Expect(m.leaderChanges == 0 && !m.bystanderTermRaised,
				"P6 %s: the bystander ignored the disruptor: no leader change (%d), its term stayed (%v)", c.label, m.leaderChanges, !m.bystanderTermRaised)
		default:
			r.Expect(m.leaderChanges > 0 && m.bystanderTermRaised, "P6 control %s: the disruptor deposes the leader (%d leader changes)", c.label, m.leaderChanges)
		}
	}
	r.Figures = strings.Join(figs, "; ")
	return r
}
