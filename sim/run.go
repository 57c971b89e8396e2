package sim

import (
	"fmt"
	"hash/fnv"
	"math/rand/v2"
	"slices"
	"sort"
	"strings"
	"time"

	"go.etcd.io/etcd/api/v3/mvccpb"

	"metastore/checker"
	"metastore/core"
)

// Options configures one simulated run. Zero values are drawn from the seed
// or take defaults.
type Options struct {
	Seed uint64
	// Nodes is the cluster size; 0 draws 3 or 5.
	Nodes int
	// Duration is the faulted safety phase in virtual time (default 30 s);
	// the liveness phase follows.
	Duration time.Duration
	Clients  int // default 5
	Keys     int // default 6
	// SnapshotEntries is the replicas' snapshot interval; 0 draws 20–300 so
	// snapshots, compaction and snapshot installs happen within a run.
	SnapshotEntries uint64
	// Canary switches on a deliberate bug (see core.Canaries).
	Canary core.Canaries
	// Engine picks the state machine's engine: "memory" (rebuilt from
	// snapshot and WAL at every restart), "durable" (an in-memory stand-in
	// that survives crashes), "rocksdb" (the real engine from Engines), or
	// "" to draw one per seed: half memory, and the durable half split
	// between the stand-in (a third) and, when Engines is set, RocksDB.
	Engine string
	// Engines opens real durable engines (nil: none; see EngineStore).
	Engines EngineStore
	// PartitionShape forces one partition shape instead of drawing among
	// them: "isolate-leader", or "isolate-pause-leader" (the cut-off leader
	// is also paused while cut off).
	PartitionShape string
	// Faults overrides the drawn fault mix; Tune edits the drawn one.
	Faults *Faults
	Tune   func(*Faults)
	// Auth runs the auth workload (sim/auth.go): auth enabled early in the
	// run, half of the KV operations as a user whose write grants change
	// while they run. Off, no request carries a user.
	Auth bool
	// VisualizeDir receives porcupine's HTML file when a history is not
	// linearizable.
	VisualizeDir string
	// Logf, if set, receives the run's log lines.
	Logf func(format string, args ...any)
}

// Report is the outcome of one run.
type Report struct {
	Seed       uint64
	Nodes      int
	Faults     Faults
	Counts     map[string]int
	Lin        checker.Result
	Violations []string
	TraceHash  uint64
	// VirtualTime is how far virtual time ran.
	VirtualTime int64
}

// Failed reports whether any check failed.
func (r *Report) Failed() bool { return len(r.Violations) > 0 }

// CountsLine prints the counters sorted by name, one line.
func (r *Report) CountsLine() string {
	names := make([]string, 0, len(r.Counts))
	for k := range r.Counts {
		names = append(names, k)
	}
	sort.Strings(names)
	var b strings.Builder
	for i, k := range names {
		if i > 0 {
			b.WriteByte(' ')
		}
		fmt.Fprintf(&b, "%s=%d", k, r.Counts[k])
	}
	return b.String()
}

// Sim is one run's world: virtual time, the cluster, its clients and the
// records the checks read.
type Sim struct {
	opts      Options
	world     *World
	rng       *rand.Rand
	faultRng  *rand.Rand
	crashRand *rand.Rand
	faults    Faults
	net       *Net
	drv       *driver
	history   checker.History
	safetyEnd int64

	counts map[string]int
	// compactAsked holds every revision a client asked to compact.
	compactAsked map[int64]bool
	violations   []string
	trace64      uint64

	leaders map[uint64]uint64 // term -> leader seen
	revLog  map[int64]revRecord
	applied map[uint64][]checker.AppliedEntry // node<<16|incarnation -> revision log
	watch   *watcher
	clients []*client
	leases  *leaseClient
	auth    *authClient // nil unless Options.Auth
	lin     checker.Result

	durableEngine  bool
	walZeroAhead   int64 // core.Config.WALZeroAheadBytes: negative is off
	walSegment     int64 // core.Config.WALSegmentBytes
	realEngine     bool  // the durable engine is a real one (Options.Engines)
	memberChanging bool  // one membership change at a time
	// obs checks invariants after every step; set only by scripted runs.
	obs *observer
}

type revRecord struct {
	hash   uint64
	writes []checker.AppliedWrite
}

