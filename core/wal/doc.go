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
// NB: CRCs are not chained across records. Every record can be checked on
// its own, which lets recovery tell a torn tail (nothing valid follows the
// first bad byte) from corruption (valid records follow it) by scanning
// forward, and lets whole segments be removed without carrying CRC state
// into the next one. What chaining would add — detecting stale records of
// an older file at the same place — cannot arise: files are never reused
// or preallocated, and Create truncates.
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
// and is truncated away. Anything else that fails to parse (a bad record
// followed by valid ones, or any damage to a non-last segment, which was
// synced before the next segment was created) is corruption: Open fails
// with an error wrapping ErrCorrupt that names the file and byte offset.
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
