package rocksdb_test

import (
	"testing"

	"metastore/core/engine"
	"metastore/engines/conformance"
	"metastore/engines/rocksdb"
)

// testOptions keep the suite's many small databases cheap to open.
var testOptions = rocksdb.Options{BlockCacheBytes: 8 << 20, WriteBufferBytes: 4 << 20, BackgroundJobs: 1}

func open(t *testing.T) *rocksdb.Engine {
	t.Helper()
	e, err := rocksdb.Open(t.TempDir(), testOptions)
	if err != nil {
		t.Fatal(err)
	}
	return e
}

func TestConformance(t *testing.T) {
	conformance.Run(t, func(t *testing.T) engine.Engine { return open(t) })
}
