package sim

// Fault model of the network (what Net injects, and why raft must survive):
//
//   - latency: each link has a base latency plus a per-message exponential
//     tail; a few messages are delayed much longer, which reorders them;
//   - loss and duplication, per message (raft retries and is idempotent);
//   - holds: a link queues every arriving message and releases them all at
//     once, in random order, at the end of the hold (a stalled TCP buffer);
//   - partitions: a matrix of blocked (from, to) links, consulted when a
//     message is sent and again when it arrives (net_partition.go);
//   - crashes: a message departs at its sender's Host.Cursor(); if the
//     sender crashed at or before that departure time it is never delivered
//     (the process died before writing it to the socket), while messages that
//     departed earlier stay in flight. Messages to a dead node are dropped.

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"slices"

	"go.etcd.io/raft/v3/raftpb"
	"google.golang.org/protobuf/proto"
)

// NetStats counts what the network did with messages, for the run summary.
// Every message passed to Send ends in exactly one of Delivered, Dropped,
// BlockedByPartition, DroppedCrashedSender, DroppedDeadReceiver or
// DroppedUnknown, except duplicates, which add one more outcome each.
type NetStats struct {
	Sent                 uint64 // messages passed to Send
	Delivered            uint64 // handed to the deliver func (copies count)
	Dropped              uint64 // lost by the link's drop probability
	Duplicated           uint64 // messages sent twice
	BlockedByPartition   uint64 // blocked at send or at arrival
	DroppedCrashedSender uint64 // sender crashed at or before departure
	DroppedDeadReceiver  uint64 // receiver dead on arrival
	DroppedUnknown       uint64 // no such node
	Held                 uint64 // arrivals queued by a hold (then released)
}

func (s NetStats) String() string {
	return fmt.Sprintf("sent=%d delivered=%d dropped=%d duplicated=%d blocked=%d crashed_sender=%d dead_receiver=%d unknown=%d held=%d",
		s.Sent, s.Delivered, s.Dropped, s.Duplicated, s.BlockedByPartition,
		s.DroppedCrashedSender, s.DroppedDeadReceiver, s.DroppedUnknown, s.Held)
}

// DeliverFunc receives a message at its arrival time (World.Now). It owns m.
type DeliverFunc func(to uint64, m *raftpb.Message)

// Net is the whole cluster's network. Not safe for concurrent use.
type Net struct {
	// Stats are the counters so far; read them, do not write them.
	Stats NetStats
	// Partition describes the current partition ("none" when healed).
	Partition string

	world   *World
	faults  Faults
	topo    *rand.Rand // link parameters and endpoint streams
	ctl     *rand.Rand // release order of held messages
	deliver DeliverFunc

	ids     []uint64 // sorted
	hosts   map[uint64]*Host
	eps     map[uint64]*Endpoint
	links   map[linkKey]*link
	blocked map[linkKey]bool
	epoch   map[uint64]int     // bumped by Crashed
	crashAt map[epochKey]int64 // crash time of (node, epoch)
}

// linkKey names the link from one node to another; node ids in a
// simulation are small, so both fit one word (a map keyed by a word hashes
// on a fast path, and every message looks its link up twice).
type linkKey uint64

func lk(from, to uint64) linkKey { return linkKey(from<<32 | to) }

func (k linkKey) from() uint64 { return uint64(k) >> 32 }
func (k linkKey) to() uint64   { return uint64(k) & (1<<32 - 1) }

type epochKey struct {
	id    uint64
	epoch int
}

// flight is one copy of a message on its way; it is its own arrival event.
type flight struct {
	from, to uint64
	epoch    int   // sender's Net epoch at send
	depart   int64 // sender's Host.Cursor() at send
	msg      *raftpb.Message
	net      *Net
	timer    Timer
}

func (f *flight) fire() { f.net.arrive(f) }

// NewNet returns an empty network on w with the link faults of f. It takes
// two streams from r at once and never touches r again.
func NewNet(w *World, r *rand.Rand, f Faults) *Net {
	return &Net{
		Partition: "none",
		world:     w,
		faults:    f,
		topo:      Split(r),
		ctl:       Split(r),
		hosts:     map[uint64]*Host{},
		eps:       map[uint64]*Endpoint{},
		links:     map[linkKey]*link{},
		blocked:   map[linkKey]bool{},
		epoch:     map[uint64]int{},
		crashAt:   map[epochKey]int64{},
	}
}

