package core

import (
	"time"

	"go.etcd.io/raft/v3/raftpb"

	"metastore/core/disk"
)

// Clock tells the replica the time. It must be monotonic; its origin is
// arbitrary. Only lease expiry reads it: elections and heartbeats run on
// Tick, which the world calls every TickInterval.
type Clock interface {
	Now() time.Duration
}

// Network carries raft messages to other members. Send must not block and
// may drop, delay, duplicate or reorder messages: raft tolerates all of it.
// The replica owns msgs' memory until Send returns; Send copies what it keeps
// (the simulator) or serializes at once (production).
type Network interface {
	Send(msgs []*raftpb.Message)
}

// Disk is the file system the WAL and snapshot files live on.
type Disk = disk.FS
