package scenarios

import (
	"fmt"
	"strings"

	"metastore/sim"
)

// invariantScenarios is P10: every scenario's runs check raft's invariants
// after every step (sim's observer); this one runs a busy five-member
// cluster through each fault in turn to give the checks the most to see.
func invariantScenarios() []Scenario {
	return []Scenario{
		{ID: "P10", Name: "raft's invariants hold on every step of every scenario",
			Property: "one leader per term; term and commit never decrease; entries with the same index and term are identical; no ReadIndex answered before the leader's first commit in its term (checked in every scenario; control: forged breaches are caught)",
			Run:      invariantsUnderFaults},
	}
}

// invariantsUnderFaults cycles a loaded five-member cluster through a cut
// leader, a cut follower, a crash, a one-way link and a leader transfer,
// each for 3E, then asks the observer to catch forged breaches.
func invariantsUnderFaults(env *Env) *Result {
	r := &Result{}
	label := "P10 five members under faults"
	sc := env.Script(sim.ScriptOptions{Nodes: 5, Clients: 3})
	awaitLeader(r, label, sc)
	sc.StartLoad()
	var faults []string
	for i := range 10 {
		lead := sc.Leader()
		if lead == 0 {
			sc.Ticks(E)
			continue
		}
		f := sc.Follower(lead)
		switch i % 5 {
		case 0:
			faults = append(faults, fmt.Sprintf("cut leader %d", lead))
			sc.Net().IsolateNode(lead)
		case 1:
			faults = append(faults, fmt.Sprintf("cut follower %d", f))
			sc.Net().IsolateNode(f)
		case 2:
			faults = append(faults, fmt.Sprintf("crash %d", lead))
			sc.Crash(lead)
			defer sc.Restart(lead)
			sc.Ticks(3 * E)
			sc.Restart(lead)
		case 3:
			faults = append(faults, fmt.Sprintf("one-way %d-/->%d", lead, f))
			sc.Net().OneWay(lead, f)
		case 4:
			faults = append(faults, fmt.Sprintf("transfer %d→%d", lead, f))
			sc.TransferLeader(lead, f)
		}
		sc.Ticks(3 * E)
		sc.Net().Heal()
		sc.Ticks(E)
	}
	r.Report("%s: %s", label, strings.Join(faults, ", "))
	forged := sc.SelfTest()
	for _, v := range forged {
		r.Report("P10 control: forged breach caught: %s", v)
	}
	recovered, _ := sc.Recover(10 * E)
	fig := sc.Figures()
	rep := r.FinishClean(label, sc, recovered)
	r.Expect(fig.Steps > 1000 && fig.Ticks > 400, "P10: invariants checked at %d member steps and %d ticks", fig.Steps, fig.Ticks)
	r.Expect(len(forged) == 5, "P10 control: the observer caught %d of 5 forged breaches (term, commit, log, ReadIndex message, served read)", len(forged))
	r.Figures = fmt.Sprintf("%d steps, %d ticks checked, %d violations, %d client ops (%s); forged breaches caught %d/5",
		fig.Steps, fig.Ticks, len(rep.Violations), rep.Counts["ops"], rep.Lin.Verdict, len(forged))
	return r
}
