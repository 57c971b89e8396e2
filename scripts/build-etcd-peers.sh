#!/usr/bin/env bash
# build-etcd-peers.sh — build the reference etcd tools MetaStore is tested and
# benchmarked against, from the Go module proxy, into ./.peers/bin.
#
# Usage:
#   scripts/build-etcd-peers.sh [-o BIN_DIR] [TOOL...]
#
# TOOL is any of: etcdctl (default), etcd, benchmark, all.
#   etcdctl    go.etcd.io/etcd/etcdctl/v3  $ETCD_VERSION   (the compatibility client)
#   etcd       go.etcd.io/etcd/server/v3   $ETCD_VERSION   (side-by-side server)
#   benchmark  go.etcd.io/etcd/v3 tools    $BENCH_VERSION  (etcd's load generator)
#
# Environment: ETCD_VERSION (default v3.7.3), BENCH_VERSION (default v3.6.8; the
# root module that holds tools/benchmark), GOPROXY/GOFLAGS as usual.
#
# Why wrapper modules: etcd's main modules carry `replace` directives, which
# `go install mod@version` refuses. So each tool gets a throw-away module whose
# main() calls the package that holds the tool's real entry point; the go
# command then resolves etcd's dependencies like any library user's would.
#
# Idempotent: a tool whose binary already exists (and, for etcd/etcdctl,
# reports the wanted version) is skipped. Delete the binary to force a rebuild.
set -euo pipefail

ETCD_VERSION=${ETCD_VERSION:-v3.7.3}
BENCH_VERSION=${BENCH_VERSION:-v3.6.8}
out=./.peers/bin

while getopts "o:h" opt; do
	case $opt in
	o) out=$OPTARG ;;
	h) sed -n '2,22p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
	*) exit 2 ;;
	esac
done
shift $((OPTIND - 1))
tools=("$@")
[[ ${#tools[@]} -eq 0 ]] && tools=(etcdctl)
[[ " ${tools[*]} " == *" all "* ]] && tools=(etcdctl etcd benchmark)

out=$(realpath -m "$out")
mkdir -p "$out"
scratch=$(mktemp -d)
trap 'rm -rf "$scratch"' EXIT

# up_to_date NAME WANT: true when $out/NAME exists and, if WANT is set, its
# version output mentions WANT (without the leading v).
up_to_date() {
	local bin=$out/$1 want=${2#v}
	[[ -x $bin ]] || return 1
	[[ -z $want ]] && return 0
	"$bin" version 2>/dev/null | grep -q "$want" && return 0
	"$bin" --version 2>/dev/null | grep -q "$want"
}

# build NAME MODULE@VERSION IMPORT CALL — compile a wrapper module whose main
# body is CALL (Go code using the package imported as IMPORT, named ep).
build() {
	local name=$1 modver=$2 imp=$3 call=$4 want=${5:-}
	if up_to_date "$name" "$want"; then
		echo "$name: up to date ($out/$name)"
		return
	fi
	echo "$name: building from $modver ..."
	local dir=$scratch/$name
	mkdir -p "$dir"
	cat >"$dir/go.mod" <<MOD
module peers.local/$name

go 1.26
MOD
	cat >"$dir/main.go" <<GO
// Command $name is a generated wrapper around $imp.
package main

import (
	"fmt"
	"os"

	ep "$imp"
)

var _ = fmt.Sprint
var _ = os.Args

func main() {
	$call
}
GO
	(
		cd "$dir"
		go get "$modver" >/dev/null 2>&1 || go get "$modver"
		go mod tidy >/dev/null
		CGO_ENABLED=0 go build -trimpath -o "$out/$name.tmp" .
	)
	mv "$out/$name.tmp" "$out/$name"
	echo "$name: built ($out/$name)"
}

for t in "${tools[@]}"; do
	case $t in
	etcdctl) build etcdctl "go.etcd.io/etcd/etcdctl/v3@$ETCD_VERSION" \
		go.etcd.io/etcd/etcdctl/v3/ctlv3 'ep.MustStart()' "$ETCD_VERSION" ;;
	etcd) build etcd "go.etcd.io/etcd/server/v3@$ETCD_VERSION" \
		go.etcd.io/etcd/server/v3/etcdmain 'ep.Main(os.Args)' "$ETCD_VERSION" ;;
	benchmark) build benchmark "go.etcd.io/etcd/v3@$BENCH_VERSION" \
		go.etcd.io/etcd/v3/tools/benchmark/cmd \
		'if err := ep.RootCmd.Execute(); err != nil { fmt.Fprintln(os.Stderr, err); os.Exit(1) }' ;;
	*) echo "unknown tool: $t (want etcdctl, etcd, benchmark or all)" >&2; exit 2 ;;
	esac
done
ls -l "$out"
