// Package net is the production world: the shell that runs a core.Replica
// on real time, a real disk and real sockets. It holds no code of its own;
// its subpackages are the pieces the server command assembles.
//
//   - net/config: flags, YAML file, defaults and validation; member IDs.
//   - net/transport: raft messages between members over gRPC (core.Network).
//   - net/metrics: Prometheus collectors, /metrics, /health, /readyz, and
//     the gRPC interceptors that feed them.
//   - the etcd v3 gRPC services and the goroutine that drives the replica
//     (being written).
//
// Unlike core/ and sim/, code here may use goroutines, channels, sync, time
// and os. One goroutine owns a replica: it selects on the raft ticker,
// transport.Incoming(), client requests and transport reports, and calls the
// replica's methods; nothing else touches the replica.
//
// Deployment artefacts live beside the code: deploy/alerts.yml (Prometheus
// rules over net/metrics' names) and scripts/build-etcd-peers.sh (etcdctl,
// etcd and etcd's benchmark tool built into ./.peers/bin for compatibility
// tests and side-by-side benchmarks).
package net
