package scenarios

import (
	"fmt"
	"time"

	"metastore/core"
	"metastore/sim"
)

// faultScenarios is the fault library: disk, process, network and
// membership faults under a steady client load. Each compares the faulted
// run with a baseline where the fault is off.
func faultScenarios() []Scenario {
	return []Scenario{
		{ID: "F1", Name: "a leader with a slow fsync slows writes but stays correct",
			Property: "fsync of 200–500 ms on the leader: the p99 write latency rises against the baseline (writes to followers commit without the leader's disk), the history stays linearizable; spurious elections counted",
			Run:      slowFsync(true)},
		{ID: "F2", Name: "a follower with a slow fsync does not slow the cluster",
			Property: "fsync of 200–500 ms on one follower: the leader commits with the other, median latency stays near the baseline; linearizable",
			Run:      slowFsync(false)},
		{ID: "F3", Name: "a leader whose disk fills up fail-stops and the cluster goes on",
			Property: "disk full on the leader for 6E: it fail-stops, the others elect a leader and keep acknowledging writes, nothing acknowledged is lost",
			Run:      diskFull},
		{ID: "F4", Name: "an fsync error fail-stops a member which restarts and catches up",
			Property: "an fsync error is never retried: the member exits, restarts from its disk and converges; linearizable and durable",
			Run:      fsyncError},
		{ID: "F5", Name: "every member crashes at once and the cluster recovers",
			Property: "all members crash (unsynced writes lost) and restart: a leader within budget, every acknowledged write survives",
			Run:      crashAll},
		{ID: "F6", Name: "a rolling restart keeps the cluster available",
			Property: "each member restarted in turn: at most one election per restart, each recovery within 5E, writes acknowledged throughout",
			Run:      rollingRestart},
		{ID: "F7", Name: "flapping partitions leave the history linearizable",
			Property: "a member cut off and healed every few ticks for 300 ticks: linearizable, recovers within budget; elections against the calm baseline",
			Run:      flappingPartitions},
		{ID: "F8", Name: "a follower cut off past compaction catches up by snapshot",
			Property: "a follower cut off while the leader compacts its log catches up by installing a snapshot (control: without compaction it catches up from the log)",
			Run:      snapshotCatchUp},
		{ID: "F9", Name: "membership changes under faults keep one consistent cluster",
			Property: "add a learner, promote it, remove a cut-off voter, then replace another member, all under load: the configuration ends as asked, linearizable",
			Run:      membershipUnderFaults},
	}
}

// loadedRun is one run under a steady load of three clients.
type loadedRun struct {
	sc        *sim.Script
	leader    uint64
	elections int // elections after the load started
	rep       *sim.Report
}

// underLoad starts a loaded cluster, runs fault (which advances the run),
// heals, and finishes with every check.
func underLoad(env *Env, r *Result, label string, o sim.ScriptOptions, fault func(sc *sim.Script, lead uint64)) loadedRun {
	if o.Clients == 0 {
		o.Clients = 3
	}
	sc := env.Script(o)
	lr := loadedRun{sc: sc, leader: awaitLeader(r, label, sc)}
	sc.StartLoad()
	before := sc.Figures().Elections
	fault(sc, lr.leader)
	lr.elections = sc.Figures().Elections - before
	sc.Net().Heal()
	recovered, _ := sc.Recover(20 * E)
	lr.rep = r.FinishClean(label, sc, recovered)
	return lr
}