// SetDeliver installs the function called for every message that arrives.
// It must be set before the first message arrives.
func (n *Net) SetDeliver(fn DeliverFunc) { n.deliver = fn }

// AddNode attaches h to the network, giving it its own random stream and
// drawing the parameters of its links to every node already attached (and
// to itself). Add nodes in a fixed order. Adding an id twice panics.
func (n *Net) AddNode(h *Host) {
	id := h.ID
	if _, ok := n.hosts[id]; ok {
		panic(fmt.Sprintf("sim: node %d added twice", id))
	}
	if id == 0 || id >= 1<<32 {
		panic(fmt.Sprintf("sim: node id %d does not fit a link key", id))
	}
	n.hosts[id] = h
	n.eps[id] = &Endpoint{net: n, id: id, rng: Split(n.topo)}
	n.ids = append(n.ids, id)
	slices.Sort(n.ids)
	for _, other := range n.ids {
		n.links[lk(id, other)] = &link{LinkParams: n.drawLink()}
		if other != id {
			n.links[lk(other, id)] = &link{LinkParams: n.drawLink()}
		}
	}
}

// RemoveNode detaches id: messages to it are dropped as unknown from now on.
// Its links (and their parameters) are forgotten; adding it back draws new
// ones.
func (n *Net) RemoveNode(id uint64) {
	if _, ok := n.hosts[id]; !ok {
		return
	}
	delete(n.hosts, id)
	delete(n.eps, id)
	n.ids = slices.DeleteFunc(n.ids, func(x uint64) bool { return x == id })
	for k := range n.links {
		if k.from() == id || k.to() == id {
			delete(n.links, k)
		}
	}
}

// Nodes returns the attached node ids, sorted. The caller owns the slice.
func (n *Net) Nodes() []uint64 { return slices.Clone(n.ids) }

// Endpoint returns node id's side of the network (a core.Network); nil if
// id was never added.
func (n *Net) Endpoint(id uint64) *Endpoint { return n.eps[id] }

// Crashed tells the network that node id crashed at virtual time at (which
// may be earlier than Now, inside the node's busy window). Messages its
// current incarnation sent with a departure time >= at are never delivered;
// messages sent afterwards belong to the next incarnation. Call it exactly
// once per crash.
func (n *Net) Crashed(id uint64, at int64) {
	n.crashAt[epochKey{id, n.epoch[id]}] = at
	n.epoch[id]++
}

// Endpoint is one node's network interface; it implements core.Network.
type Endpoint struct {
	net *Net
	id  uint64
	rng *rand.Rand // per-message draws of this sender
}

var _ interface{ Send([]*raftpb.Message) } = (*Endpoint)(nil)

// Send copies each message (the caller keeps ownership of msgs) and puts it
// on the wire at the sender's Host.Cursor(). It never blocks.
func (e *Endpoint) Send(msgs []*raftpb.Message) {
	n := e.net
	h := n.hosts[e.id]
	if h == nil { // removed from the network
		n.Stats.Sent += uint64(len(msgs))
		n.Stats.DroppedUnknown += uint64(len(msgs))
		return
	}
	depart := h.Cursor()
	if depart < n.world.Now {
		panic(fmt.Sprintf("sim: node %d sends at cursor %d before now %d (BeginStep not called?)", e.id, depart, n.world.Now))
	}
	for _, m := range msgs {
		n.Stats.Sent++
		to := m.GetTo()
		l := n.links[lk(e.id, to)]
		switch {
		case !h.Alive:
			n.Stats.DroppedCrashedSender++
			continue
		case l == nil:
			n.Stats.DroppedUnknown++
			continue
		case n.blocked[lk(e.id, to)]:
			n.Stats.BlockedByPartition++
			continue
		case chance(e.rng, l.DropProb):
			n.Stats.Dropped++
			continue
		}
		copies := 1
		if chance(e.rng, l.DupProb) {
			copies = 2
			n.Stats.Duplicated++
		}
		for range copies {
			f := &flight{
				from: e.id, to: to, epoch: n.epoch[e.id], depart: depart,
				msg: cloneMessage(m), net: n,
			}
			n.world.scheduleCall(depart+l.latency(e.rng), &f.timer, f)
		}
	}
}

