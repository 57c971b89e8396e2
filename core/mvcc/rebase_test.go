package mvcc

import (
	"errors"
	"fmt"
	"testing"

	pb "go.etcd.io/etcd/api/v3/etcdserverpb"
)

func TestRebaseReplacesMembersAndClearsAlarms(t *testing.T) {
	h := newHarness(t)
	h.put("a", "1")
	if err := h.s.ApplyMember(h.index+1, Member{ID: 1, Context: []byte("old")}, false); err != nil {
		t.Fatal(err)
	}
	h.index++
	h.apply(alarmReq(pb.AlarmRequest_ACTIVATE, 1, pb.AlarmType_NOSPACE))
	if err := h.s.Rebase(100, []Member{{ID: 5, Context: []byte("n5")}, {ID: 6, Context: []byte("n6")}}); err != nil {
		t.Fatal(err)
	}
	reopened, err := Open(h.s.eng)
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range []*Store{h.s, reopened} {
		if got := fmt.Sprint(s.Members()); got != fmt.Sprint([]Member{{ID: 5, Context: []byte("n5")}, {ID: 6, Context: []byte("n6")}}) {
			t.Fatalf("members after rebase %s", got)
		}
		if s.Alarms() != nil || s.AppliedIndex() != 100 || s.Rev() != 2 {
			t.Fatalf("after rebase: alarms %v applied %d rev %d", s.Alarms(), s.AppliedIndex(), s.Rev())
		}
	}
}

func TestBumpRevisionCompactsAtTheNewRevision(t *testing.T) {
	h := newHarness(t)
	h.put("a", "1")
	h.put("a", "2")
	h.put("b", "1")
	old := h.s.Rev()
	before, err := h.s.Range(&pb.RangeRequest{Key: []byte("a"), RangeEnd: []byte("c")})
	if err != nil {
		t.Fatal(err)
	}
	h.index++
	if err := h.s.BumpRevision(h.index, 1000); err != nil {
		t.Fatal(err)
	}
	reopened, err := Open(h.s.eng)
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range []*Store{h.s, reopened} {
		if s.Rev() != old+1000 || s.CompactRev() != old+1000 {
			t.Fatalf("after bump: rev %d compact %d, want both %d", s.Rev(), s.CompactRev(), old+1000)
		}
		after, err := s.Range(&pb.RangeRequest{Key: []byte("a"), RangeEnd: []byte("c")})
		if err != nil || fmt.Sprint(after.Kvs) != fmt.Sprint(before.Kvs) {
			t.Fatalf("keys after bump %v (%v), before %v", after.Kvs, err, before.Kvs)
		}
		if _, err := s.Range(&pb.RangeRequest{Key: []byte("a"), Revision: old}); !errors.Is(err, ErrCompacted) {
			t.Fatalf("read at the old revision: %v", err)
		}
	}
	if rev := h.put("c", "1").Header.Revision; rev != old+1001 {
		t.Fatalf("next write at %d, want %d", rev, old+1001)
	}
}