// slowFsync is F1 (on the leader) and F2 (on a follower).
func slowFsync(onLeader bool) func(env *Env) *Result {
	return func(env *Env) *Result {
		r := &Result{}
		who := "follower"
		if onLeader {
			who = "leader"
		}
		var base, slow [2]time.Duration
		b := underLoad(env, r, "baseline", sim.ScriptOptions{}, func(sc *sim.Script, lead uint64) {
			sc.Ticks(20 * E)
			base[0], base[1], _ = sc.WriteLatency()
			base[0], base[1] = base[0].Round(time.Millisecond), base[1].Round(time.Millisecond)
		})
		s := underLoad(env, r, "slow fsync on the "+who, sim.ScriptOptions{}, func(sc *sim.Script, lead uint64) {
			id := lead
			if !onLeader {
				id = sc.Follower(lead)
			}
			sc.TuneDisk(id, func(f *sim.Faults) { f.SyncLatencyMin, f.SyncLatencyMax = 200*time.Millisecond, 500*time.Millisecond })
			sc.Ticks(20 * E)
			slow[0], slow[1], _ = sc.WriteLatency()
			slow[0], slow[1] = slow[0].Round(time.Millisecond), slow[1].Round(time.Millisecond)
			sc.TuneDisk(id, func(f *sim.Faults) { f.SyncLatencyMin, f.SyncLatencyMax = 500*time.Microsecond, 500*time.Microsecond })
		})
		r.Report("write latency p50/p99: baseline %v/%v, slow fsync on the %s %v/%v; spurious elections %d (baseline %d)",
			base[0], base[1], who, slow[0], slow[1], s.elections, b.elections)
		if onLeader {
			// NB: with the pipelined write path the leader replicates before
			// its own fsync, and two followers are a quorum: a write sent to a
			// follower commits and is answered without waiting for the
			// leader's disk. Only the writes the leader itself answers wait
			// for it, so the tail rises, not the median.
			r.Expect(slow[1] > 10*base[1], "F1: p99 write latency rises with the leader's slow fsync (%v vs %v)", slow[1], base[1])
		} else {
			r.Expect(slow[0] < 2*base[0]+time.Millisecond, "F2: median write latency stays near the baseline (%v vs %v)", slow[0], base[0])
		}
		r.Figures = fmt.Sprintf("p50/p99 %v/%v vs baseline %v/%v; spurious elections %d", slow[0], slow[1], base[0], base[1], s.elections)
		return r
	}
}

// diskFull is F3: the leader's disk fills up for 3E.
func diskFull(env *Env) *Result {
	r := &Result{}
	var okDuring, failstops int
	var newLeader uint64
	lr := underLoad(env, r, "disk full on the leader", sim.ScriptOptions{}, func(sc *sim.Script, lead uint64) {
		sc.Ticks(E)
		ok0 := sc.LoadOK()
		sc.DiskFull(lead, true)
		// Long enough for the clients that were waiting on the failed
		// leader to time out (3 s) and find the new one.
		sc.Ticks(6 * E)
		newLeader = sc.Leader()
		okDuring = sc.LoadOK() - ok0
		failstops = sc.Count("failstop")
		sc.DiskFull(lead, false)
		sc.Ticks(5 * E)
	})
	r.Expect(failstops >= 1, "F3: the full leader fail-stopped (%d fail-stops)", failstops)
	r.Expect(newLeader != 0 && newLeader != lr.leader, "F3: the others elected leader %d", newLeader)
	r.Expect(okDuring > 0, "F3: writes and reads kept being acknowledged while the disk was full (%d)", okDuring)
	r.Figures = fmt.Sprintf("fail-stops %d, new leader %d, %d ops acked during the 6E window, boots %d", failstops, newLeader, okDuring, lr.rep.Counts["boot"])
	return r
}

// fsyncError is F4: one fsync error on a follower.
func fsyncError(env *Env) *Result {
	r := &Result{}
	var failstops int
	var f uint64
	lr := underLoad(env, r, "fsync error on a follower", sim.ScriptOptions{}, func(sc *sim.Script, lead uint64) {
		sc.Ticks(E)
		f = sc.Follower(lead)
		sc.TuneDisk(f, func(x *sim.Faults) { x.SyncErrorProb = 1 })
		sc.Ticks(E)
		sc.TuneDisk(f, func(x *sim.Faults) { x.SyncErrorProb = 0 })
		failstops = sc.Count("failstop")
		sc.Ticks(5 * E)
	})
	r.Expect(failstops >= 1, "F4: follower %d fail-stopped on its fsync error (%d)", f, failstops)
	r.Expect(lr.rep.Counts["liveness_ok"] == 1, "F4: it restarted and the replicas converged")
	r.Figures = fmt.Sprintf("fail-stops %d, boots %d (3 at start), elections %d", failstops, lr.rep.Counts["boot"], lr.elections)
	return r
}

