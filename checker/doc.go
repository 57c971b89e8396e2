// Package checker decides whether a run of MetaStore behaved like etcd.
// It works on plain data (client histories, applied logs, watch streams,
// leader observations) so that the simulator and the production tests can
// both feed it; it imports neither of them.
//
// What each check proves, when it passes:
//
//   - Linearizable: the clients' history (History, Op) is explained by one
//     etcd key space applying every operation atomically at one instant
//     between its invocation and its response, with etcd's revisions: each
//     state-changing write returns exactly the previous revision + 1, reads
//     return the current revision and each key's value, mod and create
//     revision and version. A read at an old revision must show the key
//     space as it was then, or be refused below the last compaction or
//     above the current revision. Because revisions are checked, a stale
//     read, a lost or duplicated write, or a skipped or reused revision
//     cannot hide behind a plausible value. Timed-out operations may or may not have
//     taken effect; failed ones are ignored. A search that runs out of time
//     is Inconclusive, never a pass. On failure porcupine's HTML
//     visualization is written for inspection.
//   - RevisionsRespectRealTime: revisions never go back across operations
//     ordered in real time (a cheap, search-free subset of the above that
//     names the two offending operations).
//   - AppliedPrefixes: raft's state machine safety as observed: replicas
//     that applied the same index applied the same entry and reached the
//     same state hash; each replica applied in order.
//   - OneLeaderPerTerm: raft's election safety: at most one leader per term.
//   - HashesAgree: replicas' state hashes are equal.
//   - AckedWritesExactlyOnce: every acknowledged write is in the applied log
//     once, at the revision the client was told.
//   - Durable: after crashes, every acknowledged write is either the final
//     state of its key or was replaced by a later applied write or delete.
//   - CheckWatch: a watch stream is ordered, duplicate-free, atomic per
//     revision, exact and complete with respect to the applied log, so a
//     watch resumed at NextRev receives exactly the remaining changes.
//
// Every error names the offending operation, revision, index or replica.
// Output is deterministic: map keys are sorted before they reach a message.
// Linearizable is deterministic when Options.Timeout is 0 (porcupine itself
// runs its search in a goroutine, which is harmless: the checker runs after
// the simulation, outside its event loop).
package checker
