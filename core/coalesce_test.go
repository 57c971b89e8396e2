package core

import (
	"fmt"
	"slices"
	"testing"

	"go.etcd.io/raft/v3/raftpb"
	"google.golang.org/protobuf/proto"
)

func appMsg(to, term, index, logTerm, commit uint64, ents ...*raftpb.Entry) *raftpb.Message {
	return &raftpb.Message{Type: raftpb.MsgApp.Enum(), From: proto.Uint64(1), To: proto.Uint64(to),
		Term: proto.Uint64(term), Index: proto.Uint64(index), LogTerm: proto.Uint64(logTerm),
		Commit: proto.Uint64(commit), Entries: ents}
}

func appResp(to, term, index uint64, reject bool) *raftpb.Message {
	m := &raftpb.Message{Type: raftpb.MsgAppResp.Enum(), From: proto.Uint64(2), To: proto.Uint64(to),
		Term: proto.Uint64(term), Index: proto.Uint64(index)}
	if reject {
		m.Reject, m.RejectHint = proto.Bool(true), proto.Uint64(index-1)
	}
	return m
}

func ents(term, first, last uint64, size int) []*raftpb.Entry {
	var es []*raftpb.Entry
	for i := first; i <= last; i++ {
		es = append(es, &raftpb.Entry{Term: proto.Uint64(term), Index: proto.Uint64(i), Data: make([]byte, size)})
	}
	return es
}

// describeMsgs renders messages compactly: type, to, index/logterm,
// entry range, commit, reject.
func describeMsgs(msgs []*raftpb.Message) []string {
	var out []string
	for _, m := range msgs {
		s := fmt.Sprintf("%v to=%d idx=%d/%d commit=%d", m.GetType(), m.GetTo(), m.GetIndex(), m.GetLogTerm(), m.GetCommit())
		if es := m.GetEntries(); len(es) > 0 {
			s += fmt.Sprintf(" ents=%d..%d", es[0].GetIndex(), es[len(es)-1].GetIndex())
			for i, e := range es[1:] {
				if e.GetIndex() != es[i].GetIndex()+1 {
					s += " (gap)"
				}
			}
		}
		if m.GetReject() {
			s += " reject"
		}
		out = append(out, s)
	}
	return out
}

