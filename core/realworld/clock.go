package realworld

import "time"

// Clock implements core.Clock on the process's monotonic clock. Its origin is the
// moment NewClock was called. The zero Clock is not usable.
type Clock struct {
	start time.Time
}

// NB: the compile-time check is against core.Clock's method set rather than
// core.Clock itself, so this package builds without the replica package
// (core imports the world's interfaces, not the other way round).
var _ interface{ Now() time.Duration } = (*Clock)(nil)

// NewClock returns a Clock whose Now starts near zero.
func NewClock() *Clock {
	return &Clock{start: time.Now()}
}

// Now returns the monotonic time elapsed since NewClock; it never goes back,
// whatever happens to the wall clock.
func (c *Clock) Now() time.Duration {
	return time.Since(c.start)
}
