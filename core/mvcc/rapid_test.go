package mvcc

import (
	"bytes"
	"flag"
	"fmt"
	"testing"

	pb "go.etcd.io/etcd/api/v3/etcdserverpb"
	"go.etcd.io/etcd/api/v3/mvccpb"
	"google.golang.org/protobuf/proto"
	"pgregory.net/rapid"

	"metastore/core/engine"
	"metastore/engines/memory"
)

// minRapidChecks is how many runs TestStoreMatchesModel makes by default
// (rapid's own default is 100); -rapid.checks overrides it.
const minRapidChecks = 1000

// defaultRapidSteps raises rapid's average actions per run (30) so runs
// reach compactions, leases and reopenings with some history behind them.
const defaultRapidSteps = 100

// setByTest records the flags setDefaultFlag set, so that a later test can
// still tell them from flags the command line set.
var setByTest = map[string]bool{}

// setDefaultFlag sets flag name to value unless the command line set it,
// and puts the previous value back when t ends.
func setDefaultFlag(t *testing.T, name, value string) {
	set := false
	flag.Visit(func(f *flag.Flag) { set = set || f.Name == name })
	if set && !setByTest[name] {
		return
	}
	old := flag.Lookup(name).Value.String()
	if err := flag.Set(name, value); err != nil {
		t.Fatal(err)
	}
	setByTest[name] = true
	t.Cleanup(func() { _ = flag.Set(name, old) })
}

var modelKeys = []string{"a", "b", "c", "d"}

func drawKey(t *rapid.T, label string) []byte {
	return []byte(rapid.SampledFrom(modelKeys).Draw(t, label))
}

// drawEnd draws a range end: none, from-key, or another key (perhaps before
// the start, which makes an empty span).
func drawEnd(t *rapid.T, label string) []byte {
	return []byte(rapid.SampledFrom([]string{"", "", "\x00", "b", "c", "d", "e"}).Draw(t, label))
}

func drawValue(t *rapid.T, label string) []byte {
	return []byte(rapid.SampledFrom([]string{"", "x", "y", "zz"}).Draw(t, label))
}

type storeMachine struct {
	s     *Store
	m     *model
	index uint64
	last  *pb.InternalRaftRequest // for duplicate re-proposals

	// twin, when set, is a store on another engine that applies the same
	// requests; it must answer the same and hold the same history.
	twin *Store
	// fresh opens an empty engine for SnapshotRestore, of the kind the
	// store's engine is (nil: memory); reopen closes and reopens an engine
	// on its own data (nil: the store is reopened on the same engine).
	fresh  func(t *rapid.T, like engine.Engine) engine.Engine
	reopen func(t *rapid.T, e engine.Engine) engine.Engine
}

func (sm *storeMachine) leaseID(t *rapid.T, label string) int64 {
	ids := []int64{0, 0, 77}
	for _, l := range sm.s.Leases() {
		ids = append(ids, l.ID)
	}
	return rapid.SampledFrom(ids).Draw(t, label)
}

func (sm *storeMachine) rangeReq(t *rapid.T) *pb.RangeRequest {
	r := &pb.RangeRequest{Key: drawKey(t, "key"), RangeEnd: drawEnd(t, "end")}
	if rapid.Bool().Draw(t, "atRev") {
		r.Revision = rapid.Int64Range(0, sm.m.rev+1).Draw(t, "rev")
	}
	r.Limit = rapid.SampledFrom([]int64{0, 0, 1, 2, 3}).Draw(t, "limit")
	r.SortOrder = pb.RangeRequest_SortOrder(rapid.IntRange(0, 2).Draw(t, "order"))
	r.SortTarget = pb.RangeRequest_SortTarget(rapid.IntRange(0, 4).Draw(t, "target"))
	r.KeysOnly = rapid.IntRange(0, 4).Draw(t, "keysOnly") == 0
	r.CountOnly = rapid.IntRange(0, 4).Draw(t, "countOnly") == 0
	if rapid.IntRange(0, 3).Draw(t, "filters") == 0 {
		hi := sm.m.rev + 1
		r.MinModRevision = rapid.Int64Range(0, hi).Draw(t, "minMod")
		r.MaxModRevision = rapid.Int64Range(0, hi).Draw(t, "maxMod")
		r.MinCreateRevision = rapid.Int64Range(0, hi).Draw(t, "minCreate")
		r.MaxCreateRevision = rapid.Int64Range(0, hi).Draw(t, "maxCreate")
	}
	return r
}