func TestCoalesce(t *testing.T) {
	for _, tc := range []struct {
		name string
		in   []*raftpb.Message
		want []string
	}{
		{
			name: "a leader's round: appends and commit bumps to two peers",
			in: []*raftpb.Message{
				appMsg(2, 3, 10, 3, 9, ents(3, 11, 12, 8)...),
				appMsg(3, 3, 10, 3, 9, ents(3, 11, 12, 8)...),
				appMsg(2, 3, 12, 3, 12),
				appMsg(3, 3, 12, 3, 12),
				appMsg(2, 3, 12, 3, 12, ents(3, 13, 13, 8)...),
				appMsg(3, 3, 12, 3, 12, ents(3, 13, 14, 8)...),
				appMsg(2, 3, 13, 3, 13),
			},
			want: []string{
				"MsgApp to=2 idx=10/3 commit=13 ents=11..13",
				"MsgApp to=3 idx=10/3 commit=12 ents=11..14",
			},
		},
		{
			name: "an empty append first gives way to the one that carries entries",
			in: []*raftpb.Message{
				appMsg(2, 3, 12, 3, 11),
				appMsg(2, 3, 12, 3, 12, ents(3, 13, 14, 8)...),
			},
			want: []string{"MsgApp to=2 idx=12/3 commit=12 ents=13..14"},
		},
		{
			name: "a gap, a term change or an earlier previous entry keep both",
			in: []*raftpb.Message{
				appMsg(2, 3, 10, 3, 9, ents(3, 11, 12, 8)...),
				appMsg(2, 3, 13, 3, 9, ents(3, 14, 14, 8)...),
				appMsg(2, 4, 14, 3, 9, ents(4, 15, 15, 8)...),
				appMsg(2, 4, 10, 3, 9, ents(3, 11, 11, 8)...),
				appMsg(2, 4, 11, 2, 9, ents(4, 12, 12, 8)...),
			},
			want: []string{
				"MsgApp to=2 idx=10/3 commit=9 ents=11..12",
				"MsgApp to=2 idx=13/3 commit=9 ents=14..14",
				"MsgApp to=2 idx=14/3 commit=9 ents=15..15",
				"MsgApp to=2 idx=10/3 commit=9 ents=11..11",
				"MsgApp to=2 idx=11/2 commit=9 ents=12..12",
			},
		},
		{
			name: "a heartbeat between two appends to the same peer keeps them apart",
			in: []*raftpb.Message{
				appMsg(2, 3, 10, 3, 9, ents(3, 11, 11, 8)...),
				{Type: raftpb.MsgHeartbeat.Enum(), From: proto.Uint64(1), To: proto.Uint64(2), Term: proto.Uint64(3)},
				appMsg(2, 3, 11, 3, 11),
			},
			want: []string{
				"MsgApp to=2 idx=10/3 commit=9 ents=11..11",
				"MsgHeartbeat to=2 idx=0/0 commit=0",
				"MsgApp to=2 idx=11/3 commit=11",
			},
		},
		{
			name: "past MaxSizePerMsg of entry data two appends stay two",
			in: []*raftpb.Message{
				appMsg(2, 3, 10, 3, 9, ents(3, 11, 12, 400)...),
				appMsg(2, 3, 12, 3, 9, ents(3, 13, 14, 400)...),
				appMsg(2, 3, 14, 3, 14),
			},
			want: []string{
				"MsgApp to=2 idx=10/3 commit=9 ents=11..12",
				"MsgApp to=2 idx=12/3 commit=14 ents=13..14",
			},
		},
		{
			name: "acknowledgements: the highest stands for the lower ones, rejections stay",
			in: []*raftpb.Message{
				appResp(1, 3, 11, false),
				appResp(1, 3, 13, false),
				appResp(1, 3, 12, false),
				appResp(1, 3, 15, false),
				appResp(1, 3, 16, true),
				appResp(1, 3, 17, false),
				appResp(1, 4, 18, false),
			},
			want: []string{
				"MsgAppResp to=1 idx=13/0 commit=0",
				"MsgAppResp to=1 idx=15/0 commit=0",
				"MsgAppResp to=1 idx=16/0 commit=0 reject",
				"MsgAppResp to=1 idx=17/0 commit=0",
				"MsgAppResp to=1 idx=18/0 commit=0",
			},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := &Replica{cfg: Config{MaxSizePerMsg: 1000}}
			got := describeMsgs(r.coalesce(slices.Clone(tc.in)))
			if !slices.Equal(got, tc.want) {
				t.Fatalf("coalesced to\n  %s\nwant\n  %s", joinLines(got), joinLines(tc.want))
			}
		})
	}
}

func joinLines(s []string) string {
	out := ""
	for i, l := range s {
		if i > 0 {
			out += "\n  "
		}
		out += l
	}
	return out
}

// TestCoalesceLeavesRaftsEntriesAlone checks that merging never writes into
// the arrays behind raft's entry slices, which are raft's log.
func TestCoalesceLeavesRaftsEntriesAlone(t *testing.T) {
	log := ents(3, 11, 16, 8)
	logBefore := slices.Clone(log)
	first := log[0:2:6] // room to grow into log[2:]
	second := ents(3, 13, 14, 8)
	third := ents(3, 15, 15, 8)
	r := &Replica{cfg: Config{MaxSizePerMsg: 1 << 20}}
	msgs := []*raftpb.Message{
		appMsg(2, 3, 10, 3, 9, first...),
		appMsg(2, 3, 12, 3, 9, second...),
		appMsg(2, 3, 14, 3, 9, third...),
	}
	out := r.coalesce(msgs)
	if got := describeMsgs(out); len(got) != 1 || got[0] != "MsgApp to=2 idx=10/3 commit=9 ents=11..15" {
		t.Fatalf("coalesced to %q", got)
	}
	for i, e := range log {
		if e != logBefore[i] {
			t.Fatalf("raft's log slot %d was overwritten (now entry %d of another slice)", i, e.GetIndex())
		}
	}
	merged := out[0].GetEntries()
	r.releaseCoalesced()
	// A second round reuses the buffer; the first round's merged message
	// was sent by then, and raft's slices are still untouched.
	again := r.coalesce([]*raftpb.Message{
		appMsg(3, 3, 10, 3, 9, ents(3, 11, 11, 8)...),
		appMsg(3, 3, 11, 3, 9, ents(3, 12, 12, 8)...),
	})
	if got := describeMsgs(again); len(got) != 1 || got[0] != "MsgApp to=3 idx=10/3 commit=9 ents=11..12" {
		t.Fatalf("second round coalesced to %q", got)
	}
	if len(merged) != 5 || first[0].GetIndex() != 11 || second[0].GetIndex() != 13 || third[0].GetIndex() != 15 {
		t.Fatalf("the inputs changed: first %v second %v third %v", first, second, third)
	}
}
