// Package e2e runs the real metastore binary, as separate processes on
// 127.0.0.1, against the official clients: etcdctl v3.7.3 and
// go.etcd.io/etcd/client/v3 with its concurrency recipes (Mutex, Election,
// STM). It holds tests only.
//
// TestMain builds ./cmd/metastore into a temporary directory and, when
// .peers/bin/etcdctl is missing, builds etcdctl with
// scripts/build-etcd-peers.sh; it fails (never skips) when it cannot.
//
// # Usage
//
//	go test ./tests/e2e -count=1 -v
//	go test ./tests/e2e -run TestFailover -count=1 -v
//
// On a failure each member's log tail is printed.
package e2e
