package sim

import (
	"fmt"
	"slices"
	"time"

	"go.etcd.io/raft/v3/raftpb"
	"google.golang.org/protobuf/proto"

	"metastore/checker"
	"metastore/core"
)

// Script is a scripted run for the named scenarios (scenarios/): the same
// cluster, network, disks and checks as Run, but no random fault scheduler.
// The scenario decides every fault and every request, advances virtual time
// in ticks, and reads the members' status in between. An observer checks
// raft's invariants after every step (observe.go).
//
// Like Run, a Script is deterministic for a seed once raft's election
// jitter is pinned (cryptotest.SetGlobalRandom). Not safe for concurrent
// use.
type Script struct {
	s   *Sim
	obs *observer

	// Ops counts the outcomes of the script's own requests.
	OpsOK, OpsFailed, OpsUnknown int
	nextClient                   int
	loadOn                       bool
}

// ScriptOptions configures a scripted run; zero values take calm defaults.
type ScriptOptions struct {
	Seed  uint64
	Nodes int // default 3
	// Canary switches raft safeguards off for a control run (NoPreVote,
	// NoCheckQuorum, LeaseBasedReads).
	Canary core.Canaries
	// Faults are the background rates; default NoFaults().
	Faults *Faults
	// SnapshotEntries is the snapshot interval; default 10000 (none).
	SnapshotEntries uint64
	// Engine is the replicas' engine: "memory" (the default) or "durable"
	// (the crash-surviving stand-in, whose snapshots are engine-held).
	Engine string
	// Clients is the number of background load clients (StartLoad).
	Clients int
	Logf    func(format string, args ...any)
}

// ElectionTicks is E, the replicas' election timeout in ticks.
const ElectionTicks = 10

// TickInterval is one tick of virtual time.
const TickInterval = int64(tickInterval)

// farFuture stands for "no end yet" in the safety phase's bound; it leaves
// room for the bounds added to it.
const farFuture = int64(1) << 62

// NewScript builds the cluster; Boot starts it.
func NewScript(o ScriptOptions) *Script {
	f := NoFaults()
	if o.Faults != nil {
		f = *o.Faults
	}
	if o.Nodes == 0 {
		o.Nodes = 3
	}
	if o.SnapshotEntries == 0 {
		o.SnapshotEntries = 10000
	}
	if o.Engine == "" {
		o.Engine = "memory"
	}
	s := newSim(Options{Seed: o.Seed, Nodes: o.Nodes, Faults: &f, Canary: o.Canary, Engine: o.Engine,
		SnapshotEntries: o.SnapshotEntries, Clients: max(o.Clients, 1), Logf: o.Logf, Duration: time.Hour})
	if o.Clients == 0 {
		s.clients = nil
	}
	s.safetyEnd = farFuture
	sc := &Script{s: s, obs: newObserver(s), nextClient: s.opts.Clients + 2}
	s.obs = sc.obs
	deliver := s.drv.deliver
	s.net.SetDeliver(func(to uint64, m *raftpb.Message) {
		sc.obs.message(m)
		deliver(to, m)
	})
	return sc
}

// Boot starts every founding member and the per-tick observation.
func (sc *Script) Boot() {
	s := sc.s
	for _, id := range s.drv.ids {
		s.drv.boot(s.drv.nodes[id])
	}
	var tick func()
	tick = func() {
		sc.obs.tick()
		s.world.After(TickInterval, tick)
	}
	s.world.After(TickInterval, tick)
}

// Ticks runs n ticks of virtual time.
func (sc *Script) Ticks(n int) { sc.s.world.RunUntil(sc.s.world.Now + int64(n)*TickInterval) }

// Until runs tick by tick until cond holds, for at most budget ticks; it
// returns the ticks it ran and whether cond held.
func (sc *Script) Until(budget int, cond func() bool) (int, bool) {
	for i := 0; i <= budget; i++ {
		if cond() {
			return i, true
		}
		if i < budget {
			sc.Ticks(1)
		}
	}
	return budget, false
}

// Tick is the current virtual time in ticks.
func (sc *Script) Tick() int64 { return sc.s.world.Now / TickInterval }

// Net is the cluster's network: partitions (IsolateNode, Block, Cut, Heal)
// and holds.
func (sc *Script) Net() *Net { return sc.s.net }

