#!/usr/bin/env bash
# Usage: tests/cluster/down.sh <dir>
# Stops the cluster started by up.sh for <dir> and waits until every process is gone.
# Idempotent: exits 0 if nothing runs.
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
D="${1:?usage: down.sh <dir>}"
[[ -d "$D" ]] || { echo "k8scluster: nothing runs for $D" >&2; exit 0; }

if [[ -x "$HERE/bin/k8scluster" ]]; then
  exec "$HERE/bin/k8scluster" down --dir "$D"
fi

# No launcher binary (bin/ wiped): stop by pid file.
pid="$(cat "$D/pid" 2>/dev/null || true)"
if [[ -n "$pid" ]] && kill -0 "$pid" 2>/dev/null; then
  kill -TERM "$pid"
  for _ in $(seq 1 300); do kill -0 "$pid" 2>/dev/null || exit 0; sleep 0.2; done
  kill -KILL "$pid" 2>/dev/null || true
fi
exit 0
