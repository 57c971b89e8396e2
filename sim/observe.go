package sim

import (
	"fmt"
	"hash/fnv"

	"go.etcd.io/raft/v3/raftpb"
)

// observer checks raft's invariants after every step of every member and
// at every tick, and counts the election figures a scenario reports. It is
// switched on by NewScript; Run's random sweep does not pay for it.
//
// The invariants (scenario P10):
//   - at most one leader per term (the driver's leaderOfTerm already checks
//     every step; its violations land in the same report);
//   - a member's term and commit index never decrease within one
//     incarnation (a crash may lose a term that was never synced, and
//     raft does not sync a commit-only HardState);
//   - logs match: entries with the same index and term are identical on
//     every member, whenever they were seen;
//   - a new leader serves no ReadIndex before its first commit in its term:
//     every MsgReadIndexResp carries an index at or after the leader's first
//     entry of that term, and a leader that serves a script's read has
//     committed in its term.
type observer struct {
	s     *Sim
	nodes map[uint64]*observed
	// entries maps a log index to the data hash seen per term there.
	entries map[uint64]map[uint64]uint64
	// firstOfTerm is the index of the first entry a leader appended in its
	// term (the empty entry raft appends on election).
	firstOfTerm map[uint64]uint64

	violations []string
	// report receives each violation (default: the run's violations).
	report func(msg string)
	// Figures for the scenario report.
	Steps, Ticks    int    // member steps and ticks observed
	Campaigns       int    // transitions of any member into candidate
	PreCampaigns    int    // transitions into pre-candidate
	TermChanges     int    // times the highest term in the cluster rose
	LeaderChanges   int    // times a different member became leader
	DualLeaderTicks int    // ticks at which two members both claimed to lead
	maxTerm         uint64 // highest term seen
	lastLeader      uint64
	lastLeaderTerm  uint64
}

// observed is what the observer remembers of one member.
type observed struct {
	inc          int
	term, commit uint64
	role         string
	// checkedTo: the log up to here was committed when last compared, so
	// it never changes and is not compared again.
	checkedTo uint64
	// Candidacies and TermRaises count this member's own transitions.
	Candidacies, TermRaises int
}

func newObserver(s *Sim) *observer {
	return &observer{s: s, nodes: map[uint64]*observed{}, entries: map[uint64]map[uint64]uint64{},
		firstOfTerm: map[uint64]uint64{}}
}

func (o *observer) violation(msg string) {
	o.violations = append(o.violations, msg)
	if o.report != nil {
		o.report(msg)
		return
	}
	o.s.violation("invariant: " + msg)
}

// observeStep runs after every step the driver completes on a member.
func (s *Sim) observeStep(n *node) {
	if s.obs != nil {
		s.obs.step(n)
	}
}

func (o *observer) node(id uint64) *observed {
	ob := o.nodes[id]
	if ob == nil {
		ob = &observed{inc: -1}
		o.nodes[id] = ob
	}
	return ob
}

// step compares a member's status after a step with what it was before.
func (o *observer) step(n *node) {
	st := n.rep.Status()
	ob := o.node(n.id)
	at := vt(o.s.world.Now)
	o.Steps++
	if ob.inc != n.host.Incarnation {
		ob.inc, ob.term, ob.commit, ob.role = n.host.Incarnation, st.Term, st.Commit, ""
	}
	if st.Term < ob.term {
		o.violation(fmt.Sprintf("node %d term fell from %d to %d at %s", n.id, ob.term, st.Term, at))
	}
	if st.Commit < ob.commit {
		o.violation(fmt.Sprintf("node %d commit fell from %d to %d at %s", n.id, ob.commit, st.Commit, at))
	}
	if st.Term > ob.term {
		ob.TermRaises++
	}
	if st.Term > o.maxTerm {
		if o.maxTerm != 0 {
			o.TermChanges++
		}
		o.maxTerm = st.Term
	}
	if st.Role == "candidate" && (ob.role != "candidate" || st.Term > ob.term) {
		// Every new term a candidate moves to is another election it starts.
		ob.Candidacies++
		o.Campaigns++
	}
	if st.Role != ob.role {
		switch st.Role {
		case "pre-candidate":
			o.PreCampaigns++
		case "leader":
			o.becameLeader(n, st.Term)
		}
	}
	ob.term, ob.commit, ob.role = max(ob.term, st.Term), max(ob.commit, st.Commit), st.Role
}

