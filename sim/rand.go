package sim

import "math/rand/v2"

// seedSalt decorrelates the two PCG words derived from one seed.
const seedSalt = 0x9e3779b97f4a7c15

// NewRand returns the run's root stream for seed.
func NewRand(seed uint64) *rand.Rand {
	return rand.New(rand.NewPCG(seed, seed^seedSalt))
}

// Split returns a new stream seeded from two draws of parent. The child is
// independent of parent's later draws: consuming from one never shifts the
// other. The order of Split calls on one parent does matter, so callers split
// in a fixed order (e.g. by ascending node id).
func Split(parent *rand.Rand) *rand.Rand {
	return rand.New(rand.NewPCG(parent.Uint64(), parent.Uint64()))
}

// uniformInt64 returns a value in [lo, hi]; lo when hi <= lo.
func uniformInt64(r *rand.Rand, lo, hi int64) int64 {
	if hi <= lo {
		return lo
	}
	return lo + r.Int64N(hi-lo+1)
}

// uniformFloat returns a value in [lo, hi).
func uniformFloat(r *rand.Rand, lo, hi float64) float64 {
	return lo + r.Float64()*(hi-lo)
}

// chance reports true with probability p; it consumes one draw even when p
// is 0 or 1, so that a rate switched off does not shift later draws.
func chance(r *rand.Rand, p float64) bool {
	return r.Float64() < p
}