// IDs lists the voters as the simulation last saw them.
func (sc *Script) IDs() []uint64 { return append([]uint64(nil), sc.s.drv.ids...) }

// Status returns member id's status; false when it is down.
func (sc *Script) Status(id uint64) (core.Status, bool) {
	n := sc.s.drv.nodes[id]
	if n == nil || !n.alive() {
		return core.Status{}, false
	}
	return n.rep.Status(), true
}

// Leader returns the member that claims to lead in the highest term, or 0.
func (sc *Script) Leader() uint64 {
	var lead, term uint64
	for _, n := range sc.s.drv.machines() {
		if !n.alive() {
			continue
		}
		if st := n.rep.Status(); st.Role == "leader" && st.Term >= term {
			lead, term = n.id, st.Term
		}
	}
	return lead
}

// Leaders lists every member that claims to lead, in id order.
func (sc *Script) Leaders() []uint64 {
	var out []uint64
	for _, n := range sc.s.drv.machines() {
		if n.alive() && n.rep.Status().Role == "leader" {
			out = append(out, n.id)
		}
	}
	return out
}

// Follower returns a live follower other than the ones in not, or 0.
func (sc *Script) Follower(not ...uint64) uint64 {
outer:
	for _, id := range sc.s.drv.ids {
		for _, x := range not {
			if x == id {
				continue outer
			}
		}
		if st, ok := sc.Status(id); ok && st.Role != "leader" {
			return id
		}
	}
	return 0
}

// Candidacies is how often member id became a candidate (a real election
// at a raised term, not a pre-vote).
func (sc *Script) Candidacies(id uint64) int { return sc.obs.node(id).Candidacies }

// Figures are a run's election figures so far.
type Figures struct {
	Elections                    int // terms in which a leader was elected
	Campaigns                    int // times any member became a candidate
	PreCampaigns                 int // times any member became a pre-candidate
	TermChanges                  int // times the cluster's highest term rose
	LeaderChanges                int // times another member took over as leader
	DualLeaderTicks              int // ticks at which two members both claimed to lead
	OpsOK, OpsFailed, OpsUnknown int
	Steps, Ticks                 int // member steps and ticks the invariants were checked at
}

// Figures returns the counts so far.
func (sc *Script) Figures() Figures {
	return Figures{
		Elections: sc.s.counts["leader_elected"], Campaigns: sc.obs.Campaigns, PreCampaigns: sc.obs.PreCampaigns,
		TermChanges: sc.obs.TermChanges, LeaderChanges: sc.obs.LeaderChanges, DualLeaderTicks: sc.obs.DualLeaderTicks,
		OpsOK: sc.OpsOK, OpsFailed: sc.OpsFailed, OpsUnknown: sc.OpsUnknown, Steps: sc.obs.Steps, Ticks: sc.obs.Ticks,
	}
}

func (f Figures) String() string {
	return fmt.Sprintf("elections=%d campaigns=%d precampaigns=%d term_changes=%d leader_changes=%d dual_leader_ticks=%d ops ok=%d failed=%d unknown=%d",
		f.Elections, f.Campaigns, f.PreCampaigns, f.TermChanges, f.LeaderChanges, f.DualLeaderTicks, f.OpsOK, f.OpsFailed, f.OpsUnknown)
}

// Outcome is what a client learned of one request.
type Outcome int

const (
	OK      Outcome = iota // acknowledged
	Failed                 // definitely not applied
	Unknown                // timed out or an ambiguous error
)

func (o Outcome) String() string { return [...]string{"ok", "failed", "unknown"}[o] }

// Put writes key=value through member id and calls done with the outcome
// (nil done is allowed). Keys are the checked workload's: the history is
// checked for linearizability at Finish.
func (sc *Script) Put(id uint64, key, value string, done func(Outcome)) {
	sc.op(id, checker.Input{Kind: checker.Put, Key: kvKeyPrefix + key, Value: value}, func(o Outcome, _ *checker.Output) {
		if done != nil {
			done(o)
		}
	})
}

// Get reads key linearizably through member id; value is "" when absent.
func (sc *Script) Get(id uint64, key string, done func(o Outcome, value string)) {
	sc.op(id, checker.Input{Kind: checker.Get, Key: kvKeyPrefix + key}, func(o Outcome, out *checker.Output) {
		if done == nil {
			return
		}
		v := ""
		if out != nil && out.Found {
			v = out.KV.Value
		}
		done(o, v)
	})
}

