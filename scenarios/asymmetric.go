package scenarios

import (
	"fmt"
	"strings"

	"metastore/core"
	"metastore/sim"
)

// asymmetricTicks is how long the asymmetric partition lasts.
const asymmetricTicks = 500

// asymmetric cuts one direction of a member's links for 500 ticks while
// background clients keep the logs moving: sendOnly cuts a follower's
// inbound links (it can send but not receive), otherwise the leader's
// outbound links (it can receive but not send). It returns the elections
// and campaigns during the cut.
func asymmetric(env *Env, r *Result, label string, canary core.Canaries, sendOnly bool) (elections, campaigns int) {
	sc := env.Script(sim.ScriptOptions{Canary: canary, Clients: 2})
	lead := awaitLeader(r, label, sc)
	sc.StartLoad()
	sc.Ticks(E)
	victim := lead
	if sendOnly {
		victim = sc.Follower(lead)
	}
	for _, o := range sc.IDs() {
		if o == victim {
			continue
		}
		if sendOnly {
			sc.Net().Block(o, victim)
		} else {
			sc.Net().Block(victim, o)
		}
	}
	before := sc.Figures()
	sc.Ticks(asymmetricTicks)
	after := sc.Figures()
	sc.Net().Heal()
	recovered, _ := sc.Recover(10 * E)
	r.FinishClean(label, sc, recovered)
	return after.Elections - before.Elections, after.Campaigns - before.Campaigns
}

// asymmetricPartition is P7: the four settings side by side. Both
// safeguards on keep the send-only member from causing any election;
// with neither, elections churn.
func asymmetricPartition(env *Env) *Result {
	r := &Result{}
	var head, sendRow, recvRow []string
	elect := map[string]int{}
	for _, c := range combos {
		se, sc := asymmetric(env, r, "P7 send-only "+c.label, c.canary, true)
		re, rc := asymmetric(env, r, "P7 receive-only "+c.label, c.canary, false)
		elect["send "+c.label], elect["recv "+c.label] = se, re
		head = append(head, c.label)
		sendRow = append(sendRow, fmt.Sprintf("%d elections (%d campaigns)", se, sc))
		recvRow = append(recvRow, fmt.Sprintf("%d elections (%d campaigns)", re, rc))
	}
	r.Report("P7 elections over %d ticks | %s", asymmetricTicks, strings.Join(head, " | "))
	r.Report("P7 follower can send, not receive | %s", strings.Join(sendRow, " | "))
	r.Report("P7 leader can receive, not send | %s", strings.Join(recvRow, " | "))
	both, neither := combos[0].label, combos[3].label
	r.Expect(elect["send "+both] == 0, "P7: with both safeguards the send-only follower causes no election (%d)", elect["send "+both])
	r.Expect(elect["recv "+both] <= 1, "P7: with both safeguards the receive-only leader is replaced once (%d elections)", elect["recv "+both])
	r.Expect(elect["send "+neither] >= 5, "P7 control: with neither, elections churn (%d in %d ticks)", elect["send "+neither], asymmetricTicks)
	r.Figures = fmt.Sprintf("elections in %d ticks with both / PreVote only / CheckQuorum only / neither: send-only follower %d/%d/%d/%d, receive-only leader %d/%d/%d/%d (table below)",
		asymmetricTicks, elect["send "+combos[0].label], elect["send "+combos[1].label], elect["send "+combos[2].label], elect["send "+combos[3].label],
		elect["recv "+combos[0].label], elect["recv "+combos[1].label], elect["recv "+combos[2].label], elect["recv "+combos[3].label])
	r.Table = [][]string{append([]string{"elections in 500 ticks"}, head...),
		append([]string{"follower can send, not receive"}, sendRow...),
		append([]string{"leader can receive, not send"}, recvRow...)}
	return r
}
