package wal

import (
	"fmt"
	"path"
	"strconv"
	"strings"

	"metastore/core/disk"
)

const segmentSuffix = ".wal"

// segment is one file of the log.
type segment struct {
	seq   uint64 // consecutive from the oldest segment present
	first uint64 // raft index of the first entry expected in it
}

func (s segment) name() string {
	return fmt.Sprintf("%016x-%016x%s", s.seq, s.first, segmentSuffix)
}

// parseSegmentName parses "%016x-%016x.wal"; ok is false for other names.
func parseSegmentName(name string) (segment, bool) {
	base, found := strings.CutSuffix(name, segmentSuffix)
	if !found || len(base) != 33 || base[16] != '-' {
		return segment{}, false
	}
	seq, err1 := strconv.ParseUint(base[:16], 16, 64)
	first, err2 := strconv.ParseUint(base[17:], 16, 64)
	if err1 != nil || err2 != nil {
		return segment{}, false
	}
	return segment{seq: seq, first: first}, true
}

// listSegments returns the segments in dir in sequence order, checking that
// their sequence numbers are consecutive.
func listSegments(fs disk.FS, dir string) ([]segment, error) {
	names, err := fs.List(dir)
	if err != nil {
		return nil, err
	}
	var segs []segment
	for _, n := range names { // sorted by name, hence by sequence
		s, ok := parseSegmentName(n)
		if !ok {
			continue
		}
		if len(segs) > 0 && s.seq != segs[len(segs)-1].seq+1 {
			return nil, fmt.Errorf("%w: %s: segment %d follows %d", ErrCorrupt,
				path.Join(dir, n), s.seq, segs[len(segs)-1].seq)
		}
		segs = append(segs, s)
	}
	return segs, nil
}

// Exists reports whether dir holds at least one WAL segment. A missing or
// unreadable dir holds none.
func Exists(fs disk.FS, dir string) bool {
	names, err := fs.List(dir)
	if err != nil {
		return false
	}
	for _, n := range names {
		if _, ok := parseSegmentName(n); ok {
			return true
		}
	}
	return false
}