func vt(t int64) string { return time.Duration(t).String() }

// Run simulates one seed end to end and checks everything it recorded.
func Run(opts Options) *Report {
	s := newSim(opts)
	defer s.drv.closeEngines()
	s.runSafety()
	s.runLiveness()
	s.check()
	return s.report()
}

func newSim(opts Options) *Sim {
	root := NewRand(opts.Seed)
	s := &Sim{opts: opts, world: NewWorld(), counts: map[string]int{}, leaders: map[uint64]uint64{},
		revLog: map[int64]revRecord{}, applied: map[uint64][]checker.AppliedEntry{}}
	s.trace64 = 14695981039346656037
	// Split in a fixed order: each component's stream is independent.
	s.rng = Split(root)
	faultDraw := Split(root)
	s.faultRng = Split(root)
	s.crashRand = Split(root)
	netRng := Split(root)
	nodeRng := Split(root)
	clientRng := Split(root)
	engineRng := Split(root) // last: drawing it changes no other stream
	if opts.Faults != nil {
		s.faults = *opts.Faults
	} else {
		s.faults = DrawFaults(faultDraw)
	}
	if opts.Tune != nil {
		opts.Tune(&s.faults)
	}
	if s.opts.Nodes == 0 {
		s.opts.Nodes = 3 + 2*s.rng.IntN(2)
	}
	if s.opts.Duration == 0 {
		s.opts.Duration = 30 * time.Second
	}
	if s.opts.Clients == 0 {
		s.opts.Clients = 5
	}
	if s.opts.Keys == 0 {
		s.opts.Keys = 6
	}
	if s.opts.SnapshotEntries == 0 {
		s.opts.SnapshotEntries = uint64(20 + s.rng.IntN(280))
	}
	// NB: from the seed, not a draw, so adding it left every other draw of
	// existing seeds as it was. Chunks of a few KiB, unaligned, keep the
	// simulated disks small while a 256 KiB segment still sees dozens of
	// them; a quarter of the seeds run without.
	s.walZeroAhead = -1
	if s.opts.Seed%4 != 0 {
		s.walZeroAhead = int64(512 + s.opts.Seed*7919%8192)
		s.count("wal_zero_ahead")
	}
	// A third of the seeds roll WAL segments (cut, truncate the zeros of
	// the closed one, release old ones) within a run.
	s.walSegment = 256 << 10
	if s.opts.Seed%3 == 2 {
		s.walSegment = int64(16<<10 + s.opts.Seed%4096)
	}
	switch s.opts.Engine {
	case "":
		s.durableEngine = s.rng.IntN(2) == 0
		s.realEngine = s.durableEngine && opts.Engines != nil && engineRng.IntN(3) != 0
	case "durable":
		s.durableEngine = true
	case "rocksdb":
		if opts.Engines == nil {
			panic("sim: Engine \"rocksdb\" needs Options.Engines")
		}
		s.durableEngine, s.realEngine = true, true
	}
	if s.realEngine {
		s.count("engine_rocksdb")
	}
	s.safetyEnd = int64(s.opts.Duration)
	s.net = NewNet(s.world, netRng, s.faults)
	s.drv = &driver{s: s, nodes: map[uint64]*node{}, snapDelivered: map[snapKey]bool{}}
	s.net.SetDeliver(s.drv.deliver)
	s.drv.nodeRng = nodeRng
	for i := 1; i <= s.opts.Nodes; i++ {
		id := uint64(i)
		s.drv.ids = append(s.drv.ids, id)
		s.drv.bootPeers = append(s.drv.bootPeers, id)
		s.drv.addNode(id)
	}
	s.compactAsked = map[int64]bool{}
	s.watch = &watcher{s: s}
	s.leases = &leaseClient{s: s, rng: Split(clientRng), revoked: map[string]int64{}}
	for i := 0; i < s.opts.Clients; i++ {
		c := &client{id: i, s: s, rng: Split(clientRng), keys: s.opts.Keys, lastValue: map[string]string{}}
		s.clients = append(s.clients, c)
	}
	// NB: split after the clients, so their streams stay as they were.
	s.watch.rng = Split(clientRng)
	if opts.Auth {
		// NB: split last, so the streams above are the same with auth off.
		s.auth = &authClient{s: s, rng: Split(root), id: s.opts.Clients + 2}
	}
	return s
}

