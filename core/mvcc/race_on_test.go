//go:build race

package mvcc

// raceEnabled: the race detector slows every RocksDB run several times.
const raceEnabled = true
