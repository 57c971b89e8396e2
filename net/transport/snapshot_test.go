package transport

import (
	"bytes"
	"errors"
	"io"
	"sync"
	"testing"
	"time"

	"go.etcd.io/raft/v3/raftpb"
	"google.golang.org/protobuf/proto"
)

// memSnapshots is a SnapshotFiles over maps: files to send by snapshot
// index, and what was received, with the largest single read the receiver
// got (the stream's piece size).
type memSnapshots struct {
	mu      sync.Mutex
	files   map[uint64][]byte
	got     map[uint64][]byte
	maxRead int
	reject  error
}

func newMemSnapshots() *memSnapshots {
	return &memSnapshots{files: map[uint64][]byte{}, got: map[uint64][]byte{}}
}

func (s *memSnapshots) Open(m *raftpb.Message) (io.ReadCloser, int64, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	f, ok := s.files[m.GetSnapshot().GetMetadata().GetIndex()]
	if !ok {
		return nil, 0, errors.New("no such snapshot")
	}
	return io.NopCloser(bytes.NewReader(f)), int64(len(f)), nil
}

func (s *memSnapshots) Receive(m *raftpb.Message, body io.Reader) error {
	var buf bytes.Buffer
	p := make([]byte, 1<<20)
	for {
		n, err := body.Read(p)
		buf.Write(p[:n])
		s.mu.Lock()
		s.maxRead = max(s.maxRead, n)
		s.mu.Unlock()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return err
		}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.reject != nil {
		return s.reject
	}
	s.got[m.GetSnapshot().GetMetadata().GetIndex()] = buf.Bytes()
	return nil
}

func snapMsg(from, to, index uint64) *raftpb.Message {
	return &raftpb.Message{
		Type: raftpb.MsgSnap.Enum(), From: proto.Uint64(from), To: proto.Uint64(to), Term: proto.Uint64(3),
		Snapshot: &raftpb.Snapshot{Data: []byte("descriptor"), Metadata: &raftpb.SnapshotMetadata{
			Index: proto.Uint64(index), Term: proto.Uint64(3),
			ConfState: &raftpb.ConfState{Voters: []uint64{1, 2}},
		}},
	}
}

func waitSnapReport(t *testing.T, m *member) snapReport {
	t.Helper()
	select {
	case r := <-m.snaps:
		return r
	case <-time.After(patience):
		t.Fatal("no snapshot report")
		return snapReport{}
	}
}

// A MsgSnap carries a descriptor; its file follows on a Snapshot stream in
// ChunkBytes pieces, is stored before the message is delivered, and
// arrives intact.
func TestSnapshotFileStreamsInChunks(t *testing.T) {
	src, dst := newMemSnapshots(), newMemSnapshots()
	src.files[1000] = randomBytes(3<<20+123, 9)
	a := startMember(t, 1, Options{ChunkBytes: 64 << 10, Snapshots: src})
	b := startMember(t, 2, Options{ChunkBytes: 64 << 10, Snapshots: dst})
	link(t, a, b)
	a.t.Send([]*raftpb.Message{snapMsg(1, 2, 1000)})
	got := receive(t, b)
	if got.GetType() != raftpb.MsgSnap || string(got.GetSnapshot().GetData()) != "descriptor" {
		t.Fatalf("got %v with data %q, want the MsgSnap and its descriptor", got.GetType(), got.GetSnapshot().GetData())
	}
	dst.mu.Lock()
	file, maxRead := dst.got[1000], dst.maxRead
	dst.mu.Unlock()
	if !bytes.Equal(file, src.files[1000]) {
		t.Fatalf("file arrived as %d bytes, sent %d (or differs); stored before delivery?", len(file), len(src.files[1000]))
	}
	if maxRead > 64<<10 {
		t.Fatalf("receiver read a piece of %d bytes: the file was not streamed in 64 KiB chunks", maxRead)
	}
	if r := waitSnapReport(t, a); r != (snapReport{2, true}) {
		t.Fatalf("snapshot report %+v, want {2 true}", r)
	}
}

// A file the receiver cannot store fails the snapshot: reported failed,
// the message never delivered.
func TestSnapshotFileRejectedByReceiver(t *testing.T) {
	src, dst := newMemSnapshots(), newMemSnapshots()
	src.files[7] = randomBytes(200<<10, 3)
	dst.reject = errors.New("disk full")
	a := startMember(t, 1, Options{ChunkBytes: 16 << 10, Snapshots: src})
	b := startMember(t, 2, Options{Snapshots: dst})
	link(t, a, b)
	a.t.Send([]*raftpb.Message{snapMsg(1, 2, 7)})
	if r := waitSnapReport(t, a); r != (snapReport{2, false}) {
		t.Fatalf("snapshot report %+v, want {2 false}", r)
	}
	// A file the sender cannot open fails too.
	a.t.Send([]*raftpb.Message{snapMsg(1, 2, 8)})
	if r := waitSnapReport(t, a); r != (snapReport{2, false}) {
		t.Fatalf("snapshot report for a missing file %+v, want {2 false}", r)
	}
	// The link still works, and nothing of the snapshots was delivered.
	a.t.Send([]*raftpb.Message{heartbeat(1, 2, 9)})
	if got := receive(t, b); got.GetType() != raftpb.MsgHeartbeat {
		t.Fatalf("got %v, want only the heartbeat", got.GetType())
	}
}
