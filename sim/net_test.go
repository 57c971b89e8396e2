package sim

import (
	"fmt"
	"hash/fnv"
	"reflect"
	"testing"

	"go.etcd.io/raft/v3/raftpb"
	"google.golang.org/protobuf/proto"
)

// testNet is a world with a network of nodes 1..n that logs deliveries.
type testNet struct {
	w     *World
	net   *Net
	hosts map[uint64]*Host
	log   []string // "time from->to index", in delivery order
	got   []*raftpb.Message
}

func newTestNet(seed uint64, f Faults, n int) *testNet {
	root := NewRand(seed)
	tn := &testNet{w: NewWorld(), hosts: map[uint64]*Host{}}
	tn.net = NewNet(tn.w, Split(root), f)
	for id := uint64(1); id <= uint64(n); id++ {
		tn.hosts[id] = NewHost(id, 1)
		tn.net.AddNode(tn.hosts[id])
	}
	tn.net.SetDeliver(func(to uint64, m *raftpb.Message) {
		tn.log = append(tn.log, fmt.Sprintf("%d %d->%d %d", tn.w.Now, m.GetFrom(), to, m.GetIndex()))
		tn.got = append(tn.got, m)
	})
	return tn
}

func msg(from, to, index uint64) *raftpb.Message {
	return &raftpb.Message{
		Type: raftpb.MessageType_MsgApp.Enum(), From: proto.Uint64(from), To: proto.Uint64(to),
		Index: proto.Uint64(index), Entries: []*raftpb.Entry{{Data: []byte("x")}},
	}
}

// send sends one message from -> to inside a step starting now.
func (tn *testNet) send(from, to, index uint64) {
	h := tn.hosts[from]
	h.BeginStep(tn.w.Now)
	tn.net.Endpoint(from).Send([]*raftpb.Message{msg(from, to, index)})
}

func lossyFaults() Faults {
	f := NoFaults()
	f.NetDropProb, f.NetDupProb = 0.2, 0.05
	f.NetLatencyMin, f.NetLatencyMax, f.NetLatencyTail = 500_000, 20_000_000, 3_000_000
	f.NetDelayProb, f.NetDelayMax = 0.02, 500_000_000
	return f
}

// runTraffic sends count messages between random pairs every 100µs.
func runTraffic(seed uint64, count int) *testNet {
	tn := newTestNet(seed, lossyFaults(), 5)
	r := NewRand(seed + 1000)
	for i := range count {
		from, to := 1+r.Uint64N(5), 1+r.Uint64N(5)
		if from == to {
			to = 1 + to%5
		}
		tn.w.Schedule(int64(i)*100_000, func() { tn.send(from, to, uint64(i)) })
	}
	tn.w.RunUntil(1 << 40)
	return tn
}

func hashLog(tn *testNet) uint64 {
	h := fnv.New64a()
	for _, l := range tn.log {
		fmt.Fprintln(h, l)
	}
	fmt.Fprintln(h, tn.net.Stats)
	return h.Sum64()
}

func TestNetDeterministic(t *testing.T) {
	a, b := runTraffic(9, 3000), runTraffic(9, 3000)
	if a.net.Stats != b.net.Stats {
		t.Fatalf("stats differ: %v vs %v", a.net.Stats, b.net.Stats)
	}
	if ha, hb := hashLog(a), hashLog(b); ha != hb {
		t.Fatalf("delivery hash differs: %x vs %x", ha, hb)
	}
	if hashLog(a) == hashLog(runTraffic(10, 3000)) {
		t.Fatal("different seeds gave the same delivery hash")
	}
	s := a.net.Stats
	if s.Sent != 3000 || s.Delivered+s.Dropped != s.Sent+s.Duplicated {
		t.Fatalf("outcomes do not add up: %v", s)
	}
	// Some deliveries were reordered on their link (the delay tail).
	reordered := false
	last := map[string]uint64{}
	for _, m := range a.got {
		k := fmt.Sprint(m.GetFrom(), m.GetTo())
		if m.GetIndex() < last[k] {
			reordered = true
		}
		last[k] = max(last[k], m.GetIndex())
	}
	if !reordered {
		t.Fatal("no message was reordered")
	}
}

