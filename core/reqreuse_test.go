package core

import (
	"testing"

	pb "go.etcd.io/etcd/api/v3/etcdserverpb"
	"google.golang.org/protobuf/proto"

	"metastore/core/mvcc"
	"metastore/engines/memory"
)

// TestDecodedPutReuse decodes two puts into the same messages, as
// requestOf does for consecutive entries, applying each: the second
// decoding must not carry over the first's fields, and what the store
// returned for the first (its event, which a watcher may still hold) must
// not change when the messages are reused.
func TestDecodedPutReuse(t *testing.T) {
	s, err := mvcc.Open(memory.New())
	if err != nil {
		t.Fatal(err)
	}
	first := &pb.InternalRaftRequest{Header: &pb.RequestHeader{ID: 7},
		Put: &pb.PutRequest{Key: []byte("first"), Value: []byte("one"), PrevKv: true}}
	second := &pb.InternalRaftRequest{Put: &pb.PutRequest{Key: []byte("second")}}
	var reused putWrite
	var results []mvcc.Result
	for i, want := range []*pb.InternalRaftRequest{first, second} {
		data, err := MarshalRequest(want)
		if err != nil {
			t.Fatal(err)
		}
		got, err := unmarshalRequest(data, &reused)
		if err != nil {
			t.Fatal(err)
		}
		if got != &reused.req {
			t.Fatalf("put %d was not decoded into the messages given", i)
		}
		if !proto.Equal(got, want) {
			t.Fatalf("put %d decoded as %v, want %v", i, got, want)
		}
		res := s.Apply(uint64(i+1), got)
		if res.Err != nil {
			t.Fatal(res.Err)
		}
		results = append(results, res)
	}
	if kv := results[0].Events[0].Kv; string(kv.Key) != "first" || string(kv.Value) != "one" {
		t.Errorf("the first put's event became %q = %q", kv.Key, kv.Value)
	}
	data, err := MarshalRequest(first)
	if err != nil {
		t.Fatal(err)
	}
	if got := testing.AllocsPerRun(100, func() {
		if _, err := unmarshalRequest(data, &reused); err != nil {
			t.Fatal(err)
		}
	}); got != 0 {
		t.Errorf("decoding into given messages allocated %v times", got)
	}
}
