#!/usr/bin/env bash
# core/ and sim/ are stepped, deterministic code: they may not import packages
# that bring goroutines, wall time, the OS or the network (direct imports only:
# fmt itself pulls in os and sync). core/realworld is the production world's
# clock and disk, the one exception.
set -euo pipefail
banned='^(os|os/exec|net|net/http|sync|sync/atomic|context|math/rand|google.golang.org/grpc)$'
bad=0
for pkg in $(go list ./core/... ./sim/... 2>/dev/null | grep -v '/core/realworld$'); do
  for imp in $(go list -f '{{join .Imports " "}}' "$pkg"); do
    if [[ $imp =~ $banned ]]; then
      echo "import-check: $pkg imports $imp"
      bad=1
    fi
  done
done
exit $bad
