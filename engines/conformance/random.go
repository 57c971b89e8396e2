package conformance

import (
	"bytes"
	"maps"
	"slices"
	"testing"

	"pgregory.net/rapid"

	"metastore/core/engine"
)

// model is the reference the engine is checked against: a plain map whose
// keys are sorted on every read.
type model map[string][]byte

func (m model) sorted(lower, upper []byte) []kv {
	keys := slices.Sorted(maps.Keys(m))
	var out []kv
	for _, k := range keys {
		kb := []byte(k)
		if bytes.Compare(kb, lower) < 0 || (upper != nil && bytes.Compare(kb, upper) >= 0) {
			continue
		}
		out = append(out, kv{kb, m[k]})
	}
	return out
}

// keyGen draws short keys over a tiny alphabet so that batches collide on
// keys, and keys share prefixes and hit the 0x00/0xff edges. 'r', '/' and
// '0' make keys on both sides of the MVCC revision prefix "r/" and of
// "r0", the first key past it: the RocksDB engine keeps [r/, r0) in a
// column family of its own, and its iterators cross from one family to the
// other there.
var keyGen = rapid.Map(
	rapid.SliceOfN(rapid.SampledFrom([]byte{0x00, 0x01, '/', '0', 'a', 'r', 0x7f, 0xfe, 0xff}), 0, 3),
	func(b []byte) []byte { return b })

var valueGen = rapid.SliceOfN(rapid.Byte(), 0, 6)

// boundGen draws a bound, nil (unbounded) about one time in four.
var boundGen = rapid.OneOf(rapid.Just([]byte(nil)), keyGen, keyGen, keyGen)

// testRandomDifferential applies random batches of Set and Delete to the
// engine and to a model, takes snapshots along the way, and compares full
// scans in both directions, bounded scans, and SeekGE followed by random
// Next/Prev walks, for the engine and for every snapshot against the model
// as it was when the snapshot was taken.
func testRandomDifferential(t *testing.T, o Opener) {
	rapid.Check(t, func(rt *rapid.T) {
		e := o(t)
		defer e.Close()
		m := model{}
		type snap struct {
			s engine.Snapshot
			m model
		}
		var snaps []snap
		defer func() {
			for _, s := range snaps {
				s.s.Close()
			}
		}()
		nBatches := rapid.IntRange(1, 12).Draw(rt, "batches")
		for range nBatches {
			b := e.NewBatch()
			nOps := rapid.IntRange(0, 10).Draw(rt, "ops")
			for range nOps {
				k := keyGen.Draw(rt, "key")
				if rapid.IntRange(0, 3).Draw(rt, "op") == 0 {
					b.Delete(k)
					delete(m, string(k))
				} else {
					v := valueGen.Draw(rt, "value")
					b.Set(k, v)
					m[string(k)] = bytes.Clone(v)
				}
			}
			if b.Len() != nOps {
				rt.Fatalf("batch Len = %d, want %d", b.Len(), nOps)
			}
			if err := e.Write(b); err != nil {
				rt.Fatalf("Write: %v", err)
			}
			if rapid.IntRange(0, 2).Draw(rt, "snapshot") == 0 {
				snaps = append(snaps, snap{e.Snapshot(), maps.Clone(m)})
			}
		}
		checkAgainst(rt, e, m)
		for _, s := range snaps {
			checkAgainst(rt, s.s, s.m)
		}
	})
}

// checkAgainst compares r with m using Get, scans and iterator walks.
func checkAgainst(rt *rapid.T, r engine.Reader, m model) {
	for k, v := range m {
		got, ok, err := r.Get([]byte(k))
		if err != nil || !ok || !bytes.Equal(got, v) {
			rt.Fatalf("Get(%x) = %x, %v, %v; want %x", k, got, ok, err, v)
		}
	}
	probe := keyGen.Draw(rt, "probe")
	if _, ok, _ := r.Get(probe); ok != (m[string(probe)] != nil) {
		rt.Fatalf("Get(%x) ok = %v, model disagrees", probe, ok)
	}

	lower, upper := boundGen.Draw(rt, "lower"), boundGen.Draw(rt, "upper")
	for _, bounds := range [][2][]byte{{nil, nil}, {lower, upper}} {
		want := m.sorted(bounds[0], bounds[1])
		if got := scan(rt, r, bounds[0], bounds[1], false); !equalKVs(got, want) {
			rt.Fatalf("forward [%x, %x) = %v, want %v", bounds[0], bounds[1], got, want)
		}
		if got := scan(rt, r, bounds[0], bounds[1], true); !equalKVs(got, reversed(want)) {
			rt.Fatalf("backward [%x, %x) = %v, want %v", bounds[0], bounds[1], got, reversed(want))
		}
	}

	// A random walk: the model position pos indexes want; -1 or len(want)
	// means the iterator must be invalid.
	want := m.sorted(lower, upper)
	it := r.NewIter(lower, upper)
	defer it.Close()
	pos, valid := 0, false
	for range rapid.IntRange(1, 20).Draw(rt, "moves") {
		var moved bool
		switch rapid.IntRange(0, 4).Draw(rt, "move") {
		case 0:
			moved, pos = it.First(), 0
		case 1:
			moved, pos = it.Last(), len(want)-1
		case 2:
			k := keyGen.Draw(rt, "seek")
			moved = it.SeekGE(k)
			pos, _ = slices.BinarySearchFunc(want, k, func(p kv, k []byte) int { return bytes.Compare(p.key, k) })
		case 3:
			if !valid {
				continue // Next on an invalid iterator is unspecified
			}
			moved, pos = it.Next(), pos+1
		case 4:
			if !valid {
				continue
			}
			moved, pos = it.Prev(), pos-1
		}
		valid = pos >= 0 && pos < len(want)
		if moved != valid || it.Valid() != valid {
			rt.Fatalf("move returned %v, Valid %v; model expects valid=%v at %d of %v", moved, it.Valid(), valid, pos, want)
		}
		if valid && (!bytes.Equal(it.Key(), want[pos].key) || !bytes.Equal(it.Value(), want[pos].value)) {
			rt.Fatalf("at %x=%x, model expects %v", it.Key(), it.Value(), want[pos])
		}
	}
}
