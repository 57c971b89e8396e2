package core

import (
	"errors"
	"math/rand/v2"

	pb "go.etcd.io/etcd/api/v3/etcdserverpb"
	"go.etcd.io/etcd/api/v3/mvccpb"
	"go.etcd.io/raft/v3"
	"go.etcd.io/raft/v3/raftpb"
	"google.golang.org/protobuf/proto"

	"metastore/core/engine"
	"metastore/core/mvcc"
)

// Errors the replica answers with (besides mvcc's request errors).
var (
	ErrStopped       = errors.New("core: replica stopped")
	ErrNotLeader     = errors.New("core: not the leader")
	ErrNoLeader      = errors.New("core: no leader")
	ErrDropped       = errors.New("core: proposal dropped")
	ErrLeaseExpired  = errors.New("core: lease expired")
	ErrTooManyReads  = errors.New("core: too many pending reads")
	ErrRequestTooBig = errors.New("core: request is too large")
	ErrNotReadOnly   = errors.New("core: txn writes; propose it")
)

// Result is what a request's callback receives.
type Result struct {
	Resp proto.Message // etcd response; nil when Err is set
	Err  error
	// Index is the raft index the request was applied at (writes) or read
	// at (linearizable reads); 0 for local answers.
	Index uint64
}

// Callback receives a request's result, on the goroutine that drives the
// replica, exactly once — or never, when the replica crashes or the
// proposal is lost in a leader change (callers time out).
type Callback func(Result)

// EventSink receives the watch events of each applied revision, in revision
// order, on the driving goroutine. It must not block.
type EventSink func(rev int64, events []*mvccpb.Event)

// Canaries are deliberate bugs the simulator switches on to prove its checker
// is not vacuous. Production never sets them.
type Canaries struct {
	ReadWithoutReadIndex bool // C1: linearizable reads served from local state
	AckOnAppend          bool // C2: ack a write when the leader appends it
	SkipWALSync          bool // C3: WAL Sync does nothing
	SendBeforePersist    bool // C4: send messages before entries/HardState are durable
	NoDedup              bool // C5: apply a duplicated request twice
	LeaseBasedReads      bool // C6: raft ReadOnlyLeaseBased
	AppliedIndexApart    bool // C7: applied index written apart from the data
	IgnoreAuth           bool // C8: apply writes without checking the user's permissions
	HistoryAtCompactRev  bool // C9: serve history from the compact revision itself
	// C10: a read at an old revision looks through deletions.
	OldReadsSkipTombstones bool
	// C11: a read at the compact revision itself is refused as compacted.
	CompactRevUnreadable bool
	// The scenarios' controls switch off one of raft's election safeguards
	// to show what it buys; production always runs with both.
	NoPreVote     bool // raft PreVote off: a rejoining member disrupts with its higher term
	NoCheckQuorum bool // raft CheckQuorum off: an isolated leader never steps down
	PlainCampaign bool // Campaign starts a plain election even under a live leader
}

