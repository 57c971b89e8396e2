package transport

import (
	"errors"
	"fmt"
	"io"
	"time"

	"go.etcd.io/raft/v3/raftpb"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/wrapperspb"
)

// SnapshotFiles gives the transport the snapshot file a MsgSnap stands
// for: a MsgSnap carries only a descriptor, and the file travels after it
// on a Snapshot stream. core.SnapshotFiles implements it. Both methods are
// called on transport goroutines.
type SnapshotFiles interface {
	// Open returns the file of MsgSnap m (sending side) and its length.
	Open(m *raftpb.Message) (io.ReadCloser, int64, error)
	// Receive stores body, the file sent with m, before m is delivered; an
	// error rejects the snapshot (the sender reports it failed).
	Receive(m *raftpb.Message, body io.Reader) error
}

// sendSnapshot streams one MsgSnap on a Snapshot stream: the encoded
// message as the first frame, then its file in ChunkBytes frames read one
// at a time, and waits for the receiver's acknowledgement, which comes
// after it stored the file and delivered the message.
func (p *peer) sendSnapshot(b []byte, m *raftpb.Message) error {
	body, size, err := p.t.opts.Snapshots.Open(m)
	if err != nil {
		return fmt.Errorf("open snapshot %d: %w", m.GetSnapshot().GetMetadata().GetIndex(), err)
	}
	defer body.Close()
	p.largeMu.Lock()
	defer p.largeMu.Unlock()
	if err := p.ctx.Err(); err != nil {
		return err
	}
	conn, err := p.getConn()
	if err != nil {
		return err
	}
	start := time.Now()
	s, err := conn.NewStream(p.outgoing(), &serviceDesc.Streams[2], SnapshotMethod)
	if err != nil {
		return err
	}
	if err := s.SendMsg(&wrapperspb.BytesValue{Value: b}); err != nil {
		return s.RecvMsg(new(wrapperspb.BytesValue)) // the stream's real status
	}
	buf := make([]byte, p.t.opts.ChunkBytes)
	var sent int64
	for sent < size {
		n, rerr := io.ReadFull(body, buf[:min(int64(len(buf)), size-sent)])
		if rerr != nil {
			s.CloseSend()
			return fmt.Errorf("read snapshot file at %d of %d bytes: %w", sent, size, rerr)
		}
		if err := s.SendMsg(&wrapperspb.BytesValue{Value: buf[:n]}); err != nil {
			break // the stream's real status comes from RecvMsg
		}
		sent += int64(n)
	}
	if err := s.CloseSend(); err != nil {
		return err
	}
	if err := s.RecvMsg(new(wrapperspb.BytesValue)); err != nil {
		return err
	}
	p.t.opts.Logger.Info("sent snapshot", "peer", fmt.Sprintf("%x", p.id),
		"index", m.GetSnapshot().GetMetadata().GetIndex(), "bytes", size, "took", time.Since(start))
	return nil
}

// serveSnapshot receives one MsgSnap and its file, stores the file through
// Options.Snapshots as it arrives (never whole in memory), delivers the
// message, then acknowledges.
func (t *Transport) serveSnapshot(s grpc.ServerStream) error {
	if _, err := t.authorize(s.Context()); err != nil {
		return err
	}
	if t.opts.Snapshots == nil {
		return status.Error(codes.Unimplemented, "transport: this member takes no snapshot files")
	}
	first := new(wrapperspb.BytesValue)
	if err := s.RecvMsg(first); err != nil {
		return err
	}
	m, err := t.decode(first.GetValue())
	if err != nil {
		return err
	}
	if m.GetType() != raftpb.MsgSnap {
		return status.Errorf(codes.InvalidArgument, "transport: %v on the snapshot stream", m.GetType())
	}
	if m.GetTo() != t.self {
		t.opts.Logger.Warn("dropping snapshot for another member", "to", m.GetTo(), "self", t.self)
		return status.Error(codes.FailedPrecondition, "transport: snapshot for another member")
	}
	fr := &frameReader{s: s}
	if err := t.opts.Snapshots.Receive(m, fr); err != nil {
		t.opts.Logger.Warn("snapshot receive failed", "from", m.GetFrom(), "index", m.GetSnapshot().GetMetadata().GetIndex(), "err", err)
		return status.Errorf(codes.Aborted, "transport: store snapshot: %v", err)
	}
	if !fr.atEOF() {
		return status.Error(codes.InvalidArgument, "transport: bytes after the snapshot file")
	}
	if err := t.deliverMsg(s.Context(), m); err != nil {
		return err
	}
	return s.SendMsg(&wrapperspb.BytesValue{})
}

// frameReader reads the frames of a stream as one byte stream.
type frameReader struct {
	s   grpc.ServerStream
	buf []byte
	err error
}

func (r *frameReader) Read(p []byte) (int, error) {
	for len(r.buf) == 0 {
		if r.err != nil {
			return 0, r.err
		}
		in := new(wrapperspb.BytesValue)
		if err := r.s.RecvMsg(in); err != nil {
			r.err = err
			continue
		}
		r.buf = in.GetValue()
	}
	n := copy(p, r.buf)
	r.buf = r.buf[n:]
	return n, nil
}

// atEOF reports whether the sender closed the stream with nothing unread.
func (r *frameReader) atEOF() bool {
	if len(r.buf) > 0 {
		return false
	}
	var one [1]byte
	n, err := r.Read(one[:])
	return n == 0 && errors.Is(err, io.EOF)
}