// crashAll is F5: every member crashes at once, losing unsynced writes.
func crashAll(env *Env) *Result {
	r := &Result{}
	f := sim.NoFaults()
	f.KeepUnsynced = 0.3
	var ticks int
	var ok bool
	lr := underLoad(env, r, "crash all", sim.ScriptOptions{Faults: &f}, func(sc *sim.Script, lead uint64) {
		sc.Ticks(3 * E)
		for _, id := range sc.IDs() {
			sc.Crash(id)
		}
		sc.Ticks(E)
		for _, id := range sc.IDs() {
			sc.Restart(id)
		}
		ticks, ok = sc.Recover(10 * E)
	})
	r.Expect(ok, "F5: a leader takes a write %d ticks after the restart (budget %d)", ticks, 10*E)
	r.Expect(lr.rep.Counts["crash"] >= 3, "F5: every member crashed (%d crashes)", lr.rep.Counts["crash"])
	r.Figures = fmt.Sprintf("recovered in %d ticks, crashes %d (%d lossy), acked writes durable", ticks, lr.rep.Counts["crash"], lr.rep.Counts["crash_lossy"])
	return r
}

// rollingRestart is F6: restart each member in turn.
func rollingRestart(env *Env) *Result {
	r := &Result{}
	var worst int
	allOK := true
	lr := underLoad(env, r, "rolling restart", sim.ScriptOptions{}, func(sc *sim.Script, lead uint64) {
		for _, id := range sc.IDs() {
			sc.Crash(id)
			sc.Ticks(E)
			sc.Restart(id)
			t, ok := sc.Recover(5 * E)
			worst, allOK = max(worst, t), allOK && ok
			sc.Ticks(2 * E)
		}
	})
	r.Expect(allOK, "F6: every restart recovered within 5E (worst %d ticks)", worst)
	r.Expect(lr.elections <= 3, "F6: at most one election per restart (%d)", lr.elections)
	r.Figures = fmt.Sprintf("elections %d for 3 restarts, worst recovery %d ticks, %d ops acked", lr.elections, worst, lr.rep.Counts["op_ok"])
	return r
}

// flappingPartitions is F7: a member cut and healed every few ticks.
func flappingPartitions(env *Env) *Result {
	r := &Result{}
	calm := underLoad(env, r, "calm baseline", sim.ScriptOptions{}, func(sc *sim.Script, lead uint64) { sc.Ticks(300) })
	flap := underLoad(env, r, "flapping", sim.ScriptOptions{}, func(sc *sim.Script, lead uint64) {
		ids := sc.IDs()
		for i := 0; sc.Tick() < 300+int64(2*E); i++ {
			sc.Net().IsolateNode(ids[i%len(ids)])
			sc.Ticks(4 + (i*7)%18)
			sc.Net().Heal()
			sc.Ticks(2 + i%3)
		}
	})
	r.Expect(flap.elections > calm.elections, "F7: the flapping cut leaders off: %d elections against %d calm", flap.elections, calm.elections)
	r.Expect(flap.rep.Counts["liveness_ok"] == 1, "F7: the cluster recovered after the flapping stopped")
	r.Figures = fmt.Sprintf("elections %d vs %d calm; ops acked %d vs %d calm", flap.elections, calm.elections,
		flap.rep.Counts["op_ok"], calm.rep.Counts["op_ok"])
	return r
}

