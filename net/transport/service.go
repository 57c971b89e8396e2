package transport

import (
	"context"
	"errors"
	"io"
	"strconv"

	"go.etcd.io/raft/v3/raftpb"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/wrapperspb"
)

// Names of the hand-declared peer service and its methods.
const (
	ServiceName   = "metastore.transport.v1.Raft"
	MessageMethod = "/" + ServiceName + "/Message"
	LargeMethod   = "/" + ServiceName + "/Large"
	// SnapshotMethod carries a MsgSnap and then its snapshot file.
	SnapshotMethod = "/" + ServiceName + "/Snapshot"
)

// Metadata keys every stream carries.
const (
	mdToken   = "metastore-cluster-token"
	mdCluster = "metastore-cluster-id"
	mdFrom    = "metastore-from"
)

// peerService is the handler type the ServiceDesc checks *Transport against.
type peerService interface {
	serveMessages(grpc.ServerStream) error
	serveLarge(grpc.ServerStream) error
	serveSnapshot(grpc.ServerStream) error
}

var serviceDesc = grpc.ServiceDesc{
	ServiceName: ServiceName,
	HandlerType: (*peerService)(nil),
	Streams: []grpc.StreamDesc{
		{
			StreamName:    "Message",
			Handler:       func(srv any, s grpc.ServerStream) error { return srv.(peerService).serveMessages(s) },
			ServerStreams: true,
			ClientStreams: true,
		},
		{
			StreamName:    "Large",
			Handler:       func(srv any, s grpc.ServerStream) error { return srv.(peerService).serveLarge(s) },
			ClientStreams: true,
		},
		{
			StreamName:    "Snapshot",
			Handler:       func(srv any, s grpc.ServerStream) error { return srv.(peerService).serveSnapshot(s) },
			ClientStreams: true,
		},
	},
	Metadata: "metastore/net/transport (hand-declared, no .proto)",
}

// Register installs the peer service on s. Build s with ServerOptions. A
// Transport may be registered on one server only (gRPC refuses a second
// registration of the same service on a server).
func (t *Transport) Register(s *grpc.Server) {
	s.RegisterService(&serviceDesc, t)
}

// authorize checks the stream's cluster token and cluster ID and returns
// the sender's ID.
func (t *Transport) authorize(ctx context.Context) (uint64, error) {
	md, _ := metadata.FromIncomingContext(ctx)
	return t.authorizeFields(md.Get(mdToken), md.Get(mdCluster), md.Get(mdFrom))
}

// authorizeFields checks the values a stream states for the token, cluster
// ID and sender keys, however they travelled.
func (t *Transport) authorizeFields(token, cluster, fromID []string) (uint64, error) {
	if len(token) != 1 || token[0] != t.opts.ClusterToken {
		return 0, status.Errorf(codes.PermissionDenied,
			"transport: cluster token mismatch (this member's --initial-cluster-token is %q)", t.opts.ClusterToken)
	}
	// A sender that states no cluster ID (an older member) or 0 (one that
	// joined, see Options.ClusterID) passes on the token alone.
	if cid, err := strconv.ParseUint(firstOf(cluster), 16, 64); err == nil && cid != 0 &&
		t.opts.ClusterID != 0 && cid != t.opts.ClusterID {
		return 0, status.Errorf(codes.PermissionDenied,
			"transport: cluster ID mismatch (this member's cluster is %x, the sender's %x)", t.opts.ClusterID, cid)
	}
	from, err := strconv.ParseUint(firstOf(fromID), 16, 64)
	if err != nil || from == 0 {
		return 0, status.Error(codes.InvalidArgument, "transport: missing sender member ID")
	}
	return from, nil
}

func firstOf(v []string) string {
	if len(v) == 0 {
		return ""
	}
	return v[0]
}

// serveMessages receives one frame per message until the sender closes.
func (t *Transport) serveMessages(s grpc.ServerStream) error {
	from, err := t.authorize(s.Context())
	if err != nil {
		return err
	}
	t.opts.Logger.Debug("peer stream opened", "from", from)
	for {
		in := new(wrapperspb.BytesValue)
		if err := s.RecvMsg(in); err != nil {
			if errors.Is(err, io.EOF) {
				return nil
			}
			return err
		}
		if err := t.deliver(s.Context(), in.GetValue()); err != nil {
			return err
		}
	}
}

// serveLarge reassembles one chunked message, delivers it, then acks.
func (t *Transport) serveLarge(s grpc.ServerStream) error {
	if _, err := t.authorize(s.Context()); err != nil {
		return err
	}
	var buf []byte
	for {
		in := new(wrapperspb.BytesValue)
		err := s.RecvMsg(in)
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return err
		}
		buf = append(buf, in.GetValue()...)
	}
	if err := t.deliver(s.Context(), buf); err != nil {
		return err
	}
	return s.SendMsg(&wrapperspb.BytesValue{})
}

// deliver decodes a message and hands it to Incoming (deliverMsg). b
// belongs to the message from now on.
func (t *Transport) deliver(ctx context.Context, b []byte) error {
	m, err := t.decode(b)
	if err != nil {
		return err
	}
	return t.deliverMsg(ctx, m)
}

// decode decodes b, which belongs to the message from now on: the fast
// path slices entry data and context from it.
func (t *Transport) decode(b []byte) (*raftpb.Message, error) {
	if m, ok := decodeFast(b); ok {
		return m, nil
	}
	m := new(raftpb.Message)
	if err := proto.Unmarshal(b, m); err != nil {
		return nil, status.Errorf(codes.InvalidArgument, "transport: bad raft message: %v", err)
	}
	return m, nil
}

// deliverMsg hands m to Incoming, waiting while that is full. Messages
// addressed to another member are dropped: they come from a peer with a
// stale idea of who lives at this address.
func (t *Transport) deliverMsg(ctx context.Context, m *raftpb.Message) error {
	if m.GetTo() != t.self {
		t.opts.Logger.Warn("dropping message for another member", "to", m.GetTo(), "self", t.self)
		return nil
	}
	// NB: a send that need not wait skips the three-way select, which
	// locks every channel in it; under load Incoming is rarely full.
	select {
	case t.incoming <- m:
		return nil
	default:
	}
	select {
	case t.incoming <- m:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	case <-t.ctx.Done():
		return status.Error(codes.Unavailable, "transport: closed")
	}
}
