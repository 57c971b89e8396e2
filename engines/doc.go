// Package engines holds the ordered key-value stores that implement
// metastore/core/engine.Engine:
//
//   - engines/memory: an in-memory copy-on-write B-tree; not durable, the
//     replica rebuilds it from the raft snapshot and the WAL.
//   - engines/conformance: the test suite every engine must pass.
//
// Engines are production code: unlike core/, they may use sync so that the
// server can read snapshots from other goroutines.
package engines
