#!/usr/bin/env bash
# cluster.sh — run a local three-member MetaStore cluster on 127.0.0.1, in
# the foreground, until Ctrl-C (or SIGTERM) stops all three members.
#
# Usage:
#   scripts/cluster.sh [METASTORE_FLAG...]     (or: make cluster ARGS='...')
#
#   member  client (gRPC + HTTP)  peer             data dir
#   m1      127.0.0.1:2379        127.0.0.1:2380   .cluster/m1
#   m2      127.0.0.1:22379       127.0.0.1:22380  .cluster/m2
#   m3      127.0.0.1:32379       127.0.0.1:32380  .cluster/m3
#
# The members get etcd's own flags only, as in etcd's Procfile; /health,
# /metrics, /version and the JSON gateway (/v3/...) are on the client ports.
# Extra arguments are passed to every member (e.g. --log-level=debug).
# Logs go to .cluster/m1.log etc. The data survives a stop: running the
# script again restarts the same cluster; `rm -rf .cluster` starts afresh.
set -euo pipefail
cd "$(dirname "$0")/.."

dir=.cluster
bin=$dir/bin/metastore
initial=m1=http://127.0.0.1:2380,m2=http://127.0.0.1:22380,m3=http://127.0.0.1:32380
endpoints=127.0.0.1:2379,127.0.0.1:22379,127.0.0.1:32379

mkdir -p "$dir/bin"
go build -o "$bin" ./cmd/metastore

pids=()
stop() {
	trap - INT TERM
	echo
	echo "stopping the cluster ..."
	kill -TERM "${pids[@]}" 2>/dev/null || true
	wait || true
	echo "stopped; data kept in $dir/ (rm -rf $dir to start afresh)"
	exit 0
}
trap stop INT TERM

for i in 1 2 3; do
	base=$([[ $i == 1 ]] && echo 2 || echo "${i}2")
	"$bin" --name="m$i" --data-dir="$dir/m$i" \
		--listen-client-urls="http://127.0.0.1:${base}379" \
		--advertise-client-urls="http://127.0.0.1:${base}379" \
		--listen-peer-urls="http://127.0.0.1:${base}380" \
		--initial-advertise-peer-urls="http://127.0.0.1:${base}380" \
		--initial-cluster="$initial" --initial-cluster-token=metastore-local \
		"$@" >"$dir/m$i.log" 2>&1 &
	pids+=($!)
done

sleep 1
for i in 0 1 2; do
	if ! kill -0 "${pids[$i]}" 2>/dev/null; then
		echo "member m$((i + 1)) exited at start; the end of $dir/m$((i + 1)).log:" >&2
		tail -n 20 "$dir/m$((i + 1)).log" >&2
		stop
	fi
done

ctl=./.peers/bin/etcdctl
note=
if [[ ! -x $ctl ]]; then
	ctl=etcdctl
	note=" (build the tested v3.7.3 with: scripts/build-etcd-peers.sh etcdctl)"
fi
cat <<MSG
MetaStore cluster running (pids ${pids[*]}); logs in $dir/m{1,2,3}.log.
Use it with etcdctl$note:

  export ETCDCTL_ENDPOINTS=$endpoints
  $ctl member list -w table
  $ctl endpoint status --cluster -w table
  $ctl put hello world && $ctl get hello

HTTP on the client ports: curl http://127.0.0.1:2379/health   .../metrics   .../version
  curl -s -X POST http://127.0.0.1:2379/v3/kv/range -d '{"key":"aGVsbG8="}'
Press Ctrl-C to stop all three.
MSG
wait
