#!/usr/bin/env bash
# Installs what a fresh Debian machine lacks for building and testing
# MetaStore. Idempotent: it only calls apt-get when something is missing.
#
# librocksdb-dev: the rocksdb engine links the system's RocksDB through cgo
# (github.com/linxGnu/grocksdb v1.7.15, which matches Debian 12's RocksDB
# 7.8), so every `go build ./...` needs its headers and library.
set -euo pipefail
need=()
command -v go >/dev/null || { echo "deps: Go 1.26 is required (https://go.dev/dl)"; exit 1; }
command -v gcc >/dev/null || need+=(gcc)
command -v git >/dev/null || need+=(git)
if [ ! -f /usr/include/rocksdb/c.h ] || ! compgen -G '/usr/lib/*/librocksdb.so' >/dev/null; then
  need+=(librocksdb-dev)
fi
if [ ${#need[@]} -gt 0 ]; then
  if [ "$(id -u)" != 0 ]; then
    echo "deps: missing ${need[*]}; run as root or install them: apt-get install -y ${need[*]}"
    exit 1
  fi
  export DEBIAN_FRONTEND=noninteractive # CI has no terminal to answer a prompt
  apt-get update -q && apt-get install -y -q "${need[@]}"
fi
go mod download