func TestNetDropAndDupRatesFollowLink(t *testing.T) {
	tn := newTestNet(5, lossyFaults(), 2)
	const n = 20000
	for i := range n {
		tn.w.Schedule(int64(i)*1000, func() { tn.send(1, 2, uint64(i)) })
	}
	tn.w.RunUntil(1 << 40)
	p, _ := tn.net.Link(1, 2)
	s := tn.net.Stats
	drop := float64(s.Dropped) / n
	dup := float64(s.Duplicated) / float64(n-s.Dropped)
	// Binomial sd is < 0.003 here; the seed is fixed, so these cannot flake.
	if drop < p.DropProb-0.02 || drop > p.DropProb+0.02 {
		t.Errorf("drop rate %.4f, link drop probability %.4f", drop, p.DropProb)
	}
	if dup < p.DupProb-0.01 || dup > p.DupProb+0.01 {
		t.Errorf("dup rate %.4f, link dup probability %.4f", dup, p.DupProb)
	}
	if p.DropProb < 0.1 || p.DropProb > 0.3 {
		t.Errorf("link drop %.3f not within x0.5..1.5 of 0.2", p.DropProb)
	}
	if s.Delivered != n-s.Dropped+s.Duplicated {
		t.Errorf("delivered %d, want %d", s.Delivered, n-s.Dropped+s.Duplicated)
	}
}

func TestNetCalm(t *testing.T) {
	tn := newTestNet(3, lossyFaults(), 3)
	tn.net.Calm()
	for i := range 1000 {
		tn.w.Schedule(int64(i)*1000, func() { tn.send(1, 2, uint64(i)) })
	}
	tn.w.RunUntil(1 << 40)
	if s := tn.net.Stats; s.Delivered != 1000 || s.Dropped != 0 || s.Duplicated != 0 {
		t.Fatalf("calm network: %v", s)
	}
	// Calm links keep their latency but never reorder beyond the tail.
	if p, _ := tn.net.Link(1, 2); p.LatencyBase == 0 || p.DelayProb != 0 {
		t.Fatalf("calm link %+v", p)
	}
}

func TestNetCopiesMessages(t *testing.T) {
	f := NoFaults()
	f.NetDupProb = 1
	tn := newTestNet(1, f, 2)
	m := msg(1, 2, 7)
	tn.hosts[1].BeginStep(0)
	tn.net.Endpoint(1).Send([]*raftpb.Message{m})
	m.Index = proto.Uint64(99)
	m.Entries[0].Data[0] = 'y'
	tn.w.RunUntil(Second)
	if len(tn.got) != 2 || tn.got[0] == tn.got[1] {
		t.Fatalf("want two distinct copies, got %d", len(tn.got))
	}
	for _, g := range tn.got {
		if g.GetIndex() != 7 || string(g.Entries[0].Data) != "x" {
			t.Fatalf("delivered message aliases the sender's: %v", g)
		}
	}
}

func TestNetCrashedSender(t *testing.T) {
	tn := newTestNet(1, NoFaults(), 3)
	h := tn.hosts[1]
	h.BeginStep(0)
	h.AddCost(10 * Millisecond) // an fsync inside the step
	tn.net.Endpoint(1).Send([]*raftpb.Message{msg(1, 2, 1)})
	h.AddCost(20 * Millisecond) // another one; the crash strikes during it
	tn.net.Endpoint(1).Send([]*raftpb.Message{msg(1, 2, 2), msg(1, 3, 3)})
	tn.net.Crashed(1, 20*Millisecond)
	h.Crash()
	tn.w.RunUntil(Second)
	if len(tn.got) != 1 || tn.got[0].GetIndex() != 1 {
		t.Fatalf("delivered %v, want only the message that departed before the crash", tn.log)
	}
	if s := tn.net.Stats; s.DroppedCrashedSender != 2 {
		t.Fatalf("crashed-sender drops = %d, want 2", s.DroppedCrashedSender)
	}
	// A dead sender's sends never leave; a restarted one's do.
	tn.send(1, 2, 4)
	h.Restart()
	tn.send(1, 2, 5)
	// A message to a dead receiver is dropped on arrival.
	tn.send(2, 3, 6)
	tn.hosts[3].Crash()
	tn.w.RunUntil(2 * Second)
	if len(tn.got) != 2 || tn.got[1].GetIndex() != 5 {
		t.Fatalf("deliveries %v, want index 5 second", tn.log)
	}
	if s := tn.net.Stats; s.DroppedCrashedSender != 3 || s.DroppedDeadReceiver != 1 {
		t.Fatalf("stats %v", s)
	}
}

