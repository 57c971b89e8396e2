package transport

import (
	"fmt"

	"go.etcd.io/raft/v3/raftpb"
	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"
)

// encoded is one message as it goes on the wire: head followed by body.
// A MsgApp's entries are its body, encoded once per Send for every peer
// the same entries go to and shared read-only between their queues; the
// head is the rest of the message, encoded per peer. Protobuf readers take
// fields in any order, so head+body decodes, on any member, to the
// message that was sent.
type encoded struct {
	head, body []byte
}

func (e encoded) size() int { return len(e.head) + len(e.body) }

// joined returns the message in one buffer, for the gRPC streams, which
// take a frame as one value.
func (e encoded) joined() []byte {
	if len(e.body) == 0 {
		return e.head
	}
	b := make([]byte, 0, e.size())
	return append(append(b, e.head...), e.body...)
}

// fieldEntries is raftpb.Message's field number for Entries.
const fieldEntries protowire.Number = 7

// encoder encodes the messages of one Send. It keeps the last entries body
// it made: raft sends the followers that are caught up the same entries
// in one Ready, and two runs of a leader's log with the same first index
// and the same last index and term hold the same entries (raft's log
// matching), so the key needs no look at the entries' contents.
type encoder struct {
	first, last, lastTerm uint64
	body                  []byte
}

// encode marshals m. It sets m.Entries aside while it marshals the head and
// puts it back before returning: the caller owns m and is inside Send.
func (c *encoder) encode(m *raftpb.Message) (encoded, error) {
	ents := m.GetEntries()
	if m.GetType() != raftpb.MsgApp || len(ents) == 0 {
		b, err := proto.Marshal(m)
		return encoded{head: b}, err
	}
	first, last := ents[0].GetIndex(), ents[len(ents)-1]
	if c.body == nil || c.first != first || c.last != last.GetIndex() || c.lastTerm != last.GetTerm() {
		body, err := encodeEntries(ents)
		if err != nil {
			return encoded{}, err
		}
		c.first, c.last, c.lastTerm, c.body = first, last.GetIndex(), last.GetTerm(), body
	}
	m.Entries = nil
	head, err := proto.Marshal(m)
	m.Entries = ents
	return encoded{head: head, body: c.body}, err
}

// encodeEntries encodes ents as the Entries field of a raftpb.Message.
func encodeEntries(ents []*raftpb.Entry) ([]byte, error) {
	n := 0
	for _, e := range ents {
		n += protowire.SizeTag(fieldEntries) + protowire.SizeBytes(proto.Size(e))
	}
	b := make([]byte, 0, n)
	// NB: proto.Size above cached each entry's size; these reuse it.
	opts := proto.MarshalOptions{UseCachedSize: true}
	for _, e := range ents {
		b = protowire.AppendTag(b, fieldEntries, protowire.BytesType)
		b = protowire.AppendVarint(b, uint64(opts.Size(e)))
		var err error
		if b, err = opts.MarshalAppend(b, e); err != nil {
			return nil, fmt.Errorf("transport: marshal entry %d: %w", e.GetIndex(), err)
		}
	}
	return b, nil
}
