package server

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"testing"
	"time"

	pb "go.etcd.io/etcd/api/v3/etcdserverpb"
	"go.etcd.io/etcd/api/v3/mvccpb"
	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
	clientv3 "go.etcd.io/etcd/client/v3"
	"google.golang.org/protobuf/proto"

	"metastore/core"
)

// rangeStream merges a RangeStream's chunks as the proto says clients may
// (proto.Merge) and returns the merge, the chunk count and the largest
// chunk's size.
func rangeStream(t *testing.T, kv pb.KVClient, req *pb.RangeRequest) (*pb.RangeResponse, int, int) {
	t.Helper()
	st, err := kv.RangeStream(context.Background(), req)
	if err != nil {
		t.Fatal(err)
	}
	merged := &pb.RangeResponse{}
	chunks, largest := 0, 0
	for {
		resp, err := st.Recv()
		if errors.Is(err, io.EOF) {
			return merged, chunks, largest
		}
		largest = max(largest, proto.Size(resp))
		if err != nil {
			t.Fatalf("RangeStream %v: %v", req, err)
		}
		chunks++
		if merged.Header != nil {
			t.Fatalf("chunk %d after the one with the header", chunks)
		}
		proto.Merge(merged, resp.RangeResponse)
	}
}

func TestRangeStreamEqualsRange(t *testing.T) {
	// A small request limit makes chunks small, so 3,000 keys take many.
	const target = 8 << 10
	m := startSingle(t, func(c *Config) { c.MaxRequestBytes = target })
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	const keys = 3000
	for i := 0; i < keys; i += 100 {
		var ops []clientv3.Op
		for j := i; j < i+100; j++ {
			ops = append(ops, clientv3.OpPut(fmt.Sprintf("k/%05d", j), fmt.Sprintf("value-%d", j)))
		}
		if _, err := m.cli.Txn(ctx).Then(ops...).Commit(); err != nil {
			t.Fatal(err)
		}
	}
	// Big values after many small ones: the read sized from the small keys
	// is far over the chunk target and must go out in pieces.
	for i := 0; i < 200; i++ {
		if _, err := m.cli.Put(ctx, fmt.Sprintf("k/z%03d", i), strings.Repeat("v", 2000)); err != nil {
			t.Fatal(err)
		}
	}
	old, err := m.cli.Put(ctx, "k/00000", "rewritten")
	if err != nil {
		t.Fatal(err)
	}
	kv := pb.NewKVClient(m.cli.ActiveConnection())
	prefix := []byte("k/")
	end := []byte("k0")
	cases := []*pb.RangeRequest{
		{Key: prefix, RangeEnd: end},
		{Key: prefix, RangeEnd: end, Limit: 777},
		{Key: prefix, RangeEnd: end, KeysOnly: true, Serializable: true},
		{Key: prefix, RangeEnd: end, CountOnly: true},
		{Key: prefix, RangeEnd: end, Revision: old.Header.Revision - 1},
		{Key: []byte("k/01000"), RangeEnd: []byte("k/01010")},
		{Key: []byte("nothing")},
		{Key: prefix, RangeEnd: end, SortOrder: pb.RangeRequest_ASCEND},
	}
	for _, req := range cases {
		want, err := kv.Range(ctx, req)
		if err != nil {
			t.Fatal(err)
		}
		got, chunks, largest := rangeStream(t, kv, req)
		if !proto.Equal(got, want) {
			t.Errorf("%v: RangeStream merged != Range (count %d/%d, kvs %d/%d, more %v/%v)", req,
				got.Count, want.Count, len(got.Kvs), len(want.Kvs), got.More, want.More)
		}
		if largest > 2*target {
			t.Errorf("%v: a chunk of %d bytes, target %d", req, largest, target)
		}
		if len(want.Kvs) > 1000 && chunks < 3 {
			t.Errorf("%v: %d keys in %d chunks, want several", req, len(want.Kvs), chunks)
		}
	}

	for _, req := range []*pb.RangeRequest{
		{Key: prefix, RangeEnd: end, SortOrder: pb.RangeRequest_DESCEND},
		{Key: prefix, RangeEnd: end, MinModRevision: 3},
	} {
		st, err := kv.RangeStream(ctx, req)
		if err == nil {
			_, err = st.Recv()
		}
		if err == nil {
			t.Errorf("%v: accepted, want Unimplemented", req)
		}
	}
}

// A limit above etcd's default 128 is honoured all the way through apply.
func TestMaxTxnOpsRaised(t *testing.T) {
	m := &member{id: 1, name: "solo", dir: t.TempDir()}
	var err error
	if m.lis, err = listenLoopback(); err != nil {
		t.Fatal(err)
	}
	m.start(t, core.Config{ID: 1, Peers: []uint64{1}, Network: dropNetwork{}, MaxTxnOps: 300}, nil)
	waitLeader(t, m)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	var ops []clientv3.Op
	for i := 0; i < 300; i++ {
		ops = append(ops, clientv3.OpPut(fmt.Sprintf("k%03d", i), "v"))
	}
	if _, err := m.cli.Txn(ctx).Then(ops...).Commit(); err != nil {
		t.Fatalf("300 ops with --max-txn-ops=300: %v", err)
	}
	resp, err := m.cli.Get(ctx, "k", clientv3.WithPrefix(), clientv3.WithCountOnly())
	if err != nil || resp.Count != 300 {
		t.Fatalf("count %v, %v; want 300", resp, err)
	}
	ops = append(ops, clientv3.OpPut("k300", "v"))
	if _, err := m.cli.Txn(ctx).Then(ops...).Commit(); err != rpctypes.Error(rpctypes.ErrGRPCTooManyOps) {
		t.Fatalf("301 ops: err = %v, want %v", err, rpctypes.ErrGRPCTooManyOps)
	}
}

