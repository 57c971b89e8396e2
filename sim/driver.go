package sim

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"time"

	"go.etcd.io/etcd/api/v3/mvccpb"
	"go.etcd.io/raft/v3/raftpb"

	"metastore/core"
	"metastore/core/disk"
	"metastore/core/engine"
	"metastore/engines/memory"
)

// tickInterval is the replica's tick, as in production (--heartbeat-interval).
const tickInterval = 100 * time.Millisecond

// node is one simulated member: its machine (Host, Disk) outlives crashes,
// its replica does not.
type node struct {
	id   uint64
	host *Host
	disk *Disk
	rng  *rand.Rand // draws request IDs for the replica (reseeded per boot)
	rep  *core.Replica

	busyUntil int64 // the node is inside a step (fsync) until then
	pausedTil int64 // a paused process does nothing until then
	// joined: added by a membership change (boots empty, waits for the
	// leader); removed: taken out of the cluster, never started again.
	joined, removed bool
	// member: seen in the cluster's configuration; booted: a joiner's
	// first boot was scheduled.
	member, booted bool
	// tickPending: a tick is waiting for the node to be free.
	tickPending bool
	crashedAt   []int64 // virtual time of each crash, by incarnation

	installs, trimsPast uint64 // the replica's counters as last counted
	coalescedAcks       uint64
	coalescedApps       uint64
	// appending is the job out on the node's append stage; its sync
	// returns at appendSynced, and AppendDone runs after a handoff delay
	// drawn from stageRng (the stage goroutine waking the loop).
	appending    *core.AppendJob
	appendSynced int64
	stageRng     *rand.Rand
	// crashInStage: the fault schedule asked for a crash inside the next
	// append job (or engine-held snapshot job, or file for sending).
	crashInStage bool
	// engineSyncedOut: an engine-held snapshot job synced the engine and
	// its completion has not reached the replica; sendFileOut counts the
	// files for sending being made (sim/snapshot.go).
	engineSyncedOut bool
	sendFileOut     int
	// leading and observedApplied are what observe last saw.
	leading         bool
	observedApplied uint64
	// engine survives crashes when the run uses a durable engine (the
	// stand-in or a real one, sim/engine*.go); nil for the memory engine,
	// rebuilt from snapshot and WAL at every boot.
	engine crashEngine
}

// driver steps the replicas through the same methods production uses, on
// the simulator's virtual time.
type driver struct {
	s     *Sim
	nodes map[uint64]*node
	// ids are the voting members as the simulation last saw them change:
	// clients talk to these. bootPeers are the founding members.
	ids       []uint64
	bootPeers []uint64
	// confApplied is the applied index of the configuration ids follows;
	// confVoters and confLearners are that configuration.
	confApplied              uint64
	confVoters, confLearners []uint64
	nodeRng                  *rand.Rand
	// snapDelivered marks MsgSnaps that reached their destination.
	snapDelivered map[snapKey]bool
}

// addNode creates a machine for member id: its host, clock rate and disk.
func (d *driver) addNode(id uint64) *node {
	nr := Split(d.nodeRng)
	h := NewHost(id, d.s.faults.DrawClockRate(nr))
	n := &node{id: id, host: h, rng: nr, disk: NewDisk(disk.NewMem(), h, Split(nr), d.s.faults)}
	n.stageRng = Split(nr)
	d.nodes[id] = n
	d.s.net.AddNode(h)
	return n
}

// syncMembers follows the cluster's configuration as the leader that has
// applied the most entries knows it (applied configurations only move
// forward): clients talk to the voters; a machine that was a member and is
// no longer one is stopped for good; a machine added as a learner boots.
func (d *driver) syncMembers(st core.Status) {
	if st.Applied < d.confApplied {
		return
	}
	d.confApplied = st.Applied
	// Most leader steps change nothing: walk the machines only when the
	// configuration moved (a joiner boots when it first appears in it).
	if slices.Equal(st.Voters, d.confVoters) && slices.Equal(st.Learners, d.confLearners) {
		return
	}
	d.confVoters, d.confLearners = slices.Clone(st.Voters), slices.Clone(st.Learners)
	in := map[uint64]bool{}
	for _, id := range st.Voters {
		in[id] = true
	}
	for _, id := range st.Learners {
		in[id] = true
	}
	for _, m := range d.machines() {
		switch {
		case in[m.id]:
			m.member = true
			if m.joined && !m.alive() && !m.booted {
				m.booted = true
				d.s.world.After(1, func() { d.boot(m) })
			}
		case m.member:
			m.removed = true
			d.s.count("member_stopped")
			d.s.world.After(1, func() {
				if m.alive() {
					d.crash(m)
				}
			})
		}
	}
	if !slices.Equal(d.ids, st.Voters) {
		d.ids = slices.Clone(st.Voters)
	}
}

