package transport

import (
	"fmt"
	"slices"
	"testing"

	"go.etcd.io/raft/v3/raftpb"
	"google.golang.org/protobuf/proto"
)

// entries returns entries first..last of term, each with its own data.
func entries(first, last, term uint64, size int) []*raftpb.Entry {
	var ents []*raftpb.Entry
	for i := first; i <= last; i++ {
		ents = append(ents, &raftpb.Entry{Index: proto.Uint64(i), Term: proto.Uint64(term),
			Type: raftpb.EntryNormal.Enum(), Data: randomBytes(size, i*1000+term)})
	}
	return ents
}

func msgApp(from, to, logTerm, index, commit uint64, ents []*raftpb.Entry) *raftpb.Message {
	return &raftpb.Message{Type: raftpb.MsgApp.Enum(), From: proto.Uint64(from), To: proto.Uint64(to),
		Term: proto.Uint64(3), LogTerm: proto.Uint64(logTerm), Index: proto.Uint64(index),
		Commit: proto.Uint64(commit), Entries: ents}
}

func TestEncoderSharesEntriesAndDecodesToEachMessage(t *testing.T) {
	// As raft builds them: followers caught up to the same index get the
	// same entry pointers; a lagging one gets a longer run of the same log.
	log := entries(5, 9, 3, 300)
	msgs := []*raftpb.Message{
		msgApp(1, 2, 3, 6, 6, log[2:]),
		msgApp(1, 3, 3, 6, 6, log[2:]),
		msgApp(1, 4, 3, 4, 6, log),
		msgApp(1, 5, 3, 9, 6, nil),
		heartbeat(1, 2, 3),
		{Type: raftpb.MsgProp.Enum(), From: proto.Uint64(1), To: proto.Uint64(2), Entries: entries(1, 1, 0, 10)},
	}
	want := make([]*raftpb.Message, len(msgs))
	for i, m := range msgs {
		want[i] = proto.Clone(m).(*raftpb.Message)
	}
	var enc encoder
	got := make([]encoded, len(msgs))
	for i, m := range msgs {
		sent := m.Entries
		e, err := enc.encode(m)
		if err != nil {
			t.Fatal(err)
		}
		got[i] = e
		if !proto.Equal(m, want[i]) || len(m.Entries) != len(sent) ||
			(len(sent) > 0 && &m.Entries[0] != &sent[0]) {
			t.Fatalf("message %d changed by encode: %v", i, m)
		}
	}
	for i, e := range got {
		var m raftpb.Message
		if err := proto.Unmarshal(e.joined(), &m); err != nil {
			t.Fatalf("message %d: %v", i, err)
		}
		if !proto.Equal(&m, want[i]) {
			t.Fatalf("message %d decodes to\n%v\nwant\n%v", i, &m, want[i])
		}
		if e.size() != len(e.joined()) {
			t.Fatalf("message %d: size %d, joined %d bytes", i, e.size(), len(e.joined()))
		}
	}
	if &got[0].body[0] != &got[1].body[0] {
		t.Fatal("the two followers at the same index got separate encodings of the same entries")
	}
	if len(got[2].body) <= len(got[0].body) {
		t.Fatalf("the lagging follower's entries are %d bytes, no more than the others' %d", len(got[2].body), len(got[0].body))
	}
	for _, i := range []int{3, 4, 5} {
		if got[i].body != nil {
			t.Fatalf("message %d (%v, %d entries) has a shared body", i, msgs[i].GetType(), len(msgs[i].Entries))
		}
	}
}

// One Send to followers of both kinds (direct stream, and a member that
// predates it on the gRPC Message stream), with shared, partly shared and
// chunked entries: each follower gets exactly the messages meant for it.
func TestFollowersReceiveTheirOwnEntries(t *testing.T) {
	leader := startMember(t, 1, Options{MaxMsgBytes: 64 << 10})
	direct := startMember(t, 2, Options{})
	old := startMemberServing(t, 3, Options{GRPCMessages: true}, true)
	link(t, leader, direct, old)
	log := entries(1, 40, 2, 300)
	big := entries(41, 42, 2, 50<<10)
	rounds := [][]*raftpb.Message{
		{msgApp(1, 2, 0, 0, 0, log[:3]), msgApp(1, 3, 0, 0, 0, log[:3])},
		{msgApp(1, 3, 1, 3, 3, log[3:5]), msgApp(1, 2, 1, 3, 3, log[3:5]), heartbeat(1, 2, 2)},
		{msgApp(1, 2, 2, 5, 5, log[5:6]), msgApp(1, 3, 2, 4, 5, log[4:6])},
		{msgApp(1, 2, 2, 6, 6, log[6:]), msgApp(1, 3, 2, 6, 6, log[6:])},
		{msgApp(1, 2, 2, 40, 40, big), msgApp(1, 3, 2, 40, 40, big)},
	}
	wants := map[uint64][]*raftpb.Message{}
	for _, msgs := range rounds {
		for _, m := range msgs {
			wants[m.GetTo()] = append(wants[m.GetTo()], proto.Clone(m).(*raftpb.Message))
		}
		leader.t.Send(msgs)
	}
	for _, f := range []*member{direct, old} {
		// NB: the chunked messages take their own stream, so only the
		// others keep their order; the check is for each message's content.
		pending := wants[f.t.self]
		for range len(pending) {
			got := receive(t, f)
			i := slices.IndexFunc(pending, func(want *raftpb.Message) bool { return proto.Equal(got, want) })
			if i < 0 {
				t.Fatalf("member %d got %v, which is none of the %d messages it still waits for", f.t.self, describe(got), len(pending))
			}
			pending = slices.Delete(pending, i, i+1)
		}
	}
	if n := directStreams(direct); n != 1 {
		t.Fatalf("direct follower serves %d direct streams, want 1", n)
	}
	if n := directStreams(old); n != 0 {
		t.Fatalf("old follower serves %d direct streams", n)
	}
}

func describe(m *raftpb.Message) string {
	ents := m.GetEntries()
	if len(ents) == 0 {
		return fmt.Sprintf("%v to %d index %d, no entries", m.GetType(), m.GetTo(), m.GetIndex())
	}
	return fmt.Sprintf("%v to %d index %d commit %d, entries %d..%d", m.GetType(), m.GetTo(), m.GetIndex(),
		m.GetCommit(), ents[0].GetIndex(), ents[len(ents)-1].GetIndex())
}

// BenchmarkEncodeMsgApps encodes what a 3-member leader sends per Ready
// under load: the same few entries to both followers.
func BenchmarkEncodeMsgApps(b *testing.B) {
	for _, n := range []int{1, 4, 16} {
		ents := entries(100, 100+uint64(n)-1, 2, 300)
		msgs := []*raftpb.Message{msgApp(1, 2, 2, 99, 99, ents), msgApp(1, 3, 2, 99, 99, ents)}
		b.Run(fmt.Sprintf("per-peer/entries=%d", n), func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				for _, m := range msgs {
					if _, err := proto.Marshal(m); err != nil {
						b.Fatal(err)
					}
				}
			}
		})
		b.Run(fmt.Sprintf("shared/entries=%d", n), func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				var enc encoder
				for _, m := range msgs {
					if _, err := enc.encode(m); err != nil {
						b.Fatal(err)
					}
				}
			}
		})
	}
}