func TestNetHoldThenBurst(t *testing.T) {
	tn := newTestNet(1, NoFaults(), 2)
	tn.net.Hold(1, 2, 100*Millisecond)
	for i := range 10 {
		tn.w.Schedule(int64(i)*Millisecond, func() { tn.send(1, 2, uint64(i)) })
	}
	tn.w.Schedule(0, func() { tn.send(2, 1, 100) }) // the other direction flows
	tn.w.RunUntil(100*Millisecond - 1)
	if len(tn.got) != 1 || tn.got[0].GetIndex() != 100 || !tn.net.Holding(1, 2) {
		t.Fatalf("during hold delivered %v", tn.log)
	}
	tn.w.RunUntil(100 * Millisecond)
	if len(tn.got) != 11 || tn.net.Stats.Held != 10 {
		t.Fatalf("after hold delivered %d, held %d", len(tn.got), tn.net.Stats.Held)
	}
	tn.send(1, 2, 11)
	tn.w.RunUntil(Second)
	if len(tn.got) != 12 {
		t.Fatalf("link still holding after release: %v", tn.log)
	}
}

func TestNetPartitionAppliesInFlight(t *testing.T) {
	tn := newTestNet(1, NoFaults(), 3)
	tn.send(1, 2, 1)
	tn.net.IsolateNode(2)
	tn.send(1, 3, 2)
	tn.send(1, 2, 3) // blocked at send
	tn.w.RunUntil(Second)
	if len(tn.got) != 1 || tn.got[0].GetIndex() != 2 {
		t.Fatalf("delivered %v", tn.log)
	}
	if b := tn.net.Stats.BlockedByPartition; b != 2 {
		t.Fatalf("blocked = %d, want 2 (one in flight, one at send)", b)
	}
}

func TestNetRemovedNode(t *testing.T) {
	tn := newTestNet(1, NoFaults(), 3)
	ep := tn.net.Endpoint(3)
	tn.send(1, 3, 1) // in flight when 3 is removed
	tn.net.RemoveNode(3)
	tn.hosts[3].BeginStep(0)
	ep.Send([]*raftpb.Message{msg(3, 1, 2)})
	tn.send(1, 3, 3)
	tn.w.RunUntil(Second)
	if len(tn.got) != 0 || tn.net.Stats.DroppedUnknown != 3 {
		t.Fatalf("delivered %v, stats %v", tn.log, tn.net.Stats)
	}
}

// TestCloneMessageCopiesEveryField: the network's copy of a message equals
// it field for field, and its entries are the receiver's own. A field
// raftpb adds later fails the count, so cloneMessage cannot drop it.
func TestCloneMessageCopiesEveryField(t *testing.T) {
	m := &raftpb.Message{
		Type: raftpb.MsgApp.Enum(), To: proto.Uint64(2), From: proto.Uint64(1), Term: proto.Uint64(3),
		LogTerm: proto.Uint64(3), Index: proto.Uint64(7), Commit: proto.Uint64(6), Vote: proto.Uint64(1),
		Reject: proto.Bool(true), RejectHint: proto.Uint64(5), Context: []byte("ctx"),
		Entries:  []*raftpb.Entry{{Term: proto.Uint64(3), Index: proto.Uint64(8), Type: raftpb.EntryNormal.Enum(), Data: []byte("d")}},
		Snapshot: &raftpb.Snapshot{Data: []byte("s"), Metadata: &raftpb.SnapshotMetadata{Index: proto.Uint64(4), Term: proto.Uint64(2)}},
	}
	c := cloneMessage(m)
	if !proto.Equal(c, m) {
		t.Fatalf("clone %v differs from %v", c, m)
	}
	if c.Entries[0] == m.Entries[0] || &c.Entries[0].Data[0] == &m.Entries[0].Data[0] || c.Index == m.Index ||
		c.Snapshot == m.Snapshot || &c.Context[0] == &m.Context[0] {
		t.Fatal("clone shares memory with the original")
	}
	if empty := cloneMessage(&raftpb.Message{}); !proto.Equal(empty, &raftpb.Message{}) || empty.To != nil {
		t.Fatalf("clone of an empty message = %v", empty)
	}
	exported := 0
	for f := range reflect.TypeFor[raftpb.Message]().Fields() {
		if f.IsExported() {
			exported++
		}
	}
	// 13 copied, plus Responses (never on the network).
	if exported != 14 {
		t.Fatalf("raftpb.Message has %d exported fields; teach cloneMessage the new ones", exported)
	}
}