// machines lists every node not removed from the cluster, in id order
// (voters and learners, running or down).
func (d *driver) machines() []*node {
	var out []*node
	for id := uint64(1); id <= uint64(len(d.nodes)); id++ {
		if n := d.nodes[id]; n != nil && !n.removed {
			out = append(out, n)
		}
	}
	return out
}

// alive reports whether the node's process is running.
func (n *node) alive() bool { return n.rep != nil }

// departed reports whether something the node emitted at virtual time at,
// during incarnation inc, really left it: not if the node crashed before
// (the step was cut short by the crash).
func (n *node) departed(inc int, at int64) bool {
	if inc < n.host.Incarnation {
		return n.crashedAt[inc] >= at
	}
	return true
}

// exec runs fn on the node's replica at the current virtual time, then
// drains Ready. A busy or paused node takes it later, in arrival order.
func (d *driver) exec(n *node, what string, fn func(r *core.Replica)) {
	w := d.s.world
	if !n.alive() {
		return
	}
	if free := max(n.busyUntil, n.pausedTil); free > w.Now {
		inc := n.host.Incarnation
		w.Schedule(free, func() {
			if n.host.Incarnation == inc {
				d.exec(n, what, fn)
			}
		})
		return
	}
	d.s.trace(what, n.id)
	n.host.BeginStep(w.Now)
	defer d.recoverPanic(n, what)
	fn(n.rep)
	d.drain(n)
}

// recoverPanic turns a replica panic into a violation and a crash: raft
// panics when it finds its own log lost or corrupted, which is a finding,
// and the run goes on with the node down as a crashed process would be.
func (d *driver) recoverPanic(n *node, what string) {
	if p := recover(); p != nil {
		d.s.violation(fmt.Sprintf("node %d panicked during %s at %s: %v", n.id, what, vt(d.s.world.Now), p))
		d.s.count("panic")
		d.crash(n)
	}
}

// drain handles Ready and runs the apply stage until raft is quiet, hands
// the next append job to the node's append stage, then keeps the node busy
// for the virtual time its own fsyncs took (the stage's do not count).
func (d *driver) drain(n *node) {
	if !d.handle(n) {
		return
	}
	d.startSnapshot(n) // snapshot hook: a background stage (sim/snapshot.go)
	d.observe(n)
	d.startAppend(n)
	end := n.host.Cursor()
	n.busyUntil = end
	if end <= d.s.world.Now {
		d.stepDone(n, end)
		return
	}
	inc := n.host.Incarnation
	d.s.world.Schedule(end, func() {
		if n.host.Incarnation == inc {
			d.stepDone(n, end)
		}
	})
}

// stepDone ends a step's busy window at end: its fsyncs have returned.
func (d *driver) stepDone(n *node, end int64) {
	n.disk.CompleteSyncsUntil(end)
	if n.engine != nil {
		n.engine.stepDone()
	}
}

// handle runs HandleReady and the apply stage (on the driving goroutine,
// as production does) until neither has work, starting the next append
// job before each apply. It returns false when the
// replica failed-stop and the node went down.
func (d *driver) handle(n *node) bool {
	for n.rep != nil {
		if err := n.rep.Failed(); err != nil {
			d.failStop(n, err)
			return false
		}
		if n.rep.HasReady() {
			if err := n.rep.HandleReady(); err != nil {
				d.failStop(n, err)
				return false
			}
			continue
		}
		// As production does: the append stage gets its next job before
		// the apply, so its fsync overlaps the apply.
		d.startAppend(n)
		job := n.rep.NextApply()
		if job == nil {
			return true
		}
		if err := n.rep.Apply(job); err != nil {
			d.failStop(n, err)
			return false
		}
	}
	return false
}

// failStop takes down a replica that failed-stop. The process exits after
// the fsyncs that returned before the failing one: those are durable.
func (d *driver) failStop(n *node, err error) {
	d.s.count("failstop")
	d.s.logf("node %d fail-stop at %s: %v", n.id, vt(d.s.world.Now), err)
	d.crashAt(n, n.host.Cursor())
	d.restartLater(n)
}

