package wal

import (
	"hash/crc32"
	"math/rand/v2"
	"testing"
)

// The combined CRC of two parts is the CRC of their concatenation, for
// empty parts and parts long enough to use many powers of x.
func TestCRC32CCombine(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 8))
	for _, lens := range [][2]int{{0, 0}, {0, 5}, {5, 0}, {1, 1}, {3, 4096}, {4096, 3}, {100, 1<<20 + 17}, {1 << 20, 3<<20 + 1}} {
		a, b := make([]byte, lens[0]), make([]byte, lens[1])
		for i := range a {
			a[i] = byte(rng.Uint32())
		}
		for i := range b {
			b[i] = byte(rng.Uint32())
		}
		want := crc32.Checksum(append(append([]byte{}, a...), b...), castagnoli)
		got := crc32cCombine(crc32.Checksum(a, castagnoli), crc32.Checksum(b, castagnoli), int64(len(b)))
		if got != want {
			t.Fatalf("parts of %d and %d bytes: combined %08x, want %08x", len(a), len(b), got, want)
		}
	}
}
