package server

import (
	"math"
	"testing"

	pb "go.etcd.io/etcd/api/v3/etcdserverpb"
	"google.golang.org/protobuf/proto"
)

// proposedSize counts the header the replica adds, at its largest.
func TestProposedSizeCountsHeader(t *testing.T) {
	put := &pb.PutRequest{Key: []byte("k"), Value: make([]byte, 1000)}
	want := proto.Size(&pb.InternalRaftRequest{Header: &pb.RequestHeader{ID: math.MaxUint64}, Put: put})
	if got := proposedSize(&pb.InternalRaftRequest{Put: put}); got != want {
		t.Fatalf("no header: %d, want %d", got, want)
	}
	withID := &pb.InternalRaftRequest{Header: &pb.RequestHeader{ID: 7}, Put: put}
	if got := proposedSize(withID); got != proto.Size(withID) {
		t.Fatalf("with an ID: %d, want %d", got, proto.Size(withID))
	}
}
