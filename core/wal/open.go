package wal

import (
	"fmt"
	"io"
	"path"

	"go.etcd.io/raft/v3/raftpb"
	"google.golang.org/protobuf/proto"

	"metastore/core/disk"
)

// Recovered is the state a log holds.
type Recovered struct {
	// HardState is the newest saved, nil when none was. Its Commit is
	// raised to Snapshot.Index when below it: a snapshot holds only
	// committed entries, and raft refuses a commit index behind its
	// snapshot.
	HardState *raftpb.HardState
	// Snapshot is the newest snapshot marker; zero when none.
	Snapshot SnapMarker
	// Entries are the log after Snapshot.Index, consecutive, as raft last
	// wrote it: an entry at index i replaces every entry >= i written
	// before it. A marker whose (index, term) is not in the log replaced
	// the whole log, as raft's snapshot restore does.
	Entries []*raftpb.Entry
}

// Open recovers the log in dir and returns a WAL ready to append after it.
// A torn tail of the last segment, and the zeros a WAL with ZeroAheadBytes
// left after its records, are truncated away (and the truncation synced);
// with ZeroAheadBytes set, a chunk of zeros is then written again after the
// log's end, durable with the first sync. Corruption fails with an error
// wrapping ErrCorrupt. A dir that exists but holds no segment is treated as
// a brand-new log.
func Open(fsys disk.FS, dir string, opts Options) (*WAL, Recovered, error) {
	segs, err := listSegments(fsys, dir)
	if err != nil {
		return nil, Recovered{}, fmt.Errorf("wal: open %s: %w", dir, err)
	}
	if len(segs) == 0 {
		w, err := Create(fsys, dir, opts)
		return w, Recovered{}, err
	}
	w := newWAL(fsys, dir, opts)
	w.segs = segs
	var r recovery
	for i, s := range segs {
		f, size, err := r.readSegment(fsys, path.Join(dir, s.name()), i == len(segs)-1)
		if err != nil {
			return nil, Recovered{}, err
		}
		w.f, w.size, w.zeroEnd = f, size, size
	}
	if err := r.gapAfterSnapshot(dir); err != nil {
		w.f.Close()
		return nil, Recovered{}, err
	}
	if err := w.zeroAheadOfEnd(); err != nil {
		w.f.Close()
		return nil, Recovered{}, fmt.Errorf("wal: open %s: write zeros: %w", dir, err)
	}
	rec := r.result()
	if hs := rec.HardState; hs != nil {
		w.hs = hardState{set: true, term: hs.GetTerm(), vote: hs.GetVote(), commit: hs.GetCommit()}
	}
	w.snap = rec.Snapshot
	w.lastIndex = rec.Snapshot.Index
	if n := len(rec.Entries); n > 0 {
		w.lastIndex = rec.Entries[n-1].GetIndex()
	}
	return w, rec, nil
}

// recovery accumulates the state read so far.
type recovery struct {
	hs   *raftpb.HardState
	snap SnapMarker
	ents []*raftpb.Entry
}

// readSegment replays one segment. For the last segment it truncates a
// torn tail and returns the file, open for appending, and its valid size;
// other segments are closed and must parse to their very end.
func (r *recovery) readSegment(fsys disk.FS, name string, last bool) (disk.File, int64, error) {
	open := fsys.Open
	if last {
		open = fsys.OpenAppend
	}
	f, err := open(name)
	if err != nil {
		return nil, 0, fmt.Errorf("wal: open: %w", err)
	}
	buf, err := readAll(f)
	if err != nil {
		f.Close()
		return nil, 0, fmt.Errorf("wal: read %s: %w", name, err)
	}
	valid, err := r.replay(name, buf, last)
	if err == nil && valid < len(buf) {
		if err = f.Truncate(int64(valid)); err == nil {
			err = f.Sync()
		}
		if err != nil {
			err = fmt.Errorf("wal: truncate torn tail of %s at offset %d: %w", name, valid, err)
		}
	}
	if err != nil || !last {
		if cerr := f.Close(); err == nil && cerr != nil {
			err = fmt.Errorf("wal: close %s: %w", name, cerr)
		}
		return nil, 0, err
	}
	return f, int64(valid), nil
}

