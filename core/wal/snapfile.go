package wal

import (
	"cmp"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"path"
	"slices"
	"strconv"
	"strings"

	"go.etcd.io/raft/v3/raftpb"
	"google.golang.org/protobuf/proto"

	"metastore/core/disk"
)

// Snapshot files are named %016x-%016x.snap (term, index) and hold
// [crc32c u32 LE][raftpb.Snapshot protobuf], the CRC covering the rest.

const (
	snapSuffix = ".snap"
	tmpSuffix  = ".tmp"
)

type snapName struct{ term, index uint64 }

func (s snapName) String() string { return fmt.Sprintf("%016x-%016x%s", s.term, s.index, snapSuffix) }

func parseSnapName(name string) (snapName, bool) {
	base, found := strings.CutSuffix(name, snapSuffix)
	if !found || len(base) != 33 || base[16] != '-' {
		return snapName{}, false
	}
	term, err1 := strconv.ParseUint(base[:16], 16, 64)
	index, err2 := strconv.ParseUint(base[17:], 16, 64)
	if err1 != nil || err2 != nil {
		return snapName{}, false
	}
	return snapName{term: term, index: index}, true
}

// SaveSnapshot makes snap durable in dir (which must exist): it writes and
// syncs a temporary file, renames it into place and syncs dir. It returns
// only once the snapshot would survive a crash; errors are fatal to the
// replica as in Save.
func SaveSnapshot(fsys disk.FS, dir string, snap *raftpb.Snapshot) error {
	md := snap.GetMetadata()
	if md.GetIndex() == 0 {
		return errors.New("wal: save snapshot: empty snapshot (index 0)")
	}
	buf := make([]byte, 4, 4+proto.Size(snap))
	buf, err := marshal.MarshalAppend(buf, snap)
	if err != nil {
		return fmt.Errorf("wal: encode snapshot: %w", err)
	}
	binary.LittleEndian.PutUint32(buf, crc32.Checksum(buf[4:], castagnoli))
	final := path.Join(dir, snapName{md.GetTerm(), md.GetIndex()}.String())
	tmp := final + tmpSuffix
	if err := writeSynced(fsys, tmp, buf); err != nil {
		return fmt.Errorf("wal: save snapshot: %w", err)
	}
	if err := fsys.Rename(tmp, final); err != nil {
		return fmt.Errorf("wal: save snapshot: %w", err)
	}
	if err := fsys.SyncDir(dir); err != nil {
		return fmt.Errorf("wal: save snapshot: %w", err)
	}
	return nil
}

func writeSynced(fsys disk.FS, name string, data []byte) error {
	f, err := fsys.Create(name)
	if err != nil {
		return err
	}
	if _, err := f.Write(data); err != nil {
		f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// LoadNewestSnapshot returns the snapshot of highest index (then term) in
// dir that reads back intact, skipping damaged files; nil, nil when there is
// none or dir does not exist. Read errors other than damage are returned.
func LoadNewestSnapshot(fsys disk.FS, dir string) (*raftpb.Snapshot, error) {
	names, err := listSnapshots(fsys, dir)
	if err != nil {
		return nil, err
	}
	for _, n := range slices.Backward(names) {
		snap, err := readSnapshot(fsys, path.Join(dir, n.String()), n)
		if errors.Is(err, ErrCorrupt) {
			continue
		}
		return snap, err
	}
	return nil, nil
}

// PurgeSnapshots removes all but the newest keep snapshot files of dir, and
// leftover temporary files of interrupted saves. Removals are not synced:
// a crash may bring back a purged file, which is harmless.
func PurgeSnapshots(fsys disk.FS, dir string, keep int) error {
	all, err := fsys.List(dir)
	if err != nil {
		return fmt.Errorf("wal: purge snapshots: %w", err)
	}
	var remove []string
	for _, n := range all {
		if strings.HasSuffix(n, snapSuffix+tmpSuffix) {
			remove = append(remove, n)
		}
	}
	snaps, err := listSnapshots(fsys, dir)
	if err != nil {
		return err
	}
	for _, s := range snaps[:max(0, len(snaps)-keep)] {
		remove = append(remove, s.String())
	}
	for _, n := range remove {
		if err := fsys.Remove(path.Join(dir, n)); err != nil && !errors.Is(err, disk.ErrNotExist) {
			return fmt.Errorf("wal: purge snapshots: %w", err)
		}
	}
	return nil
}

// listSnapshots returns dir's snapshot names, oldest (index, then term)
// first; none when dir does not exist.
func listSnapshots(fsys disk.FS, dir string) ([]snapName, error) {
	all, err := fsys.List(dir)
	if errors.Is(err, disk.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("wal: list snapshots: %w", err)
	}
	var names []snapName
	for _, n := range all {
		if s, ok := parseSnapName(n); ok {
			names = append(names, s)
		}
	}
	slices.SortFunc(names, func(a, b snapName) int {
		return cmp.Or(cmp.Compare(a.index, b.index), cmp.Compare(a.term, b.term))
	})
	return names, nil
}

// readSnapshot reads one snapshot file; damage, including metadata that
// disagrees with the name, wraps ErrCorrupt.
func readSnapshot(fsys disk.FS, name string, want snapName) (*raftpb.Snapshot, error) {
	f, err := fsys.Open(name)
	if err != nil {
		return nil, fmt.Errorf("wal: load snapshot: %w", err)
	}
	buf, err := readAll(f)
	f.Close()
	if err != nil {
		return nil, fmt.Errorf("wal: load snapshot %s: %w", name, err)
	}
	if len(buf) < 4 || crc32.Checksum(buf[4:], castagnoli) != binary.LittleEndian.Uint32(buf) {
		return nil, fmt.Errorf("%w: snapshot %s: checksum mismatch", ErrCorrupt, name)
	}
	snap := &raftpb.Snapshot{}
	if err := proto.Unmarshal(buf[4:], snap); err != nil {
		return nil, fmt.Errorf("%w: snapshot %s: %v", ErrCorrupt, name, err)
	}
	if md := snap.GetMetadata(); md.GetIndex() != want.index || md.GetTerm() != want.term {
		return nil, fmt.Errorf("%w: snapshot %s holds term %d index %d", ErrCorrupt, name, md.GetTerm(), md.GetIndex())
	}
	return snap, nil
}