func (s *Sim) logf(format string, args ...any) {
	if s.opts.Logf != nil {
		s.opts.Logf(format, args...)
	}
}

func (s *Sim) count(what string) { s.counts[what]++ }

func (s *Sim) violation(msg string) {
	s.violations = append(s.violations, msg)
	s.logf("VIOLATION: %s", msg)
}

// trace mixes one step into the run's trace hash: the same seed must give
// the same sequence of steps at the same virtual times.
func (s *Sim) trace(what string, node uint64) {
	h := s.trace64
	mix := func(v uint64) {
		for i := 0; i < 8; i++ {
			h ^= v & 0xff
			h *= 1099511628211
			v >>= 8
		}
	}
	mix(uint64(s.world.Now))
	mix(node)
	for i := 0; i < len(what); i++ {
		h ^= uint64(what[i])
		h *= 1099511628211
	}
	s.trace64 = h
}

// leaderOfTerm records a leader sighting: raft allows one leader per term.
func (s *Sim) leaderOfTerm(term, id uint64) {
	if prev, ok := s.leaders[term]; ok && prev != id {
		s.violation(fmt.Sprintf("two leaders in term %d: %d and %d", term, prev, id))
		return
	}
	if _, ok := s.leaders[term]; !ok {
		s.leaders[term] = id
		s.count("leader_elected")
	}
}

// onEvents receives every revision a replica applies. Every replica must
// apply the same changes at the same revision (committed prefixes agree).
func (s *Sim) onEvents(n *node, rev int64, evs []*mvccpb.Event) {
	h := fnv.New64a()
	var writes []checker.AppliedWrite
	st := n.rep.Store()
	for _, e := range evs {
		kv := e.GetKv()
		del := e.GetType() == mvccpb.Event_DELETE
		// The version each change replaced, as a watcher with prev_kv gets
		// it: every replica must find the same, and a put's create
		// revision and version (which the key index gives without reading
		// it) must follow from it.
		prev := st.EventPrevKV(e)
		if msg := badPrev(e, prev); msg != "" {
			s.violation(fmt.Sprintf("node %d at revision %d: %s", n.id, rev, msg))
		}
		fmt.Fprintf(h, "%d|%q|%q|%v|%d|%q;", kv.GetModRevision(), kv.GetKey(), kv.GetValue(), del,
			prev.GetModRevision(), prev.GetValue())
		w := checker.AppliedWrite{Revision: rev, Key: string(kv.GetKey()), Delete: del}
		if !del {
			w.Value = string(kv.GetValue())
		}
		writes = append(writes, w)
	}
	sum := h.Sum64()
	if prev, ok := s.revLog[rev]; ok {
		if prev.hash != sum {
			s.violation(fmt.Sprintf("node %d applied %v at revision %d, another replica applied %v", n.id, writes, rev, prev.writes))
		}
	} else {
		s.revLog[rev] = revRecord{hash: sum, writes: writes}
	}
	key := n.id<<16 | uint64(n.host.Incarnation)
	s.applied[key] = append(s.applied[key], checker.AppliedEntry{Index: uint64(rev), Hash: sum})
	s.watch.onEvents(n, rev, writes)
}

// badPrev says what is wrong with event e given prev, the version it
// replaced, or "".
func badPrev(e *mvccpb.Event, prev *mvccpb.KeyValue) string {
	kv := e.GetKv()
	switch {
	case prev == nil && e.GetType() == mvccpb.Event_DELETE:
		return fmt.Sprintf("delete of %q replaced nothing", kv.GetKey())
	case prev == nil && (kv.GetVersion() != 1 || kv.GetCreateRevision() != kv.GetModRevision()):
		return fmt.Sprintf("put %v created the key, yet has version %d", kv, kv.GetVersion())
	case prev == nil:
	case string(prev.GetKey()) != string(kv.GetKey()) || prev.GetModRevision() >= kv.GetModRevision():
		return fmt.Sprintf("event %v replaced %v", kv, prev)
	case e.GetType() == mvccpb.Event_PUT && (kv.GetVersion() != prev.GetVersion()+1 || kv.GetCreateRevision() != prev.GetCreateRevision()):
		return fmt.Sprintf("put %v follows %v", kv, prev)
	}
	return ""
}