// startAppend runs the replica's next append job, if the stage is free, on
// the stage's own timeline: from the step's cursor, its fsyncs take their
// drawn latency without making the node busy. The job's writes are durable
// when its sync returns; AppendDone runs on the node after a handoff delay,
// so a crash can fall before the sync (appended, not synced) or after it
// (synced, not applied), and crashAt counts both.
func (d *driver) startAppend(n *node) {
	if n.appending != nil {
		return
	}
	job := n.rep.NextAppend()
	if job == nil {
		return
	}
	h := n.host
	stepStart, stepCost := h.StepStart, h.StepCost
	start := h.Cursor()
	h.BeginStep(start)
	_ = job.Run() // an error comes back through AppendDone
	synced := h.Cursor()
	h.StepStart, h.StepCost = stepStart, stepCost
	n.appending, n.appendSynced = job, synced
	if synced-start > slowWork {
		d.s.count("slow_fsync")
	}
	inc := h.Incarnation
	handoff := synced + handoffMin + n.stageRng.Int64N(handoffSpread)
	d.s.world.Schedule(handoff, func() {
		if h.Incarnation != inc {
			return
		}
		n.disk.CompleteSyncsUntil(d.s.world.Now)
		d.exec(n, "append-done", func(r *core.Replica) {
			n.appending = nil
			_ = r.AppendDone(job) // a failure shows in handle
		})
	})
	if n.crashInStage {
		n.crashInStage = false
		d.crashInJob(n, start, synced, handoff)
	}
}

// crashInJob crashes the node at a time drawn inside its append job: while
// its writes are unsynced ([start, synced)) or once they are durable but
// not yet taken back ([synced, handoff)), each half the time when both
// windows exist.
func (d *driver) crashInJob(n *node, start, synced, handoff int64) {
	r := d.s.faultRng
	at := synced + r.Int64N(handoff-synced)
	if synced > start && r.IntN(2) == 0 {
		at = start + r.Int64N(synced-start)
	}
	d.crashAtTime(n, at)
}

// crashBetween crashes the node at a time drawn in [from, to].
func (d *driver) crashBetween(n *node, from, to int64) {
	d.crashAtTime(n, from+d.s.faultRng.Int64N(to-from+1))
}

func (d *driver) crashAtTime(n *node, at int64) {
	inc := n.host.Incarnation
	d.s.world.Schedule(at, func() {
		if n.host.Incarnation == inc && n.alive() && d.s.world.Now < d.s.safetyEnd {
			d.s.crashAndRestart(n)
		}
	})
}

// The handoff from the append stage back to the node's loop: a goroutine
// wake-up, and the loop finishing what it was doing.
const (
	handoffMin    = 20 * Microsecond
	handoffSpread = 500 * Microsecond
)

// slowWork is etcd's threshold for warning about a slow fsync or apply.
const slowWork = 100 * Millisecond

// observe records what the checks need after every step.
// NB: Status is costly and most steps change nothing it reports: a leader
// keeps its term while it leads, and its configuration changes only with
// what it applies, so it is read when either may have moved.
func (d *driver) observe(n *node) {
	leading := n.rep.Leading()
	if applied := n.rep.Store().AppliedIndex(); leading && (!n.leading || applied != n.observedApplied) {
		st := n.rep.Status()
		d.s.leaderOfTerm(st.Term, n.id)
		d.syncMembers(st)
		n.observedApplied = applied
	}
	n.leading = leading
	if installs := n.rep.SnapshotsInstalled(); installs > n.installs {
		d.s.counts["snapshot_install"] += int(installs - n.installs)
		n.installs = installs
	}
	if trims := n.rep.LogTrimsPastSnapshot(); trims > n.trimsPast {
		d.s.counts["log_trimmed_past_snapshot"] += int(trims - n.trimsPast)
		n.trimsPast = trims
	}
	if acks, apps := n.rep.Coalesced(); acks > n.coalescedAcks || apps > n.coalescedApps {
		d.s.counts["coalesced_acks"] += int(acks - n.coalescedAcks)
		d.s.counts["coalesced_appends"] += int(apps - n.coalescedApps)
		n.coalescedAcks, n.coalescedApps = acks, apps
	}
	d.s.observeStep(n)
}