// snapshotCatchUp is F8, with its control: the same cut without
// compaction catches up from the log.
func snapshotCatchUp(env *Env) *Result {
	r := &Result{}
	var sendFiles, dumps int
	run := func(label string, snapEntries uint64, engine string) int {
		var installs int
		underLoad(env, r, label, sim.ScriptOptions{SnapshotEntries: snapEntries, Engine: engine}, func(sc *sim.Script, lead uint64) {
			f := sc.Follower(lead)
			sc.Net().IsolateNode(f)
			// The load's clients stall on the cut-off member; these writes
			// make sure the log moves past several compactions.
			writeN(sc, lead, "f8-", 100)
			sc.Ticks(15 * E)
			sc.Net().Heal()
			sc.Until(10*E, func() bool { return status(sc, f).Applied >= status(sc, sc.Leader()).Applied })
			installs = sc.Count("snapshot_install")
			if engine == "durable" {
				sendFiles, dumps = sc.Count("snapshot_send_file"), sc.Count("snapshot_written")
			}
		})
		return installs
	}
	with := run("compacting every 20 entries", 20, "")
	without := run("control: no compaction", 0, "")
	// On a durable engine no snapshot holds the store: the leader makes
	// the follower's file from its engine when raft sends the snapshot.
	durable := run("durable engine, compacting every 20 entries", 20, "durable")
	r.Expect(with >= 1, "F8: the cut-off follower installed a snapshot (%d)", with)
	r.Expect(without == 0, "F8 control: without compaction it caught up from the log (%d snapshots)", without)
	r.Expect(durable >= 1 && sendFiles >= 1 && dumps == 0,
		"F8 durable engine: the follower installed a snapshot (%d) from a file made to send it (%d), no snapshot wrote the store (%d)", durable, sendFiles, dumps)
	r.Figures = fmt.Sprintf("snapshot installs %d (control without compaction: %d; durable engine: %d, from %d files made to send)",
		with, without, durable, sendFiles)
	return r
}

// membershipUnderFaults is F9.
func membershipUnderFaults(env *Env) *Result {
	r := &Result{}
	var steps []string
	var voters []uint64
	lr := underLoad(env, r, "membership under faults", sim.ScriptOptions{Canary: core.Canaries{}}, func(sc *sim.Script, lead uint64) {
		cut := sc.Follower(lead)
		sc.Net().IsolateNode(cut)
		step := func(what string, do func(), done func() bool) {
			do()
			t, ok := sc.Until(10*E, done)
			steps = append(steps, fmt.Sprintf("%s in %d ticks (%v)", what, t, ok))
			r.Expect(ok, "F9: %s within 10E", what)
		}
		has := func(ids []uint64, id uint64) bool {
			for _, x := range ids {
				if x == id {
					return true
				}
			}
			return false
		}
		var l uint64
		step("add learner", func() { l = sc.AddLearner() }, func() bool { _, ls := sc.Members(); return has(ls, l) })
		sc.Ticks(3 * E)
		step(fmt.Sprintf("promote %d", l), func() { sc.Promote(l) }, func() bool { vs, _ := sc.Members(); return has(vs, l) })
		step(fmt.Sprintf("remove cut-off %d", cut), func() { sc.Remove(cut) }, func() bool { vs, _ := sc.Members(); return len(vs) > 0 && !has(vs, cut) })
		sc.Net().Heal()
		// Replace another member: add its successor, promote it, remove it.
		old := sc.Follower(sc.Leader(), l)
		var n uint64
		step("add successor", func() { n = sc.AddLearner() }, func() bool { _, ls := sc.Members(); return has(ls, n) })
		sc.Ticks(3 * E)
		step(fmt.Sprintf("promote %d", n), func() { sc.Promote(n) }, func() bool { vs, _ := sc.Members(); return has(vs, n) })
		step(fmt.Sprintf("remove %d", old), func() { sc.Remove(old) }, func() bool { vs, _ := sc.Members(); return len(vs) > 0 && !has(vs, old) })
		voters, _ = sc.Members()
	})
	r.Report("F9: %v; voters now %v", steps, voters)
	r.Expect(len(voters) == 3, "F9: three voters at the end (%v)", voters)
	r.Figures = fmt.Sprintf("voters %v after add/promote/remove twice; %d elections; %d ops acked", voters, lr.elections, lr.rep.Counts["op_ok"])
	return r
}