// op sends one request to member id, records it in the history, and
// classifies its fate as Run's clients do: a refusal or an error that
// proves the request never entered the log is Failed, silence Unknown.
func (sc *Script) op(id uint64, in checker.Input, done func(Outcome, *checker.Output)) {
	s := sc.s
	w := s.world
	client := sc.nextClient
	sc.nextClient++
	hid := s.history.Invoke(client, in, w.Now)
	finished := false
	finish := func(o Outcome, out *checker.Output) {
		if finished {
			return
		}
		finished = true
		switch o {
		case OK:
			sc.OpsOK++
		case Failed:
			sc.OpsFailed++
		default:
			sc.OpsUnknown++
		}
		done(o, out)
	}
	timeout := w.After(requestTimeout, func() {
		if !finished {
			s.history.Timeout(hid)
			finish(Unknown, nil)
		}
	})
	n := s.drv.nodes[id]
	send := s.request(in)
	if in.Kind == checker.Get {
		inner := send
		send = func(r *core.Replica, cb core.Callback) {
			inner(r, func(res core.Result) {
				if res.Err == nil {
					sc.obs.servedRead(n)
				}
				cb(res)
			})
		}
	}
	s.call(n, send, func(res core.Result, ok bool) {
		if finished {
			return
		}
		timeout.Cancel()
		switch {
		case !ok:
			s.history.Fail(hid, w.Now)
			finish(Failed, nil)
		case res.Err != nil && definiteFailure(res.Err):
			s.history.Fail(hid, w.Now)
			finish(Failed, nil)
		case res.Err != nil:
			s.history.Timeout(hid)
			finish(Unknown, nil)
		default:
			out := output(in, res)
			s.history.Return(hid, out, w.Now)
			finish(OK, &out)
		}
	})
}

// StartLoad starts the background clients (ScriptOptions.Clients): random
// KV operations against random members until StopLoad or Finish.
func (sc *Script) StartLoad() {
	if sc.loadOn {
		return
	}
	sc.loadOn = true
	sc.s.safetyEnd = farFuture
	for _, c := range sc.s.clients {
		c.start()
	}
}

// StopLoad makes the background clients stop after their current request.
func (sc *Script) StopLoad() {
	sc.s.safetyEnd = sc.s.world.Now
	sc.loadOn = false
}

// LoadOK counts the background clients' acknowledged operations so far.
func (sc *Script) LoadOK() int { return sc.s.counts["op_ok"] }

// LoadTimeouts counts the background clients' operations that timed out.
func (sc *Script) LoadTimeouts() int { return sc.s.counts["op_timeout"] }

// Crash kills member id's process (unsynced writes may be lost).
func (sc *Script) Crash(id uint64) {
	if n := sc.s.drv.nodes[id]; n != nil && n.alive() {
		sc.s.drv.crash(n)
	}
}

// Restart starts member id's process again from its disk.
func (sc *Script) Restart(id uint64) {
	if n := sc.s.drv.nodes[id]; n != nil && !n.alive() {
		sc.s.drv.boot(n)
	}
}

// Alive reports whether member id's process runs.
func (sc *Script) Alive(id uint64) bool {
	n := sc.s.drv.nodes[id]
	return n != nil && n.alive()
}

// Pause stops member id's process for the given ticks (a GC pause or
// SIGSTOP): it takes no tick, message or request until then.
func (sc *Script) Pause(id uint64, ticks int) {
	n := sc.s.drv.nodes[id]
	n.pausedTil = max(n.pausedTil, sc.s.world.Now+int64(ticks)*TickInterval)
}

// TransferLeader asks member from (the leader) to hand leadership to to.
func (sc *Script) TransferLeader(from, to uint64) {
	sc.s.drv.exec(sc.s.drv.nodes[from], "transfer", func(r *core.Replica) { r.TransferLeader(to) })
}

// Campaign makes member id start an election now.
func (sc *Script) Campaign(id uint64) {
	sc.s.drv.exec(sc.s.drv.nodes[id], "campaign", func(r *core.Replica) { _ = r.Campaign() })
}

// TuneDisk edits member id's disk fault rates (fsync latency and errors);
// they survive crashes of that disk.
func (sc *Script) TuneDisk(id uint64, tune func(*Faults)) { tune(&sc.s.drv.nodes[id].disk.faults) }

