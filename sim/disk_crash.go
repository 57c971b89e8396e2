package sim

import (
	"bytes"
	"io"
	"math/rand/v2"
	"path"
	"slices"

	"metastore/core/disk"
)

// DiskCrash is the outcome of Disk.Crash: the disk the restarted node sees,
// and what the crash cost, for the coverage report.
type DiskCrash struct {
	Disk *Disk
	// Lossy is true when the post-crash state differs from the state just
	// before the crash: some unsynced data or name change was lost or torn.
	Lossy bool
	// Torn is true when some file kept only part of its unsynced tail.
	Torn bool
	// LostNames counts paths whose file differs in existence after the
	// crash (an unsynced creation lost, or an unsynced removal undone).
	LostNames int
	// LostBytes counts the bytes of surviving files' current contents that
	// the crash did not keep.
	LostBytes int64
	// DroppedSyncs counts the pending (not completed) syncs dropped.
	DroppedSyncs int
}

// Crash models a power loss: pending syncs are dropped, then the returned
// Disk holds r's choice of one possible post-crash state of the inner Mem
// (each unsynced write kept with probability keepUnsynced, the last one
// possibly torn; see disk.Mem.CrashClone). The new Disk shares the host,
// the random stream, the faults, SkipSync, the disk-full window and the
// counters; d itself is dead from now on (every call fails with
// ErrCrashed), so a zombie replica cannot write to the restarted node.
func (d *Disk) Crash(r *rand.Rand, keepUnsynced float64) DiskCrash {
	res := DiskCrash{DroppedSyncs: len(d.pending)}
	d.pending = nil
	d.dead = true

	// keepUnsynced = 0 yields exactly the durable state and draws nothing
	// that matters; a private stream keeps r untouched by it regardless.
	durable := snapshot(d.mem.CrashClone(NewRand(0), 0))
	crashed := d.mem.CrashClone(r, keepUnsynced)
	before, after := snapshot(d.mem), snapshot(crashed)

	for _, p := range unionKeys(before, after) {
		cur, inCur := before[p]
		got, inGot := after[p]
		switch {
		case inCur != inGot:
			res.LostNames++
			res.LostBytes += int64(len(cur))
		case bytes.Equal(cur, got):
			continue
		case bytes.HasPrefix(cur, got):
			res.LostBytes += int64(len(cur) - len(got))
			if len(got) > len(durable[p]) {
				res.Torn = true
			}
		default: // an unsynced truncation, replacement or overwrite was undone, maybe in part
			res.LostBytes += int64(len(cur))
			if !bytes.Equal(got, durable[p]) {
				res.Torn = true
			}
		}
		res.Lossy = true
	}

	nd := NewDisk(crashed, d.host, d.rng, d.faults)
	nd.SkipSync, nd.full, nd.Stats = d.SkipSync, d.full, d.Stats
	nd.Stats.Crashes++
	if res.Lossy {
		nd.Stats.LossyCrashes++
	}
	if res.Torn {
		nd.Stats.TornCrashes++
	}
	res.Disk = nd
	return res
}

// snapshot reads every file reachable from the roots "/" and "." of fs into
// a map from path to contents. Only for comparisons; the map never reaches
// an output unsorted.
func snapshot(fsys disk.FS) map[string][]byte {
	files := map[string][]byte{}
	var walk func(dir string)
	walk = func(dir string) {
		names, err := fsys.List(dir)
		if err != nil {
			return
		}
		for _, name := range names {
			p := path.Join(dir, name)
			if _, err := fsys.List(p); err == nil {
				walk(p)
				continue
			}
			files[p] = readAll(fsys, p)
		}
	}
	walk("/")
	walk(".")
	return files
}

func readAll(fsys disk.FS, name string) []byte {
	f, err := fsys.Open(name)
	if err != nil {
		return nil
	}
	defer f.Close()
	size, err := f.Size()
	if err != nil {
		return nil
	}
	buf := make([]byte, size)
	n, err := f.ReadAt(buf, 0)
	if err != nil && err != io.EOF {
		return nil
	}
	return buf[:n]
}

// unionKeys returns the keys of a and b, sorted.
func unionKeys(a, b map[string][]byte) []string {
	seen := make(map[string]bool, len(a)+len(b))
	for k := range a {
		seen[k] = true
	}
	for k := range b {
		seen[k] = true
	}
	return sortedKeysOf(seen)
}

func sortedKeysOf(m map[string]bool) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}