// arrive runs at a flight's arrival time (or at the end of a hold).
func (n *Net) arrive(f *flight) {
	if at, ok := n.crashAt[epochKey{f.from, f.epoch}]; ok && f.depart >= at {
		n.Stats.DroppedCrashedSender++
		return
	}
	if n.blocked[lk(f.from, f.to)] {
		n.Stats.BlockedByPartition++
		return
	}
	l := n.links[lk(f.from, f.to)]
	h := n.hosts[f.to]
	if l == nil || h == nil {
		n.Stats.DroppedUnknown++
		return
	}
	if l.heldUntil > n.world.Now {
		n.Stats.Held++
		l.held = append(l.held, f)
		return
	}
	if !h.Alive {
		n.Stats.DroppedDeadReceiver++
		return
	}
	n.Stats.Delivered++
	n.deliver(f.to, f.msg)
}

// cloneMessage deep-copies m for one delivery, as the wire would, without
// proto.Clone's reflection: one allocation holds the message and its
// scalars, one its entries, one their bytes. A MsgSnap's snapshot, rare and
// large, goes through proto.Clone. A network message has no Responses.
func cloneMessage(m *raftpb.Message) *raftpb.Message {
	b := &msgBox{sc: msgScalars{
		typ: m.GetType(), to: m.GetTo(), from: m.GetFrom(), term: m.GetTerm(), logTerm: m.GetLogTerm(),
		index: m.GetIndex(), commit: m.GetCommit(), vote: m.GetVote(), rejectHint: m.GetRejectHint(),
		reject: m.GetReject(),
	}}
	c, sc := &b.m, &b.sc
	c.Context = bytes.Clone(m.Context)
	if m.Type != nil {
		c.Type = &sc.typ
	}
	c.To, c.From, c.Term = keep(m.To, &sc.to), keep(m.From, &sc.from), keep(m.Term, &sc.term)
	c.LogTerm, c.Index, c.Commit = keep(m.LogTerm, &sc.logTerm), keep(m.Index, &sc.index), keep(m.Commit, &sc.commit)
	c.Vote, c.RejectHint = keep(m.Vote, &sc.vote), keep(m.RejectHint, &sc.rejectHint)
	if m.Reject != nil {
		c.Reject = &sc.reject
	}
	if m.Snapshot != nil {
		c.Snapshot = proto.Clone(m.Snapshot).(*raftpb.Snapshot)
	}
	if len(m.Entries) == 0 {
		return c
	}
	size := 0
	for _, e := range m.Entries {
		size += len(e.Data)
	}
	data := make([]byte, 0, size)
	ents := make([]entryBox, len(m.Entries))
	c.Entries = make([]*raftpb.Entry, len(m.Entries))
	for i, e := range m.Entries {
		eb := &ents[i]
		eb.term, eb.index, eb.typ = e.GetTerm(), e.GetIndex(), e.GetType()
		if e.Term != nil {
			eb.e.Term = &eb.term
		}
		if e.Index != nil {
			eb.e.Index = &eb.index
		}
		if e.Type != nil {
			eb.e.Type = &eb.typ
		}
		if e.Data != nil {
			data = append(data, e.Data...)
			eb.e.Data = data[len(data)-len(e.Data) : len(data) : len(data)]
		}
		c.Entries[i] = &eb.e
	}
	return c
}

// keep returns v where the original field was set, nil where it was not.
func keep(orig, v *uint64) *uint64 {
	if orig == nil {
		return nil
	}
	return v
}

// msgBox and entryBox hold a clone and the scalars its pointer fields
// point at, so each takes one allocation.
type msgBox struct {
	m  raftpb.Message
	sc msgScalars
}

type msgScalars struct {
	typ                                                      raftpb.MessageType
	to, from, term, logTerm, index, commit, vote, rejectHint uint64
	reject                                                   bool
}

type entryBox struct {
	e           raftpb.Entry
	term, index uint64
	typ         raftpb.EntryType
}
