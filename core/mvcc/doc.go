// Package mvcc is MetaStore's replicated state machine: etcd's multi-version
// key-value store (revisions, leases, compaction, watch events) over an
// engine.Engine.
//
// # Model
//
// The store has a global revision, 1 when empty, which every request that
// changes keys advances by exactly one; all changes of a request share it.
// Each version of a key is kept under r/<revision> in the engine until a
// compaction supersedes it, so a read at an older revision and the events
// since a revision are both plain engine reads. An in-memory index (key ->
// generations of revisions, like etcd's treeIndex) is rebuilt at Open.
//
// # Usage
//
// The replica calls Apply for each committed entry, in index order, and
// Range, Events, Lease and the hashes between applies; Validate runs before
// proposing. Store is not safe for concurrent use.
//
// Every engine write carries the applied raft index in the same batch as
// the data it covers, and the request's de-duplication record with them
// (unless the SplitAppliedIndex canary is on).
package mvcc