// becameLeader records the leader's first index in its term, and counts a
// leader change when leadership moved to another member.
func (o *observer) becameLeader(n *node, term uint64) {
	if _, ok := o.firstOfTerm[term]; !ok {
		first, last := n.rep.LogBounds()
		idx := uint64(0)
		for i := last; i >= first && i > 0; i-- {
			ents, err := n.rep.LogEntries(i, i+1)
			if err != nil || len(ents) == 0 || ents[0].GetTerm() != term {
				break
			}
			idx = i
		}
		o.firstOfTerm[term] = idx
	}
	if term > o.lastLeaderTerm {
		if o.lastLeader != 0 && o.lastLeader != n.id {
			o.LeaderChanges++
		}
		o.lastLeader, o.lastLeaderTerm = n.id, term
	}
}

// tick runs once per tick interval of virtual time: it counts members that
// claim to lead at once and compares every member's new log entries.
func (o *observer) tick() {
	o.Ticks++
	leaders := 0
	for _, n := range o.s.drv.machines() {
		if !n.alive() {
			continue
		}
		if n.rep.Status().Role == "leader" {
			leaders++
		}
		o.compareLog(n)
	}
	if leaders > 1 {
		o.DualLeaderTicks++
	}
}

// compareLog checks the member's log entries since its last committed
// comparison against every entry seen before at the same index and term.
func (o *observer) compareLog(n *node) {
	ob := o.node(n.id)
	first, last := n.rep.LogBounds()
	lo := max(first, ob.checkedTo+1)
	if lo > last {
		return
	}
	ents, err := n.rep.LogEntries(lo, last+1)
	if err != nil {
		return // compacted meanwhile: the next tick starts after it
	}
	for _, e := range ents {
		h := fnv.New64a()
		fmt.Fprintf(h, "%d|", e.GetType())
		h.Write(e.GetData())
		sum := h.Sum64()
		byTerm := o.entries[e.GetIndex()]
		if byTerm == nil {
			byTerm = map[uint64]uint64{}
			o.entries[e.GetIndex()] = byTerm
		}
		if prev, ok := byTerm[e.GetTerm()]; ok && prev != sum {
			o.violation(fmt.Sprintf("logs differ: node %d holds another entry at index %d term %d", n.id, e.GetIndex(), e.GetTerm()))
		}
		byTerm[e.GetTerm()] = sum
	}
	ob.checkedTo = max(ob.checkedTo, min(n.rep.Status().Commit, last))
}

// message checks a raft message as it arrives.
func (o *observer) message(m *raftpb.Message) {
	if m.GetType() != raftpb.MsgReadIndexResp {
		return
	}
	if first, ok := o.firstOfTerm[m.GetTerm()]; ok && m.GetIndex() < first {
		o.violation(fmt.Sprintf("leader %d of term %d answered a ReadIndex at %d, before its first entry %d of the term was committed",
			m.GetFrom(), m.GetTerm(), m.GetIndex(), first))
	}
}

// servedRead checks a linearizable read a member just answered: a leader
// answers only after it committed in its term.
func (o *observer) servedRead(n *node) {
	st := n.rep.Status()
	if st.Role != "leader" {
		return
	}
	if first, ok := o.firstOfTerm[st.Term]; ok && st.Commit < first {
		o.violation(fmt.Sprintf("leader %d served a read in term %d at commit %d, before its first entry %d of the term",
			n.id, st.Term, st.Commit, first))
	}
}

// SelfTest forges one breach of each invariant into a scratch observer of
// this run's leader and returns what the observer caught: the control that
// shows the per-step checks are not vacuous. The run itself is untouched.
func (sc *Script) SelfTest() []string {
	var caught []string
	o := newObserver(sc.s)
	o.report = func(msg string) { caught = append(caught, msg) }
	n := sc.s.drv.nodes[sc.Leader()]
	if n == nil || !n.alive() {
		return nil
	}
	st := n.rep.Status()
	o.step(n)
	o.node(n.id).term += 5 // as if the member had been at a higher term
	o.step(n)
	o.node(n.id).term = st.Term
	o.node(n.id).commit += 5 // as if it had committed further
	o.step(n)
	o.compareLog(n)
	first, last := n.rep.LogBounds()
	if last >= first {
		for term := range o.entries[last] {
			o.entries[last][term]++ // another member held another entry there
		}
		o.node(n.id).checkedTo = last - 1
		o.compareLog(n)
	}
	o.firstOfTerm[st.Term] = st.Commit + 1 // the term began after the commit
	o.message(&raftpb.Message{Type: raftpb.MsgReadIndexResp.Enum(), From: &st.ID, Term: &st.Term, Index: &st.Commit})
	o.servedRead(n)
	return caught
}