// boot opens the replica on the node's disk with a fresh memory engine, as
// a restarted process would.
func (d *driver) boot(n *node) {
	w := d.s.world
	if n.removed {
		return
	}
	n.host.Restart()
	n.host.BeginStep(w.Now)
	defer d.recoverPanic(n, "boot")
	cfg := core.Config{
		ID:              n.id,
		Peers:           d.bootPeers,
		Join:            n.joined,
		Dir:             "/data",
		Disk:            n.disk,
		Clock:           n.host,
		Network:         &snapReporter{ep: d.s.net.Endpoint(n.id), d: d, n: n},
		Engine:          d.engineFor(n),
		Rand:            Split(n.rng),
		SnapshotEntries: d.s.opts.SnapshotEntries,
		CatchUpEntries:  d.s.opts.SnapshotEntries / 2,
		// 8 to 68 bytes an entry, from the drawn interval (no draw of
		// its own): some runs snapshot and compact by bytes, some by
		// entries.
		LogBytes: d.s.opts.SnapshotEntries * (8 + d.s.opts.SnapshotEntries%61),
		// 1 to 16 entries: the raft log is packed, and read back, in
		// every run (the default 2048 is more than the sim's logs hold).
		LogTailEntries: 1 + int(d.s.opts.SnapshotEntries%16),
		// A quarter of LogBytes: memory-engine logs are trimmed behind
		// the applied index between snapshots, past them in some runs
		// (log_trimmed_past_snapshot).
		LogKeepBytes:      d.s.opts.SnapshotEntries * (8 + d.s.opts.SnapshotEntries%61) / 4,
		WALSegmentBytes:   d.s.walSegment,
		WALZeroAheadBytes: d.s.walZeroAhead,
		Pipeline:          true,
		Canary:            d.s.opts.Canary,
	}
	rep, err := core.Open(cfg)
	if err != nil && (errors.Is(err, ErrSyncFailed) || errors.Is(err, disk.ErrNoSpace)) {
		// An injected I/O error while starting: the process exits, as it
		// would in production, and its supervisor starts it again.
		d.s.count("boot_failed")
		d.crash(n)
		d.restartLater(n)
		return
	}
	if err != nil {
		// A replica that cannot recover its own disk is a finding: the disk
		// only ever lost what was never synced.
		d.s.violation(fmt.Sprintf("node %d cannot restart at %s: %v", n.id, vt(w.Now), err))
		return
	}
	n.rep = rep
	n.installs, n.trimsPast, n.coalescedAcks, n.coalescedApps = 0, 0, 0, 0
	if rep.Status().MarkerRepaired { // snapshot hook: crash between snapshot file and marker
		d.s.count("snapshot_marker_repaired")
	}
	rep.SetEventSink(func(rev int64, evs []*mvccpb.Event) { d.s.onEvents(n, rev, evs) })
	d.s.count("boot")
	d.drain(n)
	d.scheduleTick(n, n.host.Incarnation)
}

// restartLater starts a process that exited on its own (fail-stop) again,
// as its supervisor would, after a restart delay.
func (d *driver) restartLater(n *node) {
	delay := 100*Millisecond + d.s.faultRng.Int64N(int64(d.s.faults.RestartDelayMax)+1)
	d.s.world.After(delay, func() {
		if !n.alive() {
			d.boot(n)
		}
	})
}

// engineFor returns the engine a booting replica opens: the node's durable
// engine as the crash left it, or an empty memory engine.
func (d *driver) engineFor(n *node) engine.Engine {
	if !d.s.durableEngine {
		return memory.New()
	}
	if n.engine == nil {
		n.engine = d.newDurableEngine(n)
	}
	return n.engine
}

func (d *driver) scheduleTick(n *node, inc int) {
	d.s.world.After(n.host.VirtualFor(tickInterval), func() {
		if n.host.Incarnation != inc || !n.alive() {
			return
		}
		// Like a time.Ticker, a node that is busy or paused gets one late
		// tick, not every tick it missed.
		if !n.tickPending {
			n.tickPending = true
			d.exec(n, "tick", func(r *core.Replica) {
				n.tickPending = false
				r.Tick()
			})
		}
		d.scheduleTick(n, inc)
	})
}