// runSafety runs the clients under the fault mix for the safety phase.
func (s *Sim) runSafety() {
	s.logf("replay: go test ./sim -run '^TestSim$' -seed=%d -v", s.opts.Seed)
	s.logf("SEED=%d nodes=%d snapshot_entries=%d duration=%s clients=%d keys=%d durable_engine=%v real_engine=%v auth=%v wal_zero_ahead=%d wal_segment=%d", s.opts.Seed, s.opts.Nodes,
		s.opts.SnapshotEntries, s.opts.Duration, s.opts.Clients, s.opts.Keys, s.durableEngine, s.realEngine, s.opts.Auth, s.walZeroAhead, s.walSegment)
	for _, line := range strings.Split(strings.TrimSpace(s.faults.String()), "\n") {
		s.logf("  %s", line)
	}
	for _, id := range s.drv.ids {
		s.drv.boot(s.drv.nodes[id])
	}
	for _, c := range s.clients {
		c.start()
	}
	s.leases.start()
	if s.auth != nil {
		s.auth.start()
	}
	s.watch.attach(s.drv.nodes[s.drv.ids[0]], 1)
	s.watch.scheduleRewind()
	s.scheduleFaults()
	s.world.RunUntil(s.safetyEnd)
}

// liveness bounds: after every fault heals, a leader, a write and a read
// must happen, and the replicas converge, within this much virtual time.
const livenessBound = 30 * Second

// runLiveness heals every fault and demands progress within a bound.
func (s *Sim) runLiveness() {
	s.healAll()
	w := s.world
	deadline := w.Now + livenessBound
	// Let outstanding client operations finish or time out.
	w.RunUntil(w.Now + requestTimeout + Second)
	wrote := false
	inflight := false
	for w.Now < deadline {
		w.RunUntil(w.Now + 100*Millisecond)
		lead := s.leader()
		if lead == 0 {
			continue
		}
		if !wrote && !inflight {
			inflight = true
			s.livenessProbe(lead, func(ok bool) { wrote = wrote || ok; inflight = false })
			continue
		}
		if wrote && s.converged() {
			s.count("liveness_ok")
			s.awaitExpiry()
			s.watch.finish()
			return
		}
	}
	switch {
	case s.leader() == 0:
		s.violation(fmt.Sprintf("liveness: no leader %s after all faults healed", vt(livenessBound)))
	case !wrote:
		s.violation(fmt.Sprintf("liveness: no write and linearizable read succeeded %s after all faults healed", vt(livenessBound)))
	default:
		s.violation(fmt.Sprintf("liveness: replicas did not converge %s after all faults healed: %s", vt(livenessBound), s.convergence()))
	}
	s.watch.finish()
}

// livenessProbe writes through the leader and reads linearizably from
// another member; both are recorded in the history too.
func (s *Sim) livenessProbe(lead uint64, done func(bool)) {
	clientID := s.opts.Clients
	put := checker.Input{Kind: checker.Put, Key: kvKeyPrefix + "0", Value: fmt.Sprintf("live-%d", s.world.Now)}
	s.doAt(clientID, put, lead, func(out *checker.Output) {
		if out == nil {
			done(false)
			return
		}
		reader := s.drv.ids[0]
		if reader == lead {
			reader = s.drv.ids[1]
		}
		get := checker.Input{Kind: checker.Get, Key: put.Key}
		s.doAt(clientID, get, reader, func(out *checker.Output) {
			ok := out != nil && out.Found && out.KV.Value >= "" && out.Revision >= 1
			done(ok)
		})
	})
}

func (s *Sim) leader() uint64 {
	var lead uint64
	for _, id := range s.drv.ids {
		n := s.drv.nodes[id]
		if n.alive() && n.rep.Status().Role == "leader" {
			lead = id
		}
	}
	return lead
}

// converged: every member is up, at the same applied index, with the same
// state hash and the same HashKV.
func (s *Sim) converged() bool {
	// The hashes read the whole store: compare the applied indexes first.
	for _, id := range s.drv.ids {
		n := s.drv.nodes[id]
		if !n.alive() || n.rep.Store().AppliedIndex() != s.drv.nodes[s.drv.ids[0]].rep.Store().AppliedIndex() {
			return false
		}
	}
	var hash, hashKV uint32
	for i, id := range s.drv.ids {
		n := s.drv.nodes[id]
		h := n.rep.Store().Hash()
		kv, _, _, err := n.rep.Store().HashKV(0)
		if err != nil {
			return false
		}
		if i == 0 {
			hash, hashKV = h, kv
		} else if h != hash || kv != hashKV {
			return false
		}
	}
	return true
}