func (sm *storeMachine) putReq(t *rapid.T) *pb.PutRequest {
	p := &pb.PutRequest{Key: drawKey(t, "key"), Value: drawValue(t, "value"), PrevKv: rapid.Bool().Draw(t, "prevKV")}
	p.Lease = sm.leaseID(t, "lease")
	switch rapid.IntRange(0, 5).Draw(t, "ignore") {
	case 0:
		p.IgnoreValue = true
		if rapid.IntRange(0, 3).Draw(t, "keepValue") > 0 {
			p.Value = nil
		}
	case 1:
		p.IgnoreLease = true
		if rapid.IntRange(0, 3).Draw(t, "keepLease") > 0 {
			p.Lease = 0
		}
	}
	return p
}

func (sm *storeMachine) deleteReq(t *rapid.T) *pb.DeleteRangeRequest {
	return &pb.DeleteRangeRequest{Key: drawKey(t, "key"), RangeEnd: drawEnd(t, "end"), PrevKv: rapid.Bool().Draw(t, "prevKV")}
}

func (sm *storeMachine) compareReq(t *rapid.T) *pb.Compare {
	c := &pb.Compare{Key: drawKey(t, "key"), Result: pb.Compare_CompareResult(rapid.IntRange(0, 3).Draw(t, "result"))}
	if rapid.IntRange(0, 3).Draw(t, "cmpRange") == 0 {
		c.RangeEnd = drawEnd(t, "end")
	}
	n := rapid.Int64Range(0, sm.m.rev+1).Draw(t, "n")
	switch c.Target = pb.Compare_CompareTarget(rapid.IntRange(0, 4).Draw(t, "target")); c.Target {
	case pb.Compare_VERSION:
		c.TargetUnion = &pb.Compare_Version{Version: n % 4}
	case pb.Compare_CREATE:
		c.TargetUnion = &pb.Compare_CreateRevision{CreateRevision: n}
	case pb.Compare_MOD:
		c.TargetUnion = &pb.Compare_ModRevision{ModRevision: n}
	case pb.Compare_VALUE:
		c.TargetUnion = &pb.Compare_Value{Value: drawValue(t, "value")}
	case pb.Compare_LEASE:
		c.TargetUnion = &pb.Compare_Lease{Lease: sm.leaseID(t, "lease")}
	}
	return c
}

func (sm *storeMachine) txnReq(t *rapid.T, depth int) *pb.TxnRequest {
	tx := &pb.TxnRequest{}
	for range rapid.IntRange(0, 2).Draw(t, "compares") {
		tx.Compare = append(tx.Compare, sm.compareReq(t))
	}
	ops := func(label string) []*pb.RequestOp {
		var out []*pb.RequestOp
		for range rapid.IntRange(0, 3).Draw(t, label) {
			kinds := 3
			if depth < 2 {
				kinds = 4
			}
			switch rapid.IntRange(0, kinds-1).Draw(t, "op") {
			case 0:
				out = append(out, &pb.RequestOp{Request: &pb.RequestOp_RequestRange{RequestRange: sm.rangeReq(t)}})
			case 1:
				out = append(out, &pb.RequestOp{Request: &pb.RequestOp_RequestPut{RequestPut: sm.putReq(t)}})
			case 2:
				out = append(out, &pb.RequestOp{Request: &pb.RequestOp_RequestDeleteRange{RequestDeleteRange: sm.deleteReq(t)}})
			case 3:
				out = append(out, &pb.RequestOp{Request: &pb.RequestOp_RequestTxn{RequestTxn: sm.txnReq(t, depth+1)}})
			}
		}
		return out
	}
	tx.Success = ops("success")
	tx.Failure = ops("failure")
	return tx
}

// run applies req to both and compares everything the store answers.
func (sm *storeMachine) run(t *rapid.T, req *pb.InternalRaftRequest) {
	if rapid.IntRange(0, 2).Draw(t, "withID") == 0 {
		req.Header = &pb.RequestHeader{ID: sm.index + 1000}
	}
	sm.runAgain(t, req)
}

