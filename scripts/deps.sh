#!/usr/bin/env bash
# Installs what a fresh Debian machine lacks for building and testing
# MetaStore. Idempotent: it only calls apt-get when something is missing.
set -euo pipefail
need=()
command -v go >/dev/null || { echo "deps: Go 1.26 is required (https://go.dev/dl)"; exit 1; }
command -v gcc >/dev/null || need+=(gcc)
command -v git >/dev/null || need+=(git)
if [ ${#need[@]} -gt 0 ]; then
  if [ "$(id -u)" != 0 ]; then
    echo "deps: missing ${need[*]}; run as root or install them: apt-get install -y ${need[*]}"
    exit 1
  fi
  apt-get update -q && apt-get install -y -q "${need[@]}"
fi
go mod download