func TestMaxTxnOps(t *testing.T) {
	m := &member{id: 1, name: "solo", dir: t.TempDir()}
	var err error
	if m.lis, err = listenLoopback(); err != nil {
		t.Fatal(err)
	}
	m.start(t, core.Config{ID: 1, Peers: []uint64{1}, Network: dropNetwork{}, MaxTxnOps: 4}, nil)
	waitLeader(t, m)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	put := func(k string) clientv3.Op { return clientv3.OpPut(k, "v") }
	if _, err := m.cli.Txn(ctx).Then(put("a"), put("b"), put("c"), put("d")).Commit(); err != nil {
		t.Fatalf("4 ops: %v", err)
	}
	_, err = m.cli.Txn(ctx).Then(put("a"), put("b"), put("c"), put("d"), put("e")).Commit()
	if err != rpctypes.Error(rpctypes.ErrGRPCTooManyOps) {
		t.Fatalf("5 ops: err = %v, want %v", err, rpctypes.ErrGRPCTooManyOps)
	}
	// A nested txn gets what its parent leaves: 2 + 3 > 4.
	nested := clientv3.OpTxn(nil, []clientv3.Op{put("x"), put("y"), put("z")}, nil)
	_, err = m.cli.Txn(ctx).Then(put("a"), nested).Commit()
	if err != rpctypes.Error(rpctypes.ErrGRPCTooManyOps) {
		t.Fatalf("nested: err = %v, want %v", err, rpctypes.ErrGRPCTooManyOps)
	}
}

func TestAutoCompactionPeriodic(t *testing.T) {
	a := &autoCompaction{period: 10 * time.Minute}
	if a.interval() != time.Minute {
		t.Fatalf("interval %v, want 1m", a.interval())
	}
	t0 := time.Unix(1000, 0)
	rev := func(i int) int64 { return int64(100 + 10*i) } // revision at minute i
	var got []int64
	for i := 0; i <= 30; i++ {
		now := t0.Add(time.Duration(i) * time.Minute)
		if target := a.observe(now, rev(i), true); target != 0 {
			got = append(got, target)
			a.done(now, target, nil)
		}
	}
	// First after a whole window (minute 10: the revision of minute 0),
	// then every period, each time keeping the last 10 minutes.
	want := []int64{rev(0), rev(10), rev(20)}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("compacted to %v, want %v", got, want)
	}
	// Losing leadership forgets the window.
	if target := a.observe(t0.Add(31*time.Minute), rev(31), false); target != 0 {
		t.Fatalf("follower compacts to %d", target)
	}
	if target := a.observe(t0.Add(32*time.Minute), rev(32), true); target != 0 {
		t.Fatalf("new leader compacts at once to %d", target)
	}
}

func TestAutoCompactionRevision(t *testing.T) {
	a := &autoCompaction{keep: 1000}
	if a.interval() != 5*time.Minute {
		t.Fatalf("interval %v", a.interval())
	}
	now := time.Unix(0, 0)
	if got := a.observe(now, 900, true); got != 0 {
		t.Fatalf("compacts to %d with fewer revisions than kept", got)
	}
	if got := a.observe(now, 5000, false); got != 0 {
		t.Fatalf("follower compacts to %d", got)
	}
	got := a.observe(now, 5000, true)
	if got != 4000 {
		t.Fatalf("compacts to %d, want 4000", got)
	}
	a.done(now, got, nil)
	if got := a.observe(now, 5000, true); got != 0 {
		t.Fatalf("compacts again to %d without new revisions", got)
	}
}

func TestSplitKVs(t *testing.T) {
	kv := func(n int) *mvccpb.KeyValue { return &mvccpb.KeyValue{Key: []byte("k"), Value: make([]byte, n)} }
	kvs := []*mvccpb.KeyValue{kv(10), kv(10), kv(500), kv(10), kv(2000), kv(10)}
	pieces := splitKVs(kvs, 600)
	var lens []int
	total := 0
	for _, p := range pieces {
		lens = append(lens, len(p))
		total += len(p)
	}
	// A key bigger than the target travels alone; none is lost or repeated.
	if fmt.Sprint(lens) != "[4 1 1]" || total != len(kvs) || pieces[1][0] != kvs[4] {
		t.Fatalf("pieces of %v", lens)
	}
	if p := splitKVs(nil, 600); len(p) != 1 || len(p[0]) != 0 {
		t.Fatalf("no keys: %v", p)
	}
}
