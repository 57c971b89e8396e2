package core

import (
	"go.etcd.io/raft/v3"

	"metastore/core/mvcc"
)

func (c *Config) setDefaults() {
	if c.ElectionTicks == 0 {
		c.ElectionTicks = 10
	}
	if c.HeartbeatTicks == 0 {
		c.HeartbeatTicks = 1
	}
	if c.MaxSizePerMsg == 0 {
		c.MaxSizePerMsg = 4 << 20
	}
	if c.MaxInflightMsgs == 0 {
		c.MaxInflightMsgs = 512
	}
	if c.MaxUncommittedEntriesSize == 0 {
		c.MaxUncommittedEntriesSize = 1 << 30
	}
	if c.SnapshotEntries == 0 {
		c.SnapshotEntries = 10000
	}
	if c.CatchUpEntries == 0 {
		c.CatchUpEntries = 5000
	}
	if c.CatchUpEntries > c.SnapshotEntries {
		c.CatchUpEntries = c.SnapshotEntries
	}
	if c.LogBytes == 0 {
		c.LogBytes = 64 << 20
	}
	if c.LogKeepBytes == 0 {
		c.LogKeepBytes = 8 << 20
	}
	c.LogKeepBytes = min(c.LogKeepBytes, c.LogBytes)
	if c.LogTailEntries <= 0 {
		c.LogTailEntries = defaultTailEntries
	}
	if c.LeaseCheckpointTicks == 0 {
		c.LeaseCheckpointTicks = 50
	}
	if c.MaxTxnOps <= 0 {
		c.MaxTxnOps = mvcc.MaxTxnOps
	}
	c.MaxTxnOps = min(c.MaxTxnOps, mvcc.TxnOpsCeiling)
	if c.WALZeroAheadBytes == 0 {
		// NB: on ext4 (virtio disk), 1 MiB chunks written a quarter chunk
		// ahead kept most of the gain of a fully zeroed file (6 KB
		// appends + fdatasync: 112 µs mean vs 100 zeroed, 165-210 growing);
		// 4 MiB chunks made the syncs that wrote them stall 7-12 ms.
		c.WALZeroAheadBytes = 1 << 20
	}
	if c.MaxPendingReads == 0 {
		c.MaxPendingReads = 4096
	}
	if c.Logger == nil {
		c.Logger = discardLogger{}
	}
}

// discardLogger silences raft; the world logs what it needs from Status.
type discardLogger struct{}

func (discardLogger) Debug(...interface{})            {}
func (discardLogger) Debugf(string, ...interface{})   {}
func (discardLogger) Error(...interface{})            {}
func (discardLogger) Errorf(string, ...interface{})   {}
func (discardLogger) Info(...interface{})             {}
func (discardLogger) Infof(string, ...interface{})    {}
func (discardLogger) Warning(...interface{})          {}
func (discardLogger) Warningf(string, ...interface{}) {}
func (discardLogger) Fatal(v ...interface{})          { panic(v) }
func (discardLogger) Fatalf(f string, v ...interface{}) {
	panic(f)
}
func (discardLogger) Panic(v ...interface{})            { panic(v) }
func (discardLogger) Panicf(f string, v ...interface{}) { panic(f) }

var _ raft.Logger = discardLogger{}
