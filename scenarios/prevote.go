package scenarios

import (
	"fmt"

	"metastore/core"
	"metastore/sim"
)

// electionScenarios are the PreVote and CheckQuorum scenarios (P1–P8).
func electionScenarios() []Scenario {
	return []Scenario{
		{ID: "P1", Name: "an isolated follower rejoins without an election",
			Property: "PreVote: a follower cut off for 20E never campaigns nor raises its term; on heal the leader and term stay (P2: with PreVote off its term grows and the heal forces an election)",
			Run:      prevoteRejoin},
		{ID: "P3", Name: "a member with a stale log never wins an election",
			Property: "election restriction: a member whose log is behind never wins a (pre)vote, whatever the timing; the same member with a current log is granted pre-votes",
			Run:      staleLogCannotWin},
		{ID: "P4", Name: "an isolated leader steps down and acknowledges no write",
			Property: "CheckQuorum: a cut-off leader steps down within 2E, the majority elects a new one, the old one acks no write (P5: with CheckQuorum off it stays leader; ReadIndex keeps reads linearizable)",
			Run:      checkQuorumIsolatedLeader},
		{ID: "P6", Name: "a member that hears the leader ignores a disruptive candidate",
			Property: "leader stickiness: a member that heard the leader within E ignores higher-term (pre)votes, except for a leader transfer (control: CheckQuorum off, with or without PreVote, the leader is deposed)",
			Run:      leaderStickiness},
		{ID: "P7", Name: "asymmetric partitions do not make elections churn",
			Property: "a member that can only send (or only receive) for 500 ticks: elections with each combination of PreVote and CheckQuorum",
			Run:      asymmetricPartition},
		{ID: "P8", Name: "a leader transfer and an explicit campaign still replace the leader",
			Property: "with PreVote and CheckQuorum on, MoveLeader and Campaign replace a healthy leader",
			Run:      transferAndCampaign},
	}
}

// awaitLeader runs until the cluster has a leader; the scenario cannot
// start without one.
func awaitLeader(r *Result, label string, sc *sim.Script) uint64 {
	_, ok := sc.Until(20*E, func() bool { return sc.Leader() != 0 })
	r.Expect(ok, "%s: a leader is elected within 20E", label)
	return sc.Leader()
}

// status reads a live member's status (zero when down).
func status(sc *sim.Script, id uint64) core.Status {
	st, _ := sc.Status(id)
	return st
}

// writeN writes n keys through member id, one after the other's answer.
func writeN(sc *sim.Script, id uint64, prefix string, n int) {
	var next func(i int)
	next = func(i int) {
		if i < n {
			sc.Put(id, fmt.Sprintf("%s%d", prefix, i), fmt.Sprintf("v%d", sc.Tick()), func(sim.Outcome) { next(i + 1) })
		}
	}
	next(0)
}

// rejoin is what P1 and P2 measure of one run.
type rejoin struct {
	candidacies             int
	termBefore, termAfter   uint64 // the isolated follower's, before and after 20E
	leaderBefore, leaderNow uint64
	clusterTerm, termNow    uint64
	electionsOnHeal         int
}

// isolateFollower cuts a follower off for 20E while the majority keeps
// writing, heals, and watches 5E more.
func isolateFollower(env *Env, r *Result, label string, canary core.Canaries) rejoin {
	sc := env.Script(sim.ScriptOptions{Canary: canary})
	var m rejoin
	m.leaderBefore = awaitLeader(r, label, sc)
	f := sc.Follower(m.leaderBefore)
	m.termBefore = status(sc, f).Term
	m.clusterTerm = status(sc, m.leaderBefore).Term
	r.Report("%s: isolate follower %d of leader %d (term %d) for %d ticks", label, f, m.leaderBefore, m.clusterTerm, 20*E)
	sc.Net().IsolateNode(f)
	candidacies := sc.Candidacies(f) // it may have campaigned in the first election
	writeN(sc, m.leaderBefore, "p1-", 5)
	sc.Ticks(20 * E)
	m.candidacies = sc.Candidacies(f) - candidacies
	m.termAfter = status(sc, f).Term
	before := sc.Figures().Elections
	sc.Net().Heal()
	recovered, _ := sc.Recover(10 * E)
	sc.Ticks(5 * E)
	m.leaderNow = sc.Leader()
	m.termNow = status(sc, m.leaderNow).Term
	m.electionsOnHeal = sc.Figures().Elections - before
	r.FinishClean(label, sc, recovered)
	return m
}

// prevoteRejoin is P1 with its control P2.
func prevoteRejoin(env *Env) *Result {
	r := &Result{}
	on := isolateFollower(env, r, "P1 prevote-on", core.Canaries{})
	r.Expect(on.candidacies == 0, "P1: the isolated follower never became a candidate (%d times)", on.candidacies)
	r.Expect(on.termAfter == on.termBefore, "P1: its term stayed %d (now %d)", on.termBefore, on.termAfter)
	r.Expect(on.electionsOnHeal == 0, "P1: no election on heal (%d)", on.electionsOnHeal)
	r.Expect(on.leaderNow == on.leaderBefore && on.termNow == on.clusterTerm,
		"P1: same leader and term after heal (leader %d→%d, term %d→%d)", on.leaderBefore, on.leaderNow, on.clusterTerm, on.termNow)

	off := isolateFollower(env, r, "P2 prevote-off", core.Canaries{NoPreVote: true})
	r.Expect(off.termAfter > off.termBefore+5, "P2: with PreVote off the isolated follower's term grows (%d→%d)", off.termBefore, off.termAfter)
	r.Expect(off.candidacies > 0, "P2: it campaigns (%d times)", off.candidacies)
	r.Expect(off.electionsOnHeal > 0 && off.termNow > off.clusterTerm,
		"P2: the heal forces an election (%d elections, term %d→%d)", off.electionsOnHeal, off.clusterTerm, off.termNow)
	r.Figures = fmt.Sprintf("on: candidacies=%d term %d→%d, heal elections=%d; off: candidacies=%d term %d→%d, heal elections=%d",
		on.candidacies, on.termBefore, on.termAfter, on.electionsOnHeal, off.candidacies, off.termBefore, off.termAfter, off.electionsOnHeal)
	return r
}
