package wal_test

import (
	"bytes"
	"errors"
	"fmt"
	"math/rand/v2"
	"path"
	"testing"

	"metastore/core/disk"
	"metastore/core/wal"
)

// TestZeroAheadWritesChunksAhead checks the file layout: a new segment
// starts as one chunk of zeros, Saves overwrite them, and the next chunk
// follows once the log's end comes within a quarter chunk of the zeroed end.
func TestZeroAheadWritesChunksAhead(t *testing.T) {
	opts := wal.Options{ZeroAheadBytes: 1000}
	m, w := newWAL(t, opts)
	seg := segments(t, m)[0]
	if got := readBytes(t, m.CrashClone(nil, 0), seg); len(got) != 1000 || !bytes.Equal(got, make([]byte, 1000)) {
		t.Fatalf("new segment holds %d bytes (durable), want 1000 zeros", len(got))
	}
	logEnd := 0
	for i := uint64(1); logEnd < 2500; i++ {
		before := fileSize(t, m, seg)
		must(t, w.Save(nil, ents(i, i, 1), true))
		data := readBytes(t, m, seg)
		logEnd = len(bytes.TrimRight(data, "\x00"))
		size := int64(len(data))
		switch {
		case size%1000 != 0:
			t.Fatalf("entry %d: segment of %d bytes, not whole chunks", i, size)
		case int64(logEnd)+250 > size:
			t.Fatalf("entry %d: log ends at %d, zeros only up to %d", i, logEnd, size)
		case size > before && int64(logEnd)+250 > before+1000:
			t.Fatalf("entry %d: chunk written too late (log end %d, zeroed end was %d)", i, logEnd, before)
		}
	}
	_, rec := reopen(t, m.CrashClone(nil, 0), opts)
	if n := len(rec.Entries); n < 10 {
		t.Fatalf("recovered %d entries", n)
	}
}

// TestZeroAheadCrashes saves with and without sync, crashes at random (torn
// records over the zeros, lost chunks of zeros), reopens, appends more and
// crashes again: every crash must keep everything synced, and no torn
// record or stale byte may be read back after the log is extended.
func TestZeroAheadCrashes(t *testing.T) {
	for _, chunk := range []int64{0, 64, 333, 4096} {
		tornCut := 0 // crashes that left part of a record over the zeros
		for seed := range uint64(40) {
			name := fmt.Sprintf("chunk %d seed %d", chunk, seed)
			rng := rand.New(rand.NewPCG(seed, uint64(chunk)))
			opts := wal.Options{SegmentBytes: 600, ZeroAheadBytes: chunk}
			fs := disk.NewMem()
			w, err := wal.Create(fs, dir, opts)
			must(t, err)
			var next, synced uint64 = 1, 0
			for round := range 6 {
				for range 1 + rng.IntN(8) {
					n := uint64(rng.IntN(4))
					sync := rng.IntN(3) == 0
					must(t, w.Save(hardState(1, 1, next-1), ents(next, next+n-1, 1), sync))
					next += n
					if sync {
						synced = next - 1
					}
				}
				// The reopened WAL carries on from the crash: its first
				// Saves land where the torn tail was.
				fs = fs.CrashClone(rng, []float64{0, 0.5, 1}[round%3])
				segs := segments(t, fs)
				lastSeg := segs[len(segs)-1]
				crashedEnd := len(bytes.TrimRight(readBytes(t, fs, lastSeg), "\x00"))
				var rec wal.Recovered
				w, rec, err = wal.Open(fs, dir, opts)
				if err != nil {
					t.Fatalf("%s round %d: Open after crash: %v", name, round, err)
				}
				if len(bytes.TrimRight(readBytes(t, fs, lastSeg), "\x00")) < crashedEnd {
					tornCut++
				}
				last := rec.Snapshot.Index
				if k := len(rec.Entries); k > 0 {
					last = rec.Entries[k-1].GetIndex()
					equalEntries(t, rec.Entries, ents(1, last, 1))
				}
				if last < synced {
					t.Fatalf("%s round %d: recovered up to %d, synced %d", name, round, last, synced)
				}
				next, synced = last+1, last
			}
			must(t, w.Close())
		}
		if chunk > 0 && tornCut == 0 {
			t.Errorf("chunk %d: no crash left a torn record to cut", chunk)
		}
	}
}

// TestZeroAheadUnsyncedChunkLost: a Save that wrote the next chunk of
// zeros but was not synced loses both its records and the chunk in a crash
// that keeps nothing unsynced; the log reopens at its synced end and grows
// again from there.
func TestZeroAheadUnsyncedChunkLost(t *testing.T) {
	opts := wal.Options{ZeroAheadBytes: 512}
	m, w := newWAL(t, opts)
	seg := segments(t, m)[0]
	i := uint64(0)
	for fileSize(t, m, seg) == 512 {
		i++
		must(t, w.Save(nil, ents(i, i, 1), true))
	}
	synced := i - 1 // the last Save wrote the second chunk, synced with it
	for fileSize(t, m, seg) == 1024 {
		i++
		must(t, w.Save(nil, ents(i, i, 1), false))
		if fileSize(t, m, seg) == 1024 {
			must(t, w.Sync())
			synced = i
		}
	}
	// Entry i wrote the third chunk, unsynced.
	c := m.CrashClone(nil, 0)
	if size := fileSize(t, c, seg); size != 1024 {
		t.Fatalf("crash kept %d bytes, want the synced 1024", size)
	}
	w2, rec := reopen(t, c, opts)
	equalEntries(t, rec.Entries, ents(1, synced, 1))
	must(t, w2.Save(nil, ents(synced+1, synced+3, 2), true))
	_, rec = reopen(t, c.CrashClone(nil, 0), opts)
	equalEntries(t, rec.Entries, append(ents(1, synced, 1), ents(synced+1, synced+3, 2)...))

	_, rec = reopen(t, m.CrashClone(nil, 1), opts)
	equalEntries(t, rec.Entries, ents(1, i, 1))
}

