package transport

import (
	"math"

	"go.etcd.io/raft/v3/raftpb"
	"google.golang.org/protobuf/encoding/protowire"
)

// decodeFast decodes the messages a busy cluster exchanges (appends,
// their responses, heartbeats, votes, proposals) without protobuf's
// reflection, in a handful of allocations: the message and its optional
// scalars in one block, the entries in one array, their scalars in
// another, and their data and the context sliced from b. proto.Unmarshal
// makes one allocation per set field and per entry field instead, about
// 14 for a one-entry MsgApp against 6 here, and that was most of a
// follower's decoding time.
//
// b must belong to the message from now on (the caller passes a copy when
// it reuses its buffer). ok is false for anything it does not take on
// (a snapshot, storage responses, an unknown field or enum value, a
// malformed encoding): the caller then decodes with proto.Unmarshal, whose
// verdict and result stand.
func decodeFast(b []byte) (m *raftpb.Message, ok bool) {
	entries := 0
	for rest := b; len(rest) > 0; {
		num, typ, n := protowire.ConsumeTag(rest)
		if n < 0 {
			return nil, false
		}
		rest = rest[n:]
		if num == fieldEntries && typ == protowire.BytesType {
			entries++
		}
		if n = protowire.ConsumeFieldValue(num, typ, rest); n < 0 {
			return nil, false
		}
		rest = rest[n:]
	}
	blk := new(messageBlock)
	m = &blk.m
	var ents []raftpb.Entry
	var entScalars []uint64
	var entTypes []raftpb.EntryType
	if entries > 0 {
		ents = make([]raftpb.Entry, entries)
		m.Entries = make([]*raftpb.Entry, 0, entries)
		entScalars = make([]uint64, 2*entries)
		entTypes = make([]raftpb.EntryType, entries)
	}
	scalar := func(i int, v uint64) *uint64 {
		blk.scalars[i] = v
		return &blk.scalars[i]
	}
	for len(b) > 0 {
		num, typ, n := protowire.ConsumeTag(b)
		b = b[n:]
		if typ == protowire.VarintType {
			v, n := protowire.ConsumeVarint(b)
			b = b[n:]
			switch num {
			case 1:
				if v > math.MaxInt32 {
					return nil, false
				}
				if _, known := raftpb.MessageType_name[int32(v)]; !known {
					return nil, false
				}
				blk.typ = raftpb.MessageType(v)
				m.Type = &blk.typ
			case 2:
				m.To = scalar(0, v)
			case 3:
				m.From = scalar(1, v)
			case 4:
				m.Term = scalar(2, v)
			case 5:
				m.LogTerm = scalar(3, v)
			case 6:
				m.Index = scalar(4, v)
			case 8:
				m.Commit = scalar(5, v)
			case 10:
				blk.reject = v != 0
				m.Reject = &blk.reject
			case 11:
				m.RejectHint = scalar(6, v)
			case 13:
				m.Vote = scalar(7, v)
			default:
				return nil, false
			}
			continue
		}
		if typ != protowire.BytesType {
			return nil, false
		}
		v, n := protowire.ConsumeBytes(b)
		b = b[n:]
		switch num {
		case fieldEntries:
			e := &ents[len(m.Entries)]
			if !decodeEntry(e, v, entScalars[2*len(m.Entries):], &entTypes[len(m.Entries)]) {
				return nil, false
			}
			m.Entries = append(m.Entries, e)
		case 12:
			m.Context = v[:len(v):len(v)]
		default:
			return nil, false
		}
	}
	return m, true
}

// messageBlock holds a decoded message and its optional scalars together.
type messageBlock struct {
	m       raftpb.Message
	scalars [8]uint64
	typ     raftpb.MessageType
	reject  bool
}

// decodeEntry decodes one raftpb.Entry into e, its Term and Index into
// scalars[0:2] and its Type into typ.
func decodeEntry(e *raftpb.Entry, b []byte, scalars []uint64, typ *raftpb.EntryType) bool {
	for len(b) > 0 {
		num, wt, n := protowire.ConsumeTag(b)
		if n < 0 {
			return false
		}
		b = b[n:]
		switch {
		case wt == protowire.VarintType && num >= 1 && num <= 3:
			v, n := protowire.ConsumeVarint(b)
			if n < 0 {
				return false
			}
			b = b[n:]
			switch num {
			case 1:
				if v > math.MaxInt32 {
					return false
				}
				if _, known := raftpb.EntryType_name[int32(v)]; !known {
					return false
				}
				*typ = raftpb.EntryType(v)
				e.Type = typ
			case 2:
				scalars[0] = v
				e.Term = &scalars[0]
			case 3:
				scalars[1] = v
				e.Index = &scalars[1]
			}
		case wt == protowire.BytesType && num == 4:
			v, n := protowire.ConsumeBytes(b)
			if n < 0 {
				return false
			}
			b = b[n:]
			e.Data = v[:len(v):len(v)]
		default:
			return false
		}
	}
	return true
}