// DiskFull starts or ends a disk-full window on member id.
func (sc *Script) DiskFull(id uint64, full bool) { sc.s.drv.nodes[id].disk.SetFull(full) }

// AddLearner adds a new machine as a learner through the leader and
// returns its id; it boots empty and catches up from the leader.
func (sc *Script) AddLearner() uint64 {
	s := sc.s
	id := uint64(len(s.drv.nodes) + 1)
	s.drv.addNode(id).joined = true
	sc.member(id, "add-learner", raftpb.ConfChangeAddLearnerNode)
	return id
}

// Promote makes learner id a voter.
func (sc *Script) Promote(id uint64) { sc.member(id, "promote", raftpb.ConfChangeAddNode) }

// Remove takes member id out of the cluster; its process stops for good.
func (sc *Script) Remove(id uint64) { sc.member(id, "remove", raftpb.ConfChangeRemoveNode) }

func (sc *Script) member(id uint64, what string, t raftpb.ConfChangeType) {
	lead := sc.Leader()
	if lead == 0 {
		return
	}
	sc.s.memberChanging = false
	sc.s.proposeMember(lead, what, &raftpb.ConfChange{Type: t.Enum(), NodeId: proto.Uint64(id)})
}

// Members returns the voters and learners as the leader knows them.
func (sc *Script) Members() (voters, learners []uint64) {
	st, ok := sc.Status(sc.Leader())
	if !ok {
		return nil, nil
	}
	return st.Voters, st.Learners
}

// Count returns one of the run's counters (boot, crash, failstop,
// snapshot_install, member_promote, ...).
func (sc *Script) Count(name string) int { return sc.s.counts[name] }

// Recover runs until a leader exists and a write through it is
// acknowledged, for at most budget ticks; it returns the ticks it took.
func (sc *Script) Recover(budget int) (int, bool) {
	start := sc.Tick()
	wrote, inflight := false, false
	for sc.Tick()-start <= int64(budget) {
		if wrote {
			return int(sc.Tick() - start), true
		}
		if lead := sc.Leader(); lead != 0 && !inflight {
			inflight = true
			sc.Put(lead, "recover", fmt.Sprintf("r%d", sc.s.world.Now), func(o Outcome) {
				wrote = wrote || o == OK
				inflight = false
			})
		}
		sc.Ticks(1)
	}
	return budget, false
}

// Violations returns every violation so far: invariants, and after Finish
// the checkers'.
func (sc *Script) Violations() []string { return append([]string(nil), sc.s.violations...) }

// Finish ends the script like Run's liveness phase — every fault healed,
// a leader, a write and a read, converged replicas within a bound — then
// runs every checker over the recorded history and returns the report.
func (sc *Script) Finish() *Report {
	sc.StopLoad()
	sc.s.runLiveness()
	sc.s.check()
	return sc.s.report()
}

// SetClockRate sets member id's clock rate relative to virtual time from
// its next tick on (0.2: its clock, and so its ticks, run five times
// slower — a leader whose lease outlives its leadership).
func (sc *Script) SetClockRate(id uint64, rate float64) {
	rate = min(max(rate, 0.01), 100)
	sc.s.drv.nodes[id].host.ratePPM = int64(rate * ratePPMOne)
}

// Latency summarizes the acknowledged operations' latencies so far, in
// virtual time: the median and the 99th percentile.
func (sc *Script) Latency() (p50, p99 time.Duration, n int) {
	return sc.latency(func(checker.Kind) bool { return true })
}

// WriteLatency is Latency over the acknowledged writes only (puts, deletes,
// compare-and-swap txns): what waits for the leader's own fsync, where
// reads need only a heartbeat round.
func (sc *Script) WriteLatency() (p50, p99 time.Duration, n int) {
	return sc.latency(func(k checker.Kind) bool {
		return k == checker.Put || k == checker.Delete || k == checker.TxnCAS
	})
}

func (sc *Script) latency(keep func(checker.Kind) bool) (p50, p99 time.Duration, n int) {
	var lat []int64
	for _, op := range sc.s.history.Ops() {
		if op.Output.Status == checker.OK && keep(op.Input.Kind) {
			lat = append(lat, op.Return-op.Invoke)
		}
	}
	if len(lat) == 0 {
		return 0, 0, 0
	}
	slices.Sort(lat)
	return time.Duration(lat[len(lat)/2]), time.Duration(lat[len(lat)*99/100]), len(lat)
}
