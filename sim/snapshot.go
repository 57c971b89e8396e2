package sim

import (
	"bytes"
	"encoding/binary"
	"errors"
	"io"

	"go.etcd.io/raft/v3/raftpb"
	"google.golang.org/protobuf/proto"

	"metastore/core"
)

// Snapshots in the simulated world, as production runs them:
//
//   - a replica's snapshot job (core.SnapshotJob) is a background stage: it
//     writes the file at the end of the step that handed it out, its
//     fsyncs taking virtual time of their own (drawn from the seed's disk)
//     instead of the node's, and its completion (SnapshotDone: the WAL
//     marker, log compaction) is stepped into the replica a while after
//     they return. A crash can fall between the file and the marker;
//     recovery must cope (counted as snapshot_marker_repaired at boot);
//   - on a durable engine (the stand-in or RocksDB) the job is engine-held:
//     it syncs the engine (the crash model's flush) and writes only the
//     metadata; a MsgSnap of such a snapshot waits for a second kind of
//     job, which makes a file for sending from the engine (counted as
//     snapshot_engine_synced and snapshot_send_file). A crash aimed at the
//     pipeline may fall inside either: between the engine's sync and the
//     snapshot's completion, or while a file for sending is being made;
//   - a MsgSnap carries only a descriptor; the sender's snapshot file
//     travels with it (packed into the copy on the wire, since simulated
//     nodes have separate disks), and the receiver stores it on its disk
//     (SnapshotFiles.Receive) inside the step that then steps the message.

// startSnapshot takes a replica's pending snapshot jobs, if any, and runs
// each as a background stage after the current step.
func (d *driver) startSnapshot(n *node) {
	for job := n.rep.SnapshotJob(); job != nil; job = n.rep.SnapshotJob() {
		inc := n.host.Incarnation
		d.s.world.Schedule(n.host.Cursor(), func() { d.writeSnapshot(n, inc, job) })
	}
}

// writeSnapshot runs job's file write now, beside whatever step the node is
// in: its fsync latencies advance a cursor of their own. The replica hears
// of it (SnapshotDone) once the last fsync returned.
func (d *driver) writeSnapshot(n *node, inc int, job *core.SnapshotJob) {
	w := d.s.world
	if n.host.Incarnation != inc || !n.alive() {
		job.Abandon()
		return
	}
	start, cost := n.host.StepStart, n.host.StepCost
	n.host.BeginStep(w.Now)
	runErr := job.Run()
	// The completion reaches the loop some time after the last fsync (in
	// production it waits in the request queue): a window in which a
	// crash leaves the file without its WAL marker.
	done := n.host.Cursor() + d.s.faultRng.Int64N(int64(snapshotDoneDelayMax)+1)
	n.host.StepStart, n.host.StepCost = start, cost
	switch {
	case job.ForSending:
		d.s.count("snapshot_send_file")
		if runErr != nil {
			d.s.count("snapshot_send_file_failed") // a full disk: raft asks again
		}
		n.sendFileOut++
	case job.EngineHeld:
		d.s.count("snapshot_engine_synced")
		n.engineSyncedOut = true
	default:
		d.s.count("snapshot_written")
	}
	switch {
	case n.crashInStage && (job.ForSending || job.EngineHeld):
		// Aim the pipeline crash inside this job: after the engine's sync
		// (or while the file for sending is out), before the loop hears.
		n.crashInStage = false
		d.crashBetween(n, w.Now, done)
	case job.ForSending && d.s.faults.CrashEvery > 0 && d.s.faultRng.IntN(sendFileCrashOneIn) == 0:
		// Files for sending are rare (a follower past compaction), and
		// the pipeline's aimed crashes mostly find append jobs first.
		d.crashBetween(n, w.Now, done)
	}
	w.Schedule(done, func() {
		if n.host.Incarnation != inc {
			return // recovery finds the file (if durable) without a marker
		}
		d.exec(n, "snapshot-done", func(r *core.Replica) {
			if job.ForSending {
				n.sendFileOut--
			} else {
				n.engineSyncedOut = false
			}
			if err := r.SnapshotDone(job, runErr); err != nil {
				d.failStop(n, err)
			}
		})
	})
}

// sendFileCrashOneIn: when the run crashes members at all, one file for
// sending in this many has its leader crash while it is out.
const sendFileCrashOneIn = 4

// snapshotDoneDelayMax bounds the wait between a snapshot file's last
// fsync and its completion stepping into the replica.
const snapshotDoneDelayMax = 200 * Millisecond

// simFileMagic marks a MsgSnap copy on the simulated wire whose Data holds
// the descriptor and then the snapshot file.
var simFileMagic = []byte("SIMSNAPF")

// attachSnapshotFiles returns msgs with each MsgSnap replaced by a copy
// that carries its snapshot file. A MsgSnap whose file cannot be read is
// dropped (its snapshot report then says it failed).
func (d *driver) attachSnapshotFiles(n *node, msgs []*raftpb.Message) []*raftpb.Message {
	var out []*raftpb.Message
	for i, m := range msgs {
		if m.GetType() != raftpb.MsgSnap {
			if out != nil {
				out = append(out, m)
			}
			continue
		}
		if out == nil {
			out = append(make([]*raftpb.Message, 0, len(msgs)), msgs[:i]...)
		}
		body, err := d.readSnapshotFile(n, m)
		if err != nil {
			d.s.count("snapshot_send_failed")
			continue
		}
		cp := proto.Clone(m).(*raftpb.Message)
		desc := m.GetSnapshot().GetData()
		data := append(bytes.Clone(simFileMagic), binary.AppendUvarint(nil, uint64(len(desc)))...)
		data = append(append(data, desc...), body...)
		cp.Snapshot.Data = data
		out = append(out, cp)
	}
	if out == nil {
		return msgs
	}
	return out
}

func (d *driver) readSnapshotFile(n *node, m *raftpb.Message) ([]byte, error) {
	if n.rep == nil {
		return nil, core.ErrStopped
	}
	rc, size, err := n.rep.SnapshotFiles().Open(m)
	if err != nil {
		return nil, err
	}
	defer rc.Close()
	body, err := io.ReadAll(rc)
	if err == nil && int64(len(body)) != size {
		err = io.ErrUnexpectedEOF
	}
	return body, err
}

// stepSnapshot stores the file a MsgSnap brought on node n's disk, then
// steps the message with its descriptor back in place. An fsync error
// while storing it is fatal, as anywhere else.
func (d *driver) stepSnapshot(n *node, r *core.Replica, m *raftpb.Message) {
	data := m.GetSnapshot().GetData()
	rest, ok := bytes.CutPrefix(data, simFileMagic)
	if !ok {
		_ = r.Step(m)
		return
	}
	k, w := binary.Uvarint(rest)
	if w <= 0 || k > uint64(len(rest)-w) {
		panic("sim: malformed snapshot attachment")
	}
	desc, body := rest[w:w+int(k)], rest[w+int(k):]
	m = proto.Clone(m).(*raftpb.Message)
	m.Snapshot.Data = bytes.Clone(desc)
	if err := r.SnapshotFiles().Receive(m, bytes.NewReader(body)); err != nil {
		d.s.count("snapshot_receive_failed")
		if errors.Is(err, ErrSyncFailed) {
			d.s.count("failstop")
			d.crashAt(n, n.host.Cursor())
			d.restartLater(n)
		}
		return
	}
	_ = r.Step(m)
}