// deliver hands a raft message to its destination.
func (d *driver) deliver(to uint64, m *raftpb.Message) {
	n := d.nodes[to]
	if n == nil || !n.alive() {
		return
	}
	if m.GetType() == raftpb.MsgSnap {
		d.snapDelivered[snapKey{m.GetFrom(), to, m.GetSnapshot().GetMetadata().GetIndex()}] = true
	}
	if m.GetType() == raftpb.MsgSnap { // snapshot hook: store the file it brought (sim/snapshot.go)
		d.exec(n, "step", func(r *core.Replica) { d.stepSnapshot(n, r, m) })
		return
	}
	if max(n.busyUntil, n.pausedTil) > d.s.world.Now {
		d.exec(n, "step", func(r *core.Replica) { _ = r.Step(m) })
		return
	}
	d.stepNow(n, m) // exec's free path, without a closure per message
}

func (d *driver) stepNow(n *node, m *raftpb.Message) {
	d.s.trace("step", n.id)
	n.host.BeginStep(d.s.world.Now)
	defer d.recoverPanic(n, "step")
	_ = n.rep.Step(m)
	d.drain(n)
}

// snapReportDelay is how long the sending side waits before it reports a
// snapshot's fate to raft, as the production transport does once the
// stream ends. Until then raft sends that follower nothing else.
const snapReportDelay = Second

type snapKey struct{ from, to, index uint64 }

// snapReporter is the node's network: the simulated endpoint, plus the
// snapshot-status reports a real transport gives raft.
type snapReporter struct {
	ep *Endpoint
	d  *driver
	n  *node
}

func (s *snapReporter) Send(msgs []*raftpb.Message) {
	for _, m := range msgs {
		if m.GetType() != raftpb.MsgSnap {
			continue
		}
		key := snapKey{s.n.id, m.GetTo(), m.GetSnapshot().GetMetadata().GetIndex()}
		delete(s.d.snapDelivered, key)
		inc, n, d := s.n.host.Incarnation, s.n, s.d
		d.s.world.Schedule(n.host.Cursor()+snapReportDelay, func() {
			if n.host.Incarnation != inc {
				return
			}
			ok := d.snapDelivered[key]
			d.exec(n, "snapshot-report", func(r *core.Replica) { r.ReportSnapshot(key.to, ok) })
		})
	}
	s.ep.Send(s.d.attachSnapshotFiles(s.n, msgs)) // snapshot hook: files travel with MsgSnaps (sim/snapshot.go)
}

// crash kills the node's process: everything not yet durable on its disk
// may be lost, messages and answers still inside its step never leave.
func (d *driver) crash(n *node) { d.crashAt(n, d.s.world.Now) }

// crashAt kills the node as of virtual time at (a fail-stop exits at the
// cursor of its failing step, after the fsyncs that returned).
func (d *driver) crashAt(n *node, at int64) {
	// NB: the replica is dropped, not closed: closing syncs the WAL, and a
	// process that crashes syncs nothing (its disk dies with it below).
	n.rep = nil
	n.crashedAt = append(n.crashedAt, at)
	n.host.Crash()
	d.s.net.Crashed(n.id, at)
	// Fsyncs that finished before the crash instant are durable; the rest
	// of the busy window's never completed.
	n.disk.CompleteSyncsUntil(at)
	keep := d.s.faults.KeepUnsynced
	if n.disk.Pending() > 0 {
		// The crash cut a step short. The simulated disk holds the step's
		// writes from its start, but a write issued after an fsync that had
		// not returned never happened: keep nothing unsynced (a legal
		// crash), so a later write cannot outlive an earlier lost one.
		keep = 0
	}
	lost := n.disk.Crash(d.s.crashRand, keep)
	n.disk = lost.Disk
	if n.engine != nil {
		var engLost bool
		n.engine, engLost = n.engine.crash(d.s.faults.KeepUnsynced, at)
		if engLost {
			d.s.count("crash_engine_lossy")
		}
	}
	if lost.Lossy {
		d.s.count("crash_lossy")
	}
	d.s.count("crash")
	if n.appending != nil {
		if at < n.appendSynced {
			d.s.count("crash_append_unsynced")
		} else {
			d.s.count("crash_synced_unapplied")
		}
		n.appending = nil
	}
	if n.engineSyncedOut {
		d.s.count("crash_engine_synced_unmarked")
	}
	if n.sendFileOut > 0 {
		d.s.count("crash_send_file_out")
	}
	n.engineSyncedOut, n.sendFileOut = false, 0
	n.busyUntil, n.pausedTil = 0, 0
	n.tickPending = false
	n.crashInStage = false
	n.leading = false
	d.s.watch.onCrash(n)
}
