package rocksdb

import (
	"path/filepath"

	"metastore/core/engine"
)

// SimStore opens databases by name under one directory: the simulator's
// sim.EngineStore (the simulator itself may not touch the file system).
type SimStore struct {
	Dir     string
	Options Options
}

// SimOptions keep a simulated run's many small databases cheap: tiny
// buffers, one background thread, no compression.
var SimOptions = Options{
	BlockCacheBytes:  4 << 20,
	WriteBufferBytes: 1 << 20,
	Compression:      "none",
	MaxOpenFiles:     64,
	BackgroundJobs:   1,
}

// Open opens (creating it the first time) the database called name.
func (s SimStore) Open(name string) (engine.Engine, error) {
	return Open(filepath.Join(s.Dir, name), s.Options)
}