func (sm *storeMachine) runAgain(t *rapid.T, req *pb.InternalRaftRequest) {
	sm.index++
	sm.last = req
	got := sm.s.Apply(sm.index, req)
	if sm.twin != nil {
		sameResult(t, got, sm.twin.Apply(sm.index, req))
	}
	var granted int64
	if g, ok := got.Resp.(*pb.LeaseGrantResponse); ok && req.LeaseGrant.ID == 0 {
		granted = g.ID
		if granted <= 0 {
			t.Fatalf("generated lease ID %d", granted)
		}
		if _, taken := sm.m.leases[granted]; taken {
			t.Fatalf("generated lease ID %d collides", granted)
		}
	}
	wantResp, wantErr, wantEvents, dup := sm.m.apply(req, granted)
	if got.Duplicate != dup {
		t.Fatalf("duplicate = %v, want %v", got.Duplicate, dup)
	}
	if got.Err != wantErr {
		t.Fatalf("err = %v, want %v\nreq %v", got.Err, wantErr, req)
	}
	if wantResp != nil && !proto.Equal(got.Resp, wantResp.(proto.Message)) {
		t.Fatalf("resp mismatch\nreq  %v\ngot  %v\nwant %v", req, got.Resp, wantResp)
	}
	if wantResp == nil && got.Resp != nil {
		t.Fatalf("unexpected resp %v", got.Resp)
	}
	// An event leaves PrevKv to EventPrevKV, called as a watcher asking
	// for prev_kv would, before the next Apply; only a later change of a
	// key this revision already changed carries it (its revision alone
	// cannot tell it from the first).
	withPrev := make([]*mvccpb.Event, len(got.Events))
	seen := make(map[string]bool)
	for i, ev := range got.Events {
		if ev.PrevKv != nil && !seen[string(ev.Kv.Key)] {
			t.Fatalf("event %v carries PrevKv", ev)
		}
		seen[string(ev.Kv.Key)] = true
		withPrev[i] = &mvccpb.Event{Type: ev.Type, Kv: ev.Kv, PrevKv: sm.s.EventPrevKV(ev)}
	}
	sameEvents(t, "apply events", withPrev, wantEvents)
	if sm.s.Rev() != sm.m.rev || sm.s.CompactRev() != sm.m.compacted || sm.s.AppliedIndex() != sm.index {
		t.Fatalf("rev %d/%d compact %d/%d applied %d/%d", sm.s.Rev(), sm.m.rev,
			sm.s.CompactRev(), sm.m.compacted, sm.s.AppliedIndex(), sm.index)
	}
}

func sameEvents(t *rapid.T, what string, got, want []*mvccpb.Event) {
	if len(got) != len(want) {
		t.Fatalf("%s: %d events, want %d\ngot  %v\nwant %v", what, len(got), len(want), got, want)
	}
	for i := range got {
		if !proto.Equal(got[i], want[i]) {
			t.Fatalf("%s[%d]:\ngot  %v\nwant %v", what, i, got[i], want[i])
		}
	}
}

func (sm *storeMachine) checkLeases(t *rapid.T) {
	ls := sm.s.Leases()
	if len(ls) != len(sm.m.leases) {
		t.Fatalf("%d leases, want %d", len(ls), len(sm.m.leases))
	}
	for i, l := range ls {
		want, ok := sm.m.leases[l.ID]
		if !ok || want[0] != l.TTL || want[1] != l.RemainingTTL {
			t.Fatalf("lease %+v, model %v", l, want)
		}
		if i > 0 && ls[i-1].ID >= l.ID {
			t.Fatalf("leases unsorted")
		}
		keys := sm.m.leaseKeys(l.ID)
		if fmt.Sprintf("%q", l.Keys) != fmt.Sprintf("%q", toBytes(keys)) {
			t.Fatalf("lease %d keys %q, want %q", l.ID, l.Keys, keys)
		}
		if one, ok := sm.s.Lease(l.ID); !ok || one.ID != l.ID {
			t.Fatalf("Lease(%d) = %v %v", l.ID, one, ok)
		}
	}
}

