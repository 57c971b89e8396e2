// Package wal is the replica's write-ahead log of raft entries, hard states
// and snapshot markers, and its snapshot files, all on a disk.FS.
//
// # Format
//
// A log is a directory of segment files named
// %016x-%016x.wal (sequence number, first raft index expected in it); the
// sequence numbers of the segments present are consecutive. A segment is a
// sequence of records:
//
//	[length u32 LE][crc u32 LE][type u8][payload: length bytes]
//
// The CRC-32C covers type and payload. Payloads are raftpb.Entry or
// raftpb.HardState in protobuf, or a snapshot marker (index, term) as two
// little-endian u64s.
//
// Every segment but the last ends exactly at its last record. With
// Options.ZeroAheadBytes the last one may go on with zeros: the WAL writes
// chunks of zeros ahead of its end and its records over them (positional
// writes), so that a sync overwrites blocks the file already has instead of
// growing it, which costs a file system journal commit. A segment is cut
// back to its last record before the next one starts.
//
// NB: CRCs are not chained across records. Every record can be checked on
// its own, which lets recovery tell a torn tail (nothing valid follows the
// first bad byte) from corruption (valid records follow it) by scanning
// forward, and lets whole segments be removed without carrying CRC state
// into the next one. What chaining would add — detecting stale records of
// an older file at the same place — cannot arise: files are never reused,
// Create truncates, and the only bytes ever past a segment's last record
// are zeros the WAL itself wrote there, or what a crash left of records
// written over them (a torn tail). Zeros never parse as a record (type 0 is
// invalid), and Open cuts the last segment back to its last valid record
// before anything is written after it, so a torn record's leftovers are
// gone before new records (and new zeros) take their place.
//
// # Durability
//
// Save(…, sync=true) returns only once its records are durable. Any write
// or sync error is sticky: every later call returns it, and the caller must
// stop the replica (fail-stop) — after a failed fsync the kernel may have
// dropped the dirty pages, so retrying could report success for lost data.
//
// # Recovery
//
// Open reads every segment in order. In the last segment a torn tail — a
// short header, a short payload, a bad CRC, or zeros, with no valid record
// after it — is what a crash during an unsynced or in-flight write leaves,
// and is truncated away, together with the zeros written ahead (Open then
// writes a new chunk when ZeroAheadBytes is set). Anything else that fails
// to parse (a bad record followed by valid ones, or any damage to a
// non-last segment, which was truncated to its records and synced before
// the next segment was created) is corruption: Open fails with an error
// wrapping ErrCorrupt that names the file and byte offset.
//
// NB: unsynced writes may reach the disk out of order: the kernel writes
// dirty pages back in any order, and a lost page over zeros written ahead
// reads as zeros. So a bad record followed by intact ones is still a torn
// tail when a whole aligned 512-byte sector of zeros lies between them:
// records after such a hole were never synced, since a sync covers every
// earlier page. Without such a sector it is corruption. The price, as in
// etcd's WAL: a medium that zeroes synced sectors loses what follows them
// instead of failing Open.
//
// # Usage
//
//	if !wal.Exists(fs, dir) {
//		w, err = wal.Create(fs, dir, opts)
//	} else {
//		w, rec, err = wal.Open(fs, dir, opts) // rec: HardState, Snapshot, Entries
//	}
//	err = w.Save(rd.HardState, rd.Entries, rd.MustSync) // error: fail-stop
//	err = w.SaveSnapshot(wal.SnapMarker{Index: i, Term: t})
//	err = w.ReleaseTo(i) // after the snapshot at i is durable
package wal
