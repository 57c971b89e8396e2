package scenarios

import (
	"fmt"

	"metastore/core"
	"metastore/sim"
)

// replaced asks target to take over (by transfer from the leader, or by
// its own campaign) and returns whether it leads in a higher term within
// 2E, and after how many ticks.
func replaced(sc *sim.Script, target uint64, ask func()) (int, bool) {
	term := status(sc, sc.Leader()).Term
	ask()
	return sc.Until(2*E, func() bool {
		st := status(sc, target)
		return st.Role == "leader" && st.Term > term
	})
}

// transferAndCampaign is P8: with both safeguards on, MoveLeader and an
// explicit campaign still replace a healthy leader.
func transferAndCampaign(env *Env) *Result {
	r := &Result{}
	label := "P8 prevote+checkquorum"
	sc := env.Script(sim.ScriptOptions{Canary: core.Canaries{}})
	lead := awaitLeader(r, label, sc)
	writeN(sc, lead, "p8-", 3)
	sc.Ticks(E)
	to := sc.Follower(lead)
	tTicks, tOK := replaced(sc, to, func() { sc.TransferLeader(lead, to) })
	r.Expect(tOK, "P8: a leader transfer %d→%d replaces the leader (in %d ticks)", lead, to, tTicks)
	sc.Ticks(E)
	lead = sc.Leader()
	c := sc.Follower(lead)
	cTicks, cOK := replaced(sc, c, func() { sc.Campaign(c) })
	r.Expect(cOK, "P8: an explicit campaign by %d replaces leader %d (in %d ticks)", c, lead, cTicks)
	recovered, _ := sc.Recover(10 * E)
	r.FinishClean(label, sc, recovered)

	// Control: a plain election (raft's Campaign, no transfer) under the
	// same healthy leader is refused by the members in lease.
	label = "P8 control plain-campaign"
	sc = env.Script(sim.ScriptOptions{Canary: core.Canaries{PlainCampaign: true}})
	lead = awaitLeader(r, label, sc)
	sc.Ticks(E)
	c = sc.Follower(lead)
	pTicks, pOK := replaced(sc, c, func() { sc.Campaign(c) })
	r.Expect(!pOK, "P8 control: a plain campaign by %d does not replace leader %d within %d ticks", c, lead, pTicks)
	recovered, _ = sc.Recover(10 * E)
	r.FinishClean(label, sc, recovered)
	r.Report("P8: transfer in %d ticks (%v); campaign in %d ticks (%v); plain campaign replaced the leader: %v",
		tTicks, tOK, cTicks, cOK, pOK)
	r.Figures = fmt.Sprintf("transfer: leader replaced in %d ticks; campaign: in %d ticks; control plain campaign: refused (%v)", tTicks, cTicks, !pOK)
	return r
}
