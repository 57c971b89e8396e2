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

	installs uint64
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

// drain handles Ready until raft is quiet, then keeps the node busy for the
// virtual time its fsyncs took; their durability completes at the end.
func (d *driver) drain(n *node) {
	for n.rep != nil && n.rep.HasReady() {
		if err := n.rep.HandleReady(); err != nil {
			d.s.count("failstop")
			d.s.logf("node %d fail-stop at %s: %v", n.id, vt(d.s.world.Now), err)
			// The process exits after the fsyncs that returned before the
			// failing one: those are durable.
			d.crashAt(n, n.host.Cursor())
			d.restartLater(n)
			return
		}
	}
	if n.rep == nil {
		return
	}
	d.observe(n)
	end := n.host.Cursor()
	n.busyUntil = end
	inc := n.host.Incarnation
	complete := func() {
		if n.host.Incarnation == inc {
			n.disk.CompleteSyncs()
			if n.engine != nil {
				n.engine.stepDone()
			}
		}
	}
	if end > d.s.world.Now {
		d.s.world.Schedule(end, complete)
	} else {
		complete()
	}
}

// observe records what the checks need after every step.
func (d *driver) observe(n *node) {
	st := n.rep.Status()
	if st.Role == "leader" {
		d.s.leaderOfTerm(st.Term, n.id)
		d.syncMembers(st)
	}
	if st.SnapshotsInstalled > n.installs {
		d.s.counts["snapshot_install"] += int(st.SnapshotsInstalled - n.installs)
	}
	n.installs = st.SnapshotsInstalled
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
		WALSegmentBytes: 256 << 10,
		Canary:          d.s.opts.Canary,
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
	n.installs = 0
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
	d.exec(n, "step", func(r *core.Replica) { _ = r.Step(m) })
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
	s.ep.Send(msgs)
}

// crash kills the node's process: everything not yet durable on its disk
// may be lost, messages and answers still inside its step never leave.
func (d *driver) crash(n *node) { d.crashAt(n, d.s.world.Now) }

// crashAt kills the node as of virtual time at (a fail-stop exits at the
// cursor of its failing step, after the fsyncs that returned).
func (d *driver) crashAt(n *node, at int64) {
	if n.rep != nil {
		_ = n.rep.Close()
		n.rep = nil
	}
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
	n.busyUntil, n.pausedTil = 0, 0
	n.tickPending = false
	d.s.watch.onCrash(n)
}