func (s *Sim) convergence() string {
	var parts []string
	for _, id := range s.drv.ids {
		n := s.drv.nodes[id]
		if !n.alive() {
			parts = append(parts, fmt.Sprintf("%d:down", id))
			continue
		}
		st := n.rep.Status()
		parts = append(parts, fmt.Sprintf("%d:%s term=%d applied=%d hash=%08x", id, st.Role, st.Term, st.Applied, n.rep.Store().Hash()))
	}
	return strings.Join(parts, " ")
}

// check runs every checker over what the run recorded.
func (s *Sim) check() {
	ops := s.history.Ops()
	applied := s.appliedLog()
	acked := checker.AckedWritesFromHistory(ops)
	if err := checker.AckedWritesExactlyOnce(acked, applied); err != nil {
		s.violation(err.Error())
	}
	if err := checker.RevisionsRespectRealTime(ops); err != nil {
		s.violation(err.Error())
	}
	if err := checker.AppliedPrefixes(s.applied); err != nil {
		s.violation(err.Error())
	}
	if final, ok := s.finalState(); ok {
		if err := checker.Durable(acked, applied, final); err != nil {
			s.violation(err.Error())
		}
	}
	s.watch.check(applied)
	s.leases.check()
	resolved := checker.ResolveUnknown(ops, applied)
	background, ok := checker.Background(applied, func(k string) bool { return strings.HasPrefix(k, kvKeyPrefix) },
		s.opts.Clients+1, len(ops))
	if !ok {
		s.violation("a revision changed several keys outside the KV workload; the model cannot check it")
	}
	res, err := checker.Linearizable(append(resolved, background...), checker.Options{VisualizeDir: s.opts.VisualizeDir,
		Name: fmt.Sprintf("seed-%d", s.opts.Seed)})
	s.opts2lin(res, err)
}

func (s *Sim) opts2lin(res checker.Result, err error) {
	s.lin = res
	if err != nil {
		s.violation(fmt.Sprintf("linearizability check: %v", err))
		return
	}
	switch res.Verdict {
	case checker.Fail:
		s.violation("history is " + res.String())
	case checker.Inconclusive:
		s.violation("linearizability check inconclusive: " + res.String())
	}
}

func sortStrings(s []string) { slices.Sort(s) }

// appliedLog is the cluster's history of writes in revision order.
func (s *Sim) appliedLog() []checker.AppliedWrite {
	var applied []checker.AppliedWrite
	revs := make([]int64, 0, len(s.revLog))
	for rev := range s.revLog {
		revs = append(revs, rev)
	}
	slices.Sort(revs)
	for _, rev := range revs {
		applied = append(applied, s.revLog[rev].writes...)
	}
	return applied
}

// finalState reads every key from a converged member.
func (s *Sim) finalState() (map[string]checker.KV, bool) {
	if !s.converged() {
		return nil, false
	}
	n := s.drv.nodes[s.drv.ids[0]]
	final := map[string]checker.KV{}
	resp, err := n.rep.Store().Range(rangeAll())
	if err != nil {
		s.violation(fmt.Sprintf("final read: %v", err))
		return nil, false
	}
	for _, kv := range resp.Kvs {
		final[string(kv.Key)] = kvOf(kv)
	}
	return final, true
}

func (s *Sim) report() *Report {
	st := s.net.Stats
	s.counts["net_sent"] = int(st.Sent)
	s.counts["net_dropped"] = int(st.Dropped)
	s.counts["net_duplicated"] = int(st.Duplicated)
	s.counts["net_blocked"] = int(st.BlockedByPartition)
	s.counts["ops"] = s.history.Len()
	s.counts["ops_checked"] = s.lin.Checked
	return &Report{Seed: s.opts.Seed, Nodes: s.opts.Nodes, Faults: s.faults, Counts: s.counts, Lin: s.lin,
		Violations: s.violations, TraceHash: s.trace64, VirtualTime: s.world.Now}
}