func toBytes(ss []string) [][]byte {
	out := make([][]byte, len(ss))
	for i, s := range ss {
		out[i] = []byte(s)
	}
	return out
}

func (sm *storeMachine) actions() map[string]func(*rapid.T) {
	return map[string]func(*rapid.T){
		"Range": func(t *rapid.T) {
			req := sm.rangeReq(t)
			got, err := sm.s.Range(req)
			want, wantErr := sm.m.rangeOp(req, sm.m.rev)
			if err != wantErr {
				t.Fatalf("range err %v, want %v (%v)", err, wantErr, req)
			}
			if err == nil && !proto.Equal(got, want) {
				t.Fatalf("range %v\ngot  %v\nwant %v", req, got, want)
			}
		},
		"Put": func(t *rapid.T) {
			sm.run(t, &pb.InternalRaftRequest{Put: sm.putReq(t)})
		},
		"DeleteRange": func(t *rapid.T) {
			sm.run(t, &pb.InternalRaftRequest{DeleteRange: sm.deleteReq(t)})
		},
		"Txn": func(t *rapid.T) {
			sm.run(t, &pb.InternalRaftRequest{Txn: sm.txnReq(t, 0)})
		},
		"Compact": func(t *rapid.T) {
			rev := rapid.Int64Range(0, sm.m.rev+1).Draw(t, "rev")
			sm.run(t, &pb.InternalRaftRequest{Compaction: &pb.CompactionRequest{Revision: rev}})
		},
		"LeaseGrant": func(t *rapid.T) {
			id := rapid.SampledFrom([]int64{0, 1, 2, 3}).Draw(t, "id")
			ttl := rapid.SampledFrom([]int64{5, 60, MaxLeaseTTL + 1}).Draw(t, "ttl")
			sm.run(t, &pb.InternalRaftRequest{LeaseGrant: &pb.LeaseGrantRequest{ID: id, TTL: ttl}})
		},
		"LeaseRevoke": func(t *rapid.T) {
			sm.run(t, &pb.InternalRaftRequest{LeaseRevoke: &pb.LeaseRevokeRequest{ID: sm.leaseID(t, "id")}})
		},
		"LeaseCheckpoint": func(t *rapid.T) {
			cp := &pb.LeaseCheckpoint{ID: sm.leaseID(t, "id"), Remaining_TTL: rapid.Int64Range(1, 9).Draw(t, "ttl")}
			sm.run(t, &pb.InternalRaftRequest{LeaseCheckpoint: &pb.LeaseCheckpointRequest{Checkpoints: []*pb.LeaseCheckpoint{cp}}})
		},
		"Reproposal": func(t *rapid.T) {
			if sm.last == nil || sm.last.Header == nil {
				t.Skip("no request with an ID yet")
			}
			sm.runAgain(t, sm.last)
		},
		"Events": func(t *rapid.T) {
			from := rapid.Int64Range(0, sm.m.rev+1).Draw(t, "from")
			key, end := drawKey(t, "key"), drawEnd(t, "end")
			got, err := sm.s.Events(from, key, end, true)
			if from <= sm.m.compacted {
				if err != ErrCompacted {
					t.Fatalf("events from %d after compaction at %d: err %v", from, sm.m.compacted, err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			sameEvents(t, "Events", got, sm.m.eventsSince(from, string(key), string(end)))
		},
		"SnapshotRestore": func(t *rapid.T) {
			fresh := sm.restoreFresh(t, sm.s)
			if sm.twin != nil {
				sm.twin = sm.restoreTwin(t)
			}
			if fresh.Hash() != sm.s.Hash() || fresh.AppliedIndex() != sm.s.AppliedIndex() {
				t.Fatalf("restored hash %x/%x applied %d/%d", fresh.Hash(), sm.s.Hash(), fresh.AppliedIndex(), sm.s.AppliedIndex())
			}
			h1, r1, c1, e1 := sm.s.HashKV(0)
			h2, r2, c2, e2 := fresh.HashKV(0)
			if h1 != h2 || r1 != r2 || c1 != c2 || e1 != nil || e2 != nil {
				t.Fatalf("HashKV differs after restore")
			}
			fresh.NoDedup, fresh.SplitAppliedIndex = sm.s.NoDedup, sm.s.SplitAppliedIndex
			sm.retire(sm.s.eng)
			sm.s = fresh
		},
		"Reopen": func(t *rapid.T) {
			h := sm.s.Hash()
			s, err := Open(sm.reopenEngine(t, sm.s.eng))
			if err != nil {
				t.Fatal(err)
			}
			s.NoDedup, s.SplitAppliedIndex = sm.s.NoDedup, sm.s.SplitAppliedIndex
			if sm.twin != nil {
				if sm.twin, err = Open(sm.reopenEngine(t, sm.twin.eng)); err != nil {
					t.Fatal(err)
				}
			}
			if s.Hash() != h {
				t.Fatalf("reopened hash differs")
			}
			sm.s = s
		},
		"": func(t *rapid.T) {
			if sm.s.Rev() != sm.m.rev {
				t.Fatalf("rev %d, model %d", sm.s.Rev(), sm.m.rev)
			}
			sm.checkLeases(t)
			checkIndex(t, sm.s)
			if sm.twin != nil {
				sameHistory(t, sm.s, sm.twin)
			}
		},
	}
}

// checkIndex asserts the key index's invariants: its map and tree hold the
// same key indexes, and a cached latest record is the engine's record of
// the key's newest revision, which is a put.
func checkIndex(t *rapid.T, s *Store) {
	n := 0
	s.idx.ascend(func(ki *keyIndex) bool {
		n++
		revs := ki.revs()
		for i, r := range revs {
			// Generations start with a put: no tombstone first or twice.
			if r.tomb() && (i == 0 || revs[i-1].tomb()) {
				t.Fatalf("key %q: revisions %v: a generation starts with a tombstone", ki.key(), revs)
			}
			if i > 0 && !revs[i-1].plain().less(r.plain()) {
				t.Fatalf("key %q: revisions %v out of order", ki.key(), revs)
			}
			// A ghost starts a generation and is followed by its puts.
			if r.ghost() && ((i > 0 && !revs[i-1].tomb()) || i == len(revs)-1 || revs[i+1].tomb()) {
				t.Fatalf("key %q: revisions %v: a ghost out of place", ki.key(), revs)
			}
		}
		if ki.live() {
			// The index alone gives what a put takes from the version it
			// replaces.
			var kv mvccpb.KeyValue
			s.readKVInto(ki, ki.last(), &kv)
			created, version := ki.generation()
			if created != kv.CreateRevision || version != kv.Version {
				t.Fatalf("key %q: revisions %v: index says created %d version %d, record %v",
					ki.key(), revs, created, version, &kv)
			}
			want := kv.Lease
			if s.leases[want] == nil {
				want = 0 // a put has nothing to detach from
			}
			if lease := s.leaseOf(ki.keyBytes()); lease != want {
				t.Fatalf("key %q: attached to lease %d, record %v", ki.key(), lease, &kv)
			}
		}
		if s.idx.get(ki.keyBytes()) != ki {
			t.Fatalf("key %q: map and tree disagree", ki.key())
		}
		cur := ki.record()
		if cur == nil {
			return true
		}
		if !ki.live() {
			t.Fatalf("key %q: cached record of a deleted key", ki.key())
		}
		v, ok, err := s.eng.Get(appendRevKey(nil, ki.last()))
		if err != nil || !ok || !bytes.Equal(v, cur) {
			t.Fatalf("key %q: cached record %x, engine %x (ok=%v err=%v)", ki.key(), cur, v, ok, err)
		}
		return true
	})
	if n != s.idx.byKey.len() {
		t.Fatalf("index tree has %d keys, map %d", n, s.idx.byKey.len())
	}
}

// TestStoreMatchesModel drives the store and the plain model with the same
// random requests over a few keys and compares every answer.
func TestStoreMatchesModel(t *testing.T) {
	setDefaultFlag(t, "rapid.checks", fmt.Sprint(minRapidChecks))
	setDefaultFlag(t, "rapid.steps", fmt.Sprint(defaultRapidSteps))
	rapid.Check(t, func(t *rapid.T) {
		s, err := Open(memory.New())
		if err != nil {
			t.Fatal(err)
		}
		sm := &storeMachine{s: s, m: newModel()}
		t.Repeat(sm.actions())
	})
}
