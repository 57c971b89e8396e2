package transport

import (
	"fmt"

	"go.etcd.io/raft/v3/raftpb"
	"google.golang.org/protobuf/types/known/wrapperspb"
)

// sendLarge sends b (an encoded MsgSnap, or a message too big for one frame)
// in chunks on its own goroutine, so Send does not wait for it; with
// snapMsg (a MsgSnap, when Options.Snapshots is set) it sends b and then
// the snapshot file on a Snapshot stream. The caller
// holds t.mu and has checked !t.closed. Beyond MaxLargePending the message
// is dropped: a MsgSnap is reported failed, anything else unreachable.
func (p *peer) sendLarge(b []byte, snap bool, snapMsg *raftpb.Message) {
	select {
	case p.large <- struct{}{}:
	default:
		if snap {
			p.t.goLocked(func() { p.t.opts.OnSnapshotStatus(p.id, false) }, p.t.opts.OnSnapshotStatus != nil)
		} else {
			p.reportUnreachableLocked()
		}
		return
	}
	p.t.goLocked(func() {
		defer func() { <-p.large }()
		var err error
		if snapMsg != nil {
			err = p.sendSnapshot(b, snapMsg)
		} else {
			err = p.sendChunks(b)
		}
		if err != nil {
			p.t.opts.Logger.Info("chunked send failed", "peer", fmt.Sprintf("%x", p.id), "bytes", len(b), "err", err)
		}
		switch {
		case snap && p.t.opts.OnSnapshotStatus != nil:
			p.t.opts.OnSnapshotStatus(p.id, err == nil)
		case !snap && err != nil:
			p.reportUnreachable()
		}
	}, true)
}

// sendChunks writes b as ChunkBytes frames on one Large stream and waits for
// the receiver's acknowledgement, which comes after it delivered the
// reassembled message.
func (p *peer) sendChunks(b []byte) error {
	p.largeMu.Lock()
	defer p.largeMu.Unlock()
	if err := p.ctx.Err(); err != nil {
		return err
	}
	conn, err := p.getConn()
	if err != nil {
		return err
	}
	s, err := conn.NewStream(p.outgoing(), &serviceDesc.Streams[1], LargeMethod)
	if err != nil {
		return err
	}
	chunk := p.t.opts.ChunkBytes
	for off := 0; off < len(b); off += chunk {
		if err := s.SendMsg(&wrapperspb.BytesValue{Value: b[off:min(off+chunk, len(b))]}); err != nil {
			// The stream's real status comes from RecvMsg.
			break
		}
	}
	if err := s.CloseSend(); err != nil {
		return err
	}
	return s.RecvMsg(new(wrapperspb.BytesValue))
}