// replay applies buf's records and returns the length of the valid prefix,
// which is len(buf) unless last holds a torn tail.
func (r *recovery) replay(name string, buf []byte, last bool) (int, error) {
	off := 0
	for off < len(buf) {
		typ, payload, next, ok := decodeRecord(buf, off)
		if !ok {
			if !last {
				return 0, corrupt(name, off, "damaged record in a segment that was synced whole")
			}
			if next, found := nextIntactRecord(buf, off+1); found && !zeroSectorIn(buf, off, next) {
				return 0, corrupt(name, off, "damaged record followed by intact ones")
			}
			return off, nil // torn tail
		}
		if err := r.apply(typ, payload); err != nil {
			return 0, corrupt(name, off, err.Error())
		}
		off = next
	}
	return off, nil
}

func corrupt(name string, off int, why string) error {
	return fmt.Errorf("%w: %s at offset %d: %s", ErrCorrupt, name, off, why)
}

func (r *recovery) apply(typ recordType, payload []byte) error {
	switch typ {
	case recEntry:
		e := &raftpb.Entry{}
		if err := proto.Unmarshal(payload, e); err != nil {
			return fmt.Errorf("entry: %v", err)
		}
		return r.appendEntry(e)
	case recHardState:
		hs := &raftpb.HardState{}
		if err := proto.Unmarshal(payload, hs); err != nil {
			return fmt.Errorf("hard state: %v", err)
		}
		r.hs = hs
	case recSnapshot:
		m, ok := decodeMarker(payload)
		if !ok {
			return fmt.Errorf("snapshot marker of %d bytes", len(payload))
		}
		r.marker(m)
	}
	return nil
}

func (r *recovery) appendEntry(e *raftpb.Entry) error {
	i := e.GetIndex()
	if n := len(r.ents); n > 0 {
		first, last := r.ents[0].GetIndex(), r.ents[n-1].GetIndex()
		switch {
		case i > last+1:
			return fmt.Errorf("entry %d leaves a gap after %d", i, last)
		case i < first:
			r.ents = r.ents[:0]
		default:
			r.ents = r.ents[:i-first] // raft truncated its log at i
		}
	}
	// NB: a log may start past the newest marker read so far. ReleaseTo
	// removes segments once a marker covers them, but writes that marker
	// at the end of the last segment, and an older one can sit at that
	// segment's head (a marker re-saved after a crash): only the markers
	// read by the end can tell a gap (see gapAfterSnapshot).
	r.ents = append(r.ents, e)
	return nil
}

// marker applies a snapshot marker the way raft applies a snapshot: if the
// log holds the snapshot's (index, term) the log continues after it,
// otherwise the snapshot replaced the log. A repeated or older marker
// (ReleaseTo re-saves the newest) changes nothing.
func (r *recovery) marker(m SnapMarker) {
	if m == r.snap || m.Index < r.snap.Index {
		return
	}
	r.snap = m
	if len(r.ents) == 0 {
		return
	}
	first, last := r.ents[0].GetIndex(), r.ents[len(r.ents)-1].GetIndex()
	switch {
	case m.Index < first:
		// The log already starts after the snapshot.
	case m.Index <= last && r.ents[m.Index-first].GetTerm() == m.Term:
		r.ents = r.ents[m.Index-first+1:]
	default:
		r.ents = nil
	}
}

// gapAfterSnapshot fails when the recovered log starts more than one entry
// after the newest marker: entries were removed that no snapshot covers.
func (r *recovery) gapAfterSnapshot(dir string) error {
	if len(r.ents) == 0 || r.snap.Index == 0 {
		return nil
	}
	if first := r.ents[0].GetIndex(); first > r.snap.Index+1 {
		return fmt.Errorf("%w: %s: the log starts at entry %d, leaving a gap after snapshot %d", ErrCorrupt, dir, first, r.snap.Index)
	}
	return nil
}

func (r *recovery) result() Recovered {
	ents := r.ents
	for len(ents) > 0 && ents[0].GetIndex() <= r.snap.Index {
		ents = ents[1:]
	}
	if r.hs != nil && r.hs.GetCommit() < r.snap.Index {
		r.hs.Commit = proto.Uint64(r.snap.Index)
	}
	return Recovered{HardState: r.hs, Snapshot: r.snap, Entries: ents}
}

func readAll(f disk.File) ([]byte, error) {
	size, err := f.Size()
	if err != nil {
		return nil, err
	}
	buf := make([]byte, size)
	n, err := f.ReadAt(buf, 0)
	if err == io.EOF && n == len(buf) {
		err = nil
	}
	return buf[:n], err
}
