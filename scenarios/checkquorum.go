package scenarios

import (
	"fmt"

	"metastore/core"
	"metastore/sim"
)

// isolation is what P4 and P5 measure while a leader is cut off.
type isolation struct {
	oldLeader, newLeader uint64
	stepDownTicks        int  // ticks until the old leader stopped leading
	steppedDown          bool // within the isolation
	electTicks           int  // ticks until the majority had a new leader
	oldWritesOK          int  // writes the old leader acknowledged after its isolation
	oldReadsOK           int  // linearizable reads it answered after its isolation
	oldWrites, oldReads  int
	dualLeaderTicks      int
	stillLeader          bool // the old leader claims to lead at the end of the isolation
}

// isolateLeader cuts the leader off for isolateTicks while clients keep
// writing and reading through it, and writing through the majority.
func isolateLeader(env *Env, r *Result, label string, canary core.Canaries, isolateTicks int) isolation {
	sc := env.Script(sim.ScriptOptions{Canary: canary})
	var m isolation
	m.oldLeader = awaitLeader(r, label, sc)
	sc.Put(m.oldLeader, "x", "before", nil)
	sc.Ticks(E)
	start := sc.Tick()
	dualBefore := sc.Figures().DualLeaderTicks
	// Answers that arrive after the heal come from a member that rejoined
	// the majority; only those during the isolation count against it.
	healed := false
	sc.Net().IsolateNode(m.oldLeader)
	r.Report("%s: isolate leader %d (term %d) for %d ticks", label, m.oldLeader, status(sc, m.oldLeader).Term, isolateTicks)
	// Every E/2 ticks a client writes and reads through the old leader; the
	// majority's leader takes writes too, so a stale read would show.
	for i := 0; i < 2*isolateTicks/E; i++ {
		m.oldWrites++
		sc.Put(m.oldLeader, "x", fmt.Sprintf("old-%d", i), func(o sim.Outcome) {
			if o == sim.OK && !healed {
				m.oldWritesOK++
			}
		})
		m.oldReads++
		sc.Get(m.oldLeader, "x", func(o sim.Outcome, _ string) {
			if o == sim.OK && !healed {
				m.oldReadsOK++
			}
		})
		if lead := sc.Leader(); lead != 0 && lead != m.oldLeader {
			sc.Put(lead, "x", fmt.Sprintf("new-%d", i), nil)
		}
		for range E / 2 {
			sc.Ticks(1)
			if !m.steppedDown && status(sc, m.oldLeader).Role != "leader" {
				m.steppedDown, m.stepDownTicks = true, int(sc.Tick()-start)
			}
			if m.newLeader == 0 {
				if lead := sc.Leader(); lead != 0 && lead != m.oldLeader {
					m.newLeader, m.electTicks = lead, int(sc.Tick()-start)
				}
			}
		}
	}
	if m.newLeader == 0 {
		// Split votes between the two remaining members can take a few
		// more rounds: the claim is that they elect one, not how fast.
		sc.Until(10*E, func() bool {
			if lead := sc.Leader(); lead != 0 && lead != m.oldLeader {
				m.newLeader, m.electTicks = lead, int(sc.Tick()-start)
				return true
			}
			return false
		})
	}
	m.stillLeader = status(sc, m.oldLeader).Role == "leader"
	m.dualLeaderTicks = sc.Figures().DualLeaderTicks - dualBefore
	sc.Net().Heal()
	healed = true
	recovered, _ := sc.Recover(10 * E)
	r.FinishClean(label, sc, recovered)
	r.Report("%s: old leader stepped down after %d ticks (%v), new leader %d after %d ticks, dual-leader ticks %d, old leader acked %d/%d writes and answered %d/%d reads while cut off",
		label, m.stepDownTicks, m.steppedDown, m.newLeader, m.electTicks, m.dualLeaderTicks, m.oldWritesOK, m.oldWrites, m.oldReadsOK, m.oldReads)
	return m
}

// checkQuorumIsolatedLeader is P4 with its control P5.
func checkQuorumIsolatedLeader(env *Env) *Result {
	r := &Result{}
	on := isolateLeader(env, r, "P4 checkquorum-on", core.Canaries{}, 5*E)
	r.Expect(on.steppedDown && on.stepDownTicks <= 2*E, "P4: the isolated leader stepped down within 2E (after %d ticks)", on.stepDownTicks)
	r.Expect(on.newLeader != 0, "P4: the majority elected a new leader (%d after %d ticks)", on.newLeader, on.electTicks)
	r.Expect(on.oldWritesOK == 0, "P4: the old leader acknowledged no write after its isolation (%d of %d)", on.oldWritesOK, on.oldWrites)

	off := isolateLeader(env, r, "P5 checkquorum-off", core.Canaries{NoCheckQuorum: true}, 5*E)
	r.Expect(off.stillLeader && !off.steppedDown, "P5: with CheckQuorum off the old leader still leads after %d ticks cut off", 5*E)
	r.Expect(off.newLeader != 0 && off.dualLeaderTicks > 0, "P5: two members claim to lead for %d ticks", off.dualLeaderTicks)
	r.Expect(off.oldReadsOK == 0 && off.oldWritesOK == 0,
		"P5: ReadIndex still keeps the old leader from answering: %d/%d reads, %d/%d writes acked (history linearizable)",
		off.oldReadsOK, off.oldReads, off.oldWritesOK, off.oldWrites)
	r.Figures = fmt.Sprintf("on: step-down after %d ticks, new leader after %d, dual-leader ticks %d; off: still leader, dual-leader ticks %d, stale reads 0/%d",
		on.stepDownTicks, on.electTicks, on.dualLeaderTicks, off.dualLeaderTicks, off.oldReads)
	return r
}
