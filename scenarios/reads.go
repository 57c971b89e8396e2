package scenarios

import (
	"fmt"

	"metastore/checker"
	"metastore/core"
	"metastore/sim"
)

// readScenarios are the read-safety scenarios (P9).
func readScenarios() []Scenario {
	return []Scenario{
		{ID: "P9", Name: "a partitioned old leader never serves a stale read",
			Property: "ReadOnlySafe: a cut-off leader whose clock runs slow never completes a ReadIndex; the ReadOnlyLeaseBased control serves a stale read and the checker catches it",
			Run:      safeReads},
	}
}

// staleRead is what P9 measures of one run.
type staleRead struct {
	oldLeader, newLeader uint64
	newWrite             bool
	served, stale, tries int
	oldStillLeads        bool
	lin                  checker.Verdict
}

// readFromOldLeader cuts the leader off with its clock running at a fifth
// of real speed, lets the majority elect a new leader and overwrite a key,
// then reads that key through the old leader once a tick for E ticks.
func readFromOldLeader(env *Env, r *Result, label string, canary core.Canaries) staleRead {
	sc := env.Script(sim.ScriptOptions{Canary: canary})
	var m staleRead
	m.oldLeader = awaitLeader(r, label, sc)
	sc.Put(m.oldLeader, "x", "old", nil)
	sc.Ticks(E)
	sc.SetClockRate(m.oldLeader, 0.2)
	sc.Net().IsolateNode(m.oldLeader)
	sc.Until(10*E, func() bool {
		if l := sc.Leader(); l != 0 && l != m.oldLeader {
			m.newLeader = l
			return true
		}
		return false
	})
	if m.newLeader != 0 {
		sc.Put(m.newLeader, "x", "new", func(o sim.Outcome) { m.newWrite = o == sim.OK })
	}
	sc.Until(2*E, func() bool { return m.newWrite })
	m.oldStillLeads = status(sc, m.oldLeader).Role == "leader"
	healed := false
	for range E {
		m.tries++
		sc.Get(m.oldLeader, "x", func(o sim.Outcome, v string) {
			if o == sim.OK && !healed {
				m.served++
				if v == "old" {
					m.stale++
				}
			}
		})
		sc.Ticks(1)
	}
	sc.Ticks(E)
	healed = true
	sc.Net().Heal()
	sc.SetClockRate(m.oldLeader, 1)
	recovered, _ := sc.Recover(10 * E)
	rep := r.Finish(label, sc, recovered)
	m.lin = rep.Lin.Verdict
	r.Report("%s: old leader %d (clock at 0.2, still leads: %v) cut off, new leader %d wrote: %v; old leader answered %d/%d reads, %d stale",
		label, m.oldLeader, m.oldStillLeads, m.newLeader, m.newWrite, m.served, m.tries, m.stale)
	if canary == (core.Canaries{}) {
		r.Expect(!rep.Failed(), "%s: no invariant or checker violation (%d found)", label, len(rep.Violations))
	}
	return m
}

// safeReads is P9 with its ReadOnlyLeaseBased control.
func safeReads(env *Env) *Result {
	r := &Result{}
	safe := readFromOldLeader(env, r, "P9 read-only-safe", core.Canaries{})
	r.Expect(safe.newWrite, "P9: the majority's new leader overwrote the key")
	r.Expect(safe.served == 0, "P9: the cut-off old leader completed no ReadIndex (%d of %d)", safe.served, safe.tries)
	lease := readFromOldLeader(env, r, "P9 control lease-based", core.Canaries{LeaseBasedReads: true})
	r.Expect(lease.newWrite && lease.oldStillLeads, "P9 control: the old leader still leads after the new one wrote")
	r.Expect(lease.stale > 0, "P9 control: the lease-based old leader served stale reads (%d of %d)", lease.stale, lease.tries)
	r.Expect(lease.lin == checker.Fail, "P9 control: the checker catches it (history %v)", lease.lin)
	r.Figures = fmt.Sprintf("safe: %d/%d reads served while cut off, history %v; lease-based: %d stale of %d, history %v",
		safe.served, safe.tries, safe.lin, lease.stale, lease.tries, lease.lin)
	return r
}