// TestZeroAheadRollTruncates checks that a segment is cut to its last
// record when the next one starts, so the strict rule for non-last
// segments holds, and that zeros left at the end of a non-last segment are
// still corruption.
func TestZeroAheadRollTruncates(t *testing.T) {
	opts := wal.Options{SegmentBytes: 300, ZeroAheadBytes: 1024}
	m, w := newWAL(t, opts)
	for i := uint64(1); i <= 30; i++ {
		must(t, w.Save(hardState(1, 1, i-1), ents(i, i, 1), i%2 == 0))
	}
	segs := segments(t, m)
	if len(segs) < 3 {
		t.Fatalf("30 entries in 300-byte segments: only %v", segs)
	}
	durable := m.CrashClone(nil, 0)
	for _, s := range segs[:len(segs)-1] {
		data := readBytes(t, durable, s)
		if len(data) < 300 || len(data) > 600 || data[len(data)-1] == 0 {
			t.Fatalf("closed segment %s: %d bytes ending in %q, want its records only", s, len(data), data[max(len(data)-4, 0):])
		}
	}
	if size := fileSize(t, durable, segs[len(segs)-1]); size%1024 != 0 {
		t.Fatalf("last segment of %d bytes: its zeros were not synced", size)
	}
	_, rec := reopen(t, m.Clone(), opts)
	equalEntries(t, rec.Entries, ents(1, 30, 1))

	c := m.Clone()
	f, err := c.OpenAppend(path.Join(dir, segs[0]))
	must(t, err)
	_, err = f.Write(make([]byte, 100))
	must(t, err)
	must(t, f.Close())
	if _, _, err := wal.Open(c, dir, opts); !errors.Is(err, wal.ErrCorrupt) {
		t.Fatalf("zeros after the records of a closed segment: %v, want ErrCorrupt", err)
	}
}

// TestZeroAheadCrashMidRoll stops the WAL at every disk operation around
// segment rolls (an error there, as a crash would) and recovers a crash
// of that moment: nothing synced may be lost, nothing may read corrupt.
func TestZeroAheadCrashMidRoll(t *testing.T) {
	opts := wal.Options{SegmentBytes: 200, ZeroAheadBytes: 128}
	for stopAt := 1; stopAt < 120; stopAt++ {
		m := disk.NewMem()
		budget := stopAt
		fs := &stoppingFS{FS: m, budget: &budget}
		w, err := wal.Create(fs, dir, opts)
		var synced uint64
		for i := uint64(1); err == nil && i <= 20; i++ {
			if err = w.Save(hardState(1, 1, i-1), ents(i, i, 1), true); err == nil {
				synced = i
			}
		}
		if err != nil && !errors.Is(err, errStopped) {
			t.Fatalf("stop at %d: %v", stopAt, err)
		}
		for _, keep := range []float64{0, 0.5, 1} {
			c := m.CrashClone(rand.New(rand.NewPCG(uint64(stopAt), 7)), keep)
			if !wal.Exists(c, dir) {
				if synced > 0 {
					t.Fatalf("stop at %d: no segment left, %d entries synced", stopAt, synced)
				}
				continue
			}
			_, rec, err := wal.Open(c, dir, opts)
			if err != nil {
				t.Fatalf("stop at %d keep %v: %v", stopAt, keep, err)
			}
			if got := uint64(len(rec.Entries)); got < synced {
				t.Fatalf("stop at %d keep %v: recovered %d entries, synced %d", stopAt, keep, got, synced)
			}
			equalEntries(t, rec.Entries, ents(1, uint64(len(rec.Entries)), 1))
		}
	}
}

var errStopped = errors.New("stopped")

// stoppingFS fails every operation that changes the disk once budget of
// them have run: the state at that moment is what a crash there sees.
type stoppingFS struct {
	disk.FS
	budget *int
}

type stoppingFile struct {
	disk.File
	budget *int
}

func spend(budget *int) error {
	if *budget <= 0 {
		return errStopped
	}
	*budget--
	return nil
}

func (s *stoppingFS) Create(name string) (disk.File, error) {
	if err := spend(s.budget); err != nil {
		return nil, err
	}
	f, err := s.FS.Create(name)
	return stoppingFile{f, s.budget}, err
}

func (s *stoppingFS) OpenAppend(name string) (disk.File, error) {
	f, err := s.FS.OpenAppend(name)
	return stoppingFile{f, s.budget}, err
}

func (s *stoppingFS) SyncDir(dir string) error {
	if err := spend(s.budget); err != nil {
		return err
	}
	return s.FS.SyncDir(dir)
}

func (s *stoppingFS) Remove(name string) error {
	if err := spend(s.budget); err != nil {
		return err
	}
	return s.FS.Remove(name)
}

func (f stoppingFile) Write(p []byte) (int, error) {
	if err := spend(f.budget); err != nil {
		return 0, err
	}
	return f.File.Write(p)
}

func (f stoppingFile) WriteAt(p []byte, off int64) (int, error) {
	if err := spend(f.budget); err != nil {
		return 0, err
	}
	return f.File.WriteAt(p, off)
}

func (f stoppingFile) Truncate(size int64) error {
	if err := spend(f.budget); err != nil {
		return err
	}
	return f.File.Truncate(size)
}

func (f stoppingFile) Sync() error {
	if err := spend(f.budget); err != nil {
		return err
	}
	return f.File.Sync()
}