// Config configures a replica. Zero values take the seed report's defaults.
type Config struct {
	ID uint64
	// Peers are the voters of a brand-new cluster; used only when Dir holds
	// no state and Join is false.
	Peers []uint64
	// Join starts with an empty log, waiting for the leader's snapshot (a
	// member added through a configuration change).
	Join bool
	// Dir is where the WAL and snapshot files live on Disk.
	Dir     string
	Disk    Disk
	Clock   Clock
	Network Network
	// Engine holds the MVCC state. A non-durable engine must be empty.
	Engine engine.Engine
	// Rand draws request IDs; seeded in the simulator.
	Rand *rand.Rand

	ElectionTicks             int    // default 10
	HeartbeatTicks            int    // default 1
	MaxSizePerMsg             uint64 // default 4 MiB
	MaxInflightMsgs           int    // default 512
	MaxUncommittedEntriesSize uint64 // default 1 GiB
	// SnapshotEntries is how many applied entries trigger a snapshot and
	// log compaction (etcd's --snapshot-count); default 10000. NB: a
	// snapshot writes the whole store, so one is also held back until the
	// entries applied since the last one hold at least 1/snapshotLogRatio
	// of its size: a large store is not dumped every SnapshotEntries
	// entries (at a million keys that took a third of the CPU), at the
	// cost of a raft log of at most that share of the store in memory.
	SnapshotEntries uint64
	// CatchUpEntries stay in the log after compaction for slow followers.
	CatchUpEntries uint64 // default 5000 (capped to SnapshotEntries)
	// LogBytes bounds the raft log held in memory (see logbytes.go): a
	// snapshot is also due once the entries applied since the last one
	// hold LogBytes, and compaction keeps at most LogBytes of the
	// CatchUpEntries. Default 64 MiB.
	LogBytes uint64
	// LogKeepBytes bounds the applied entries a replica whose engine does
	// not hold the state (the memory engine) keeps in its raft log between
	// snapshots: once that many bytes were applied since the last trim,
	// the log is compacted behind the applied index, keeping
	// CatchUpEntries (fewer past LogBytes) or LogKeepBytes of entries,
	// whichever reaches further back. A follower further behind is sent
	// the store as of the leader's applied index (snapsend.go), so the
	// log's memory no longer follows the snapshot cadence. Default 8 MiB,
	// at most LogBytes. Nothing is trimmed before the first snapshot: raft
	// needs one to send a follower entries the log no longer holds.
	LogKeepBytes uint64
	// LogTailEntries is how many of the newest raft log entries stay as
	// raft's messages (packedLog's tail) before they are packed; default
	// 2048. The simulator sets a few so that its short logs get packed.
	LogTailEntries int
	// LeaseCheckpointTicks is how often the leader checkpoints remaining
	// lease TTLs; default 50.
	LeaseCheckpointTicks int
	// MaxPendingReads bounds queued linearizable reads; default 4096.
	MaxPendingReads int
	// MaxTxnOps bounds a proposed txn's compares, and ops per branch
	// (etcd's --max-txn-ops); default mvcc.MaxTxnOps, at most
	// mvcc.TxnOpsCeiling.
	MaxTxnOps int
	// WALSegmentBytes is the WAL segment size; 0 takes the WAL's default.
	WALSegmentBytes int64
	// WALZeroAheadBytes is the chunk of zeros the WAL keeps written ahead
	// of its end (wal.Options.ZeroAheadBytes), so that its syncs overwrite
	// blocks the file has rather than grow it; default 1 MiB, negative
	// turns it off.
	WALZeroAheadBytes int64

	// Pipeline says the world runs the stages (stage.go): it takes append
	// jobs with NextAppend, runs them (on another goroutine if it likes) and
	// hands them back with AppendDone, and runs apply jobs from NextApply
	// with Apply on the driving goroutine. Off, HandleReady runs both
	// itself before returning: one fsync per round, nothing overlapped.
	Pipeline bool

	Canary Canaries
	Logger raft.Logger // default: discard
}

// Status is a replica's view of itself and the cluster.
type Status struct {
	ID           uint64
	Leader       uint64
	Term         uint64
	Role         string // "leader", "follower", "candidate", "pre-candidate"
	Commit       uint64
	Applied      uint64
	Revision     int64
	CompactRev   int64
	Learner      bool
	Voters       []uint64
	Learners     []uint64
	SnapshotIdx  uint64
	LeaderChange uint64 // how many times this replica saw the leader change
	// SnapshotsInstalled counts leader snapshots this replica installed.
	SnapshotsInstalled uint64
	// AuthEnabled tells whether authentication is on in the applied state.
	AuthEnabled bool
	// MarkerRepaired: recovery found a snapshot file newer than the WAL's
	// snapshot marker (a crash came between the two) and wrote the marker.
	MarkerRepaired bool
	// Alarms are the active alarms as applied here (replicated through
	// raft), sorted by member then type; nil when none.
	Alarms []mvcc.Alarm
}

// compile-time check that the request type is the proto we replicate.
var _ proto.Message = (*pb.InternalRaftRequest)(nil)
var _ = raftpb.EntryNormal
