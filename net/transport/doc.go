// Package transport carries raft messages between MetaStore members over
// gRPC. It is the production twin of the simulator's network: a Transport
// implements core.Network, and its Send never blocks.
//
// # Wire format
//
// The service "metastore.transport.v1.Raft" is declared by hand (no protoc)
// and has three methods, all moving google.protobuf.BytesValue frames whose
// payload is a proto-marshalled raftpb.Message (or, on Snapshot, file
// bytes after the first frame):
//
// Between plaintext members small messages travel on a direct stream
// instead (direct.go): a TCP connection to the same port that opens with
// its own magic and carries length-prefixed messages. Listener tells the
// two apart; a member without it gets the Message stream below.
//
//   - Message: a long-lived bidirectional stream per (sender, receiver) pair.
//     The sender writes one frame per message; the receiver never writes and
//     ends the stream only to reject it (wrong token) or on shutdown.
//   - Large: a client stream per large message. Any message whose encoding
//     exceeds Options.MaxMsgBytes (or a MsgSnap, without Options.Snapshots)
//     is cut into Options.ChunkBytes frames; the receiver reassembles them,
//     delivers the message and answers one empty frame.
//   - Snapshot: a client stream per MsgSnap when Options.Snapshots is set.
//     The MsgSnap carries only a descriptor of the snapshot file; the first
//     frame is the message, the following ones the file in ChunkBytes
//     pieces, read from disk one at a time (Snapshots.Open). The receiver
//     stores the file as it arrives (Snapshots.Receive, which checks it),
//     then delivers the message and answers one empty frame; neither side
//     holds the snapshot whole in memory.
//
// Every stream carries the sender's cluster token, cluster ID and member ID
// as metadata; a receiver whose token differs, or whose cluster ID differs
// when both are known, rejects the stream with PermissionDenied, so two
// clusters that share addresses cannot mix their logs (a cluster restored
// from a snapshot has a new cluster ID even under the old token).
//
// # Usage
//
//	t := transport.New(selfID, transport.Options{
//		ClusterToken:     cfg.InitialClusterToken,
//		OnUnreachable:    func(id uint64) { reports <- report{id: id} },
//		OnSnapshotStatus: func(id uint64, ok bool) { reports <- report{id: id, snap: true, ok: ok} },
//	})
//	srv := grpc.NewServer(transport.ServerOptions(opts)...)
//	t.Register(srv)
//	go srv.Serve(t.Listener(peerListener))
//	for id, urls := range members { t.AddPeer(id, urls) }
//	// driver goroutine: replica.Step(<-t.Incoming()), replica.ReportUnreachable(...), ...
//	defer t.Close()
//
// The callbacks run on transport goroutines, never inside Send, so a driver
// may forward them into a channel it selects on; they must not be dropped
// when they report a snapshot failure (raft waits for that report before it
// retries the snapshot).
package transport
