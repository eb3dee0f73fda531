#!/usr/bin/env bash
# Usage: tests/local/with-cluster.sh <cluster dir> <command...>
# Runs <command> with KUBECONFIG set to the local control plane of <cluster dir>: starts it
# unless one already runs there (a running one is reused and left running; one started here is
# stopped afterwards, pass or fail), and stops the demo's services there first, since the
# command starts services of its own. Exits with the command's status.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
D="${1:?usage: with-cluster.sh <cluster dir> <command...>}"
shift
started=0
if ! "$ROOT/tests/cluster/bin/k8scluster" status --dir "$D" >/dev/null 2>&1; then started=1; fi
"$ROOT/tests/cluster/up.sh" "$D" >/dev/null
"$ROOT/tests/local/services.sh" down "$D"
trap 'if [ $started = 1 ]; then "$ROOT/tests/cluster/down.sh" "$D" >/dev/null 2>&1; fi' EXIT
KUBECONFIG="$D/kubeconfig" "$@"
