package server

import (
	"context"
	"encoding/json"
	"slices"
	"sync"
	"time"

	pb "go.etcd.io/etcd/api/v3/etcdserverpb"
	"go.etcd.io/raft/v3/raftpb"

	"metastore/core"
)

// Attributes are a member's record in the member table: the JSON Context
// of the configuration change that added or updated it (mvcc.Member.Context).
//
// How the table gets them: raft bootstraps a new cluster with bare IDs, so
// every member publishes its own attributes once a leader exists, as a
// ConfChangeUpdateNode whose Context is this JSON (etcd publishes through a
// normal proposal; an UpdateNode changes no raft configuration and is
// applied in log order on every member). MemberAdd records the peer URLs of
// a member not started yet (empty name and client URLs, as etcd shows it);
// the member publishes the rest when it starts. A member publishing keeps
// the peer URLs already in the table, so MemberUpdate is not undone.
type Attributes struct {
	Name       string   `json:"name,omitempty"`
	PeerURLs   []string `json:"peerURLs,omitempty"`
	ClientURLs []string `json:"clientURLs,omitempty"`
}

func parseAttributes(ctx []byte) Attributes {
	var a Attributes
	if len(ctx) > 0 {
		_ = json.Unmarshal(ctx, &a) // a foreign or empty context: no attributes
	}
	return a
}

func (a Attributes) encode() []byte {
	b, err := json.Marshal(a)
	if err != nil {
		panic(err) // strings only
	}
	return b
}

func (a Attributes) equal(b Attributes) bool {
	return a.Name == b.Name && slices.Equal(a.PeerURLs, b.PeerURLs) && slices.Equal(a.ClientURLs, b.ClientURLs)
}

// memberInfo is one row of the member table joined with raft's view of
// learners (the table's own learner flag is not kept by UpdateNode).
type memberInfo struct {
	ID      uint64
	Attr    Attributes
	Learner bool
}

// readMembers reads the member table; call it on the loop goroutine.
func readMembers(r *core.Replica) []memberInfo {
	learners := r.Status().Learners
	ms := r.Store().Members()
	out := make([]memberInfo, len(ms))
	for i, m := range ms {
		out[i] = memberInfo{ID: m.ID, Attr: parseAttributes(m.Context), Learner: slices.Contains(learners, m.ID)}
	}
	return out
}

func (m memberInfo) proto() *pb.Member {
	return &pb.Member{
		ID:         m.ID,
		Name:       m.Attr.Name,
		PeerURLs:   m.Attr.PeerURLs,
		ClientURLs: m.Attr.ClientURLs,
		IsLearner:  m.Learner,
	}
}

func membersProto(ms []memberInfo) []*pb.Member {
	out := make([]*pb.Member, len(ms))
	for i, m := range ms {
		out[i] = m.proto()
	}
	return out
}

// memberSync keeps the transport's peers equal to the member table and
// publishes this member's attributes until the table holds them.
type memberSync struct {
	s *Server

	mu      sync.Mutex
	members []memberInfo // last table read, for forwarding
	known   map[uint64][]string
}

func newMemberSync(s *Server) *memberSync {
	return &memberSync{s: s, known: make(map[uint64][]string)}
}

// snapshot returns the last member table read.
func (m *memberSync) snapshot() []memberInfo {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.members
}

func (m *memberSync) loop() {
	t := time.NewTicker(m.s.cfg.MemberSyncInterval)
	defer t.Stop()
	for {
		m.once()
		select {
		case <-m.s.stopc:
			return
		case <-t.C:
		}
	}
}

// once reads the table on the loop goroutine, proposes this member's
// attributes when they differ, and reconciles the transport.
func (m *memberSync) once() {
	var ms []memberInfo
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() {
		select {
		case <-m.s.stopc:
			cancel()
		case <-ctx.Done():
		}
	}()
	err := m.s.node.exec(ctx, m.s.cfg.RequestTimeout, func(r *core.Replica) {
		ms = readMembers(r)
		m.publish(r, ms)
	})
	if err != nil {
		return
	}
	m.mu.Lock()
	m.members = ms
	m.mu.Unlock()
	m.reconcile(ms)
}

// publish proposes this member's attributes when the table lacks them. A
// proposal lost (no leader, another conf change pending) is simply retried
// on the next round.
func (m *memberSync) publish(r *core.Replica, ms []memberInfo) {
	id := r.ID()
	i := slices.IndexFunc(ms, func(x memberInfo) bool { return x.ID == id })
	if i < 0 || r.Status().Leader == 0 {
		return // not (yet) in the table: a joining member waits for its snapshot
	}
	want := Attributes{Name: m.s.cfg.Name, PeerURLs: ms[i].Attr.PeerURLs, ClientURLs: m.s.cfg.ClientURLs}
	if len(want.PeerURLs) == 0 {
		want.PeerURLs = m.s.cfg.PeerURLs
	}
	if want.equal(ms[i].Attr) {
		return
	}
	cc := &raftpb.ConfChange{Type: raftpb.ConfChangeUpdateNode.Enum(), NodeId: &id, Context: want.encode()}
	r.ProposeConfChange(cc, func(core.Result) {})
}

// reconcile adds the table's peers to the transport and removes the ones no
// longer in it. Members without peer URLs in the table (bootstrapped, not
// yet published) keep what the transport was given at start.
func (m *memberSync) reconcile(ms []memberInfo) {
	tr := m.s.cfg.Transport
	if tr == nil || len(ms) == 0 {
		return // a joining member's table is empty until its snapshot
	}
	self := m.s.node.ID()
	inTable := make(map[uint64]bool, len(ms))
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, mi := range ms {
		inTable[mi.ID] = true
		if mi.ID == self || len(mi.Attr.PeerURLs) == 0 || slices.Equal(m.known[mi.ID], mi.Attr.PeerURLs) {
			continue
		}
		if err := tr.AddPeer(mi.ID, mi.Attr.PeerURLs); err != nil {
			m.s.cfg.Logger.Warn("adding peer", "id", mi.ID, "err", err)
			continue
		}
		m.known[mi.ID] = mi.Attr.PeerURLs
	}
	for id := range m.known {
		if !inTable[id] {
			tr.RemovePeer(id)
			delete(m.known, id)
		}
	}
}

// Seed tells the server about a peer the caller added to the transport at
// start (from --initial-cluster), so that it is removed when it leaves the
// member table.
func (s *Server) Seed(id uint64, urls []string) {
	s.members.mu.Lock()
	defer s.members.mu.Unlock()
	s.members.known[id] = urls
}
