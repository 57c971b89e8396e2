package mvcc

import (
	"fmt"
	"math/rand/v2"
	"testing"
)

// BenchmarkIndexNewKeys inserts new keys in random order into an index
// that holds 50,000 and grows to 90,000 (the key table does not resize in
// that span), then starts over: the key index's share of a put of a new key. "decimal" keys are the bench tool's (8 digits), "prefixed"
// ones share a 12-byte prefix as a registry's keys do, so every slot
// comparison falls back to the whole keys.
func BenchmarkIndexNewKeys(b *testing.B) {
	const n = 100_000
	for _, shape := range []struct{ name, format string }{
		{"decimal", "%08d"},
		{"prefixed", "/registry/p/%08d"},
	} {
		b.Run(shape.name, func(b *testing.B) {
			keys := make([][]byte, n)
			for i, j := range rand.New(rand.NewPCG(1, 2)).Perm(n) {
				keys[i] = fmt.Appendf(nil, shape.format, j)
			}
			const prefill, grown = 50_000, 90_000
			var x *index
			fresh := func() {
				x = newIndex()
				for _, k := range keys[:prefill] {
					x.getOrCreate(k)
				}
			}
			fresh()
			b.ReportAllocs()
			next := prefill
			for b.Loop() {
				if next == grown {
					b.StopTimer()
					fresh()
					next = prefill
					b.StartTimer()
				}
				x.getOrCreate(keys[next])
				next++
			}
		})
	}
}

// BenchmarkIndexExistingKeys looks up keys the index holds, in random
// order, in an index of 100,000 (the bench tool's key space): a put's
// lookup of a key it overwrites, whose cost is the cache misses between the
// key table and the key's bytes.
func BenchmarkIndexExistingKeys(b *testing.B) {
	const n = 100_000
	keys := make([][]byte, n)
	for i := range keys {
		keys[i] = fmt.Appendf(nil, "%08d", i)
	}
	x := newIndex()
	for _, k := range keys {
		x.getOrCreate(k)
	}
	order := rand.New(rand.NewPCG(3, 4)).Perm(n)
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		if x.getOrCreate(keys[order[i%n]]) == nil {
			b.Fatal("lost a key")
		}
		i++
	}
}
