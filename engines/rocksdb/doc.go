// Package rocksdb is an engine.Engine on RocksDB (github.com/linxGnu/grocksdb
// v1.7.15 over the system's librocksdb, 7.8.x on Debian), for data sets
// larger than memory and restarts that do not replay the whole history.
//
// # Mapping
//
// One database per member, in <data-dir>/member/rocksdb, with two column
// families: "revisions" holds the MVCC store's revision records (keys under
// "r/", which only grow), the default one everything else (keyspace.go:
// flushed revisions then leave L0 by trivial moves instead of dragging the
// whole store through every compaction). Callers see one key space.
// engine.Batch records its operations and becomes one WriteBatch across
// both families at Write, Engine.Write is one DB.Write (atomic: all of the
// batch or none of it, also across a crash, one WAL for both families),
// engine.Snapshot is a RocksDB snapshot (a sequence number: taking one is
// O(1) and its iterators read consistently while writes go on), and
// iterators carry their [lower, upper) bounds into RocksDB so a bounded scan
// stops at the bound instead of stepping over deleted keys beyond it (a
// range crossing "r/" or "r0" is walked as one iterator per family's
// segment, one after the other). Each
// iterator move is one cgo call that also reads the key and value
// (iterstep.go), which Key and Value then copy lazily.
// Iterator.Error reports a read failure (corruption, I/O); the MVCC layer
// checks it wherever it walks.
//
// # Durability
//
// The MVCC store writes each applied raft entry as one batch holding the
// data, the applied index and the request's de-duplication record. The raft
// WAL stays on core's Disk (synced before anything is applied or
// acknowledged), and the raft snapshot file holds the whole state. RocksDB's
// own WAL is on but not synced per write (Options.Sync false), and it is
// buffered in the process (manual WAL flush): the replica hands the buffer
// to the OS every 64 KiB of applied entries and at every tick
// (Engine.FlushWrites, engine.WriteFlusher), one write(2) for many batches
// instead of one per batch:
//
//   - Process crash (kill -9, panic, OOM): every flushed batch is in
//     RocksDB's WAL in the OS page cache, which outlives the process. The
//     batches since the last flush (at most 64 KiB of entries or a tick's
//     worth, as etcd's backend commits its batch every 100 ms) may be lost,
//     a suffix of whole batches: their entries are in the synced raft WAL
//     (applied only after its sync), and the applied index says where
//     raft's replay starts, so they are applied again, once. Nothing is
//     lost.
//   - Machine crash (power loss): the unsynced tail of RocksDB's WAL may be
//     lost. RocksDB recovers to a point in time (PointInTimeRecovery): a
//     prefix of the batches, each whole. Because the applied index is in
//     each batch, the engine is exactly the state after entry A for the A it
//     reports. Every entry after A is in the synced raft WAL (entries are
//     applied only after their WAL sync) or, when A is below the newest raft
//     snapshot, the replica restores that snapshot first (core.Replica's
//     recover: a durable engine behind the snapshot is restored from it).
//     Replay then applies exactly the entries after A: an acknowledged write
//     was synced in a quorum's raft WALs before the answer, so it is
//     replayed, and none is applied twice.
//
// Two column families share the one WAL, and a batch spans both, so a
// machine crash must not leave one family's flushed SST holding a batch
// whose other half the lost WAL tail took: RocksDB sees to it, since with
// more than one family it writes out and syncs the closed WAL files before
// it flushes a family's memtable, and point-in-time recovery still gives a
// prefix of whole batches.
//
// The replica's raft snapshots of this engine carry only metadata: the
// engine is the data (core/snapshot.go, engine-held snapshots). That would
// let the replica drop raft log entries that RocksDB holds only in its
// unsynced WAL, so the snapshot job first calls Engine.Sync
// (engine.Syncer), which fsyncs RocksDB's WAL: every entry up to the
// snapshot's index is then in the engine whatever crashes next, and
// recovery refuses an engine behind it. A follower that needs a snapshot
// is sent a file the leader streams from an engine.Snapshot at its
// applied index.
//
// Syncing RocksDB's WAL on every batch (Options.Sync, --rocksdb-sync) would
// buy nothing the raft WAL does not already give, for a second fsync per
// apply. Turning RocksDB's WAL off instead would make a process crash lose
// the memtable, which is safe by the same argument but turns every kill -9
// into a replay of up to a memtable's worth of entries; it also needs
// flushes before raft may drop log entries, which is why it is not done.
// The buffered WAL bounds that replay to 64 KiB of entries or a tick, and
// took BenchmarkPutWithIDRocksDB from 8.9-9.6 to 8.0-8.1 µs of CPU per put
// (a write(2) per batch against one per 64 KiB; one per apply job of five
// puts gave 8.2-8.6).
//
// # Concurrency
//
// The engine is safe for concurrent use. Close waits for operations in
// flight, then releases iterators and snapshots still open (they report
// engine.ErrClosed afterwards), so nothing reads a closed database.
package rocksdb
