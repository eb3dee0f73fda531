#!/usr/bin/env bash
# Usage: tests/cluster/up.sh <dir>
# Builds what is missing (build.sh), then reuses the cluster running for <dir> or starts
# `k8scluster up --dir <dir>` in the background (survives this shell) and waits for <dir>/ready.
# Progress goes to stderr; stdout gets exactly two lines to paste (or eval):
#   export KUBECONFIG=<abs dir>/kubeconfig
#   export PATH=<abs tests/cluster/bin>:$PATH
# Env: K8SCLUSTER_UP_TIMEOUT (seconds, default 180), K8SCLUSTER_KEEP_LOGS=1 (keep <dir>/logs on stop),
#      K8SCLUSTER_NODES (default 3), K8SCLUSTER_NO_KRUISE=1 (no kruise-manager; OpenKruise CRDs only),
#      K8SCLUSTER_NO_PROMETHEUS=1 (neither build nor start Prometheus).
# With Prometheus, its base URL is in <dir>/prometheus-url (also logged on stderr).
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
BIN="$HERE/bin"
D="${1:?usage: up.sh <dir>}"
TIMEOUT="${K8SCLUSTER_UP_TIMEOUT:-180}"

log() { printf '[up.sh %s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }
log_prometheus() {
  if [[ -f "$D/prometheus-url" ]]; then
    log "prometheus at $(cat "$D/prometheus-url") (scrape targets: $D/prometheus/targets/*.json)"
  fi
}
print_exports() {
  echo "export KUBECONFIG=$D/kubeconfig"
  echo "export PATH=$BIN:\$PATH"
}

"$HERE/build.sh"

mkdir -p "$D"
D="$(cd "$D" && pwd)"

if "$BIN/k8scluster" status --dir "$D" >/dev/null 2>&1; then
  log "reusing the cluster already running for $D (launcher pid $(cat "$D/pid"))"
  log_prometheus
  print_exports
  exit 0
fi

T0=$SECONDS
pid="$(cat "$D/pid" 2>/dev/null || true)"
if [[ -n "$pid" ]] && kill -0 "$pid" 2>/dev/null && tr '\0' ' ' < "/proc/$pid/cmdline" 2>/dev/null | grep -q k8scluster; then
  log "a launcher (pid $pid) is already starting for $D; waiting for it"
else
  mkdir -p "$D/logs"
  rm -f "$D/ready"   # stale marker of a launcher that was killed
  args=(up --dir "$D" --nodes "${K8SCLUSTER_NODES:-3}")
  [[ "${K8SCLUSTER_KEEP_LOGS:-}" == 1 ]] && args+=(--keep-logs)
  [[ "${K8SCLUSTER_NO_KRUISE:-}" == 1 ]] && args+=(--no-kruise)
  [[ "${K8SCLUSTER_NO_PROMETHEUS:-}" == 1 ]] && args+=(--no-prometheus)
  log "starting k8scluster ${args[*]} (log: $D/logs/k8scluster.log)"
  # setsid + nohup: own session, survives the calling shell and its SIGHUP.
  setsid nohup "$BIN/k8scluster" "${args[@]}" > "$D/logs/k8scluster.log" 2>&1 < /dev/null &
  pid=$!
fi

while [[ ! -f "$D/ready" ]]; do
  p="$(cat "$D/pid" 2>/dev/null || echo "$pid")"
  if ! kill -0 "$p" 2>/dev/null && ! kill -0 "$pid" 2>/dev/null; then
    log "ERROR: the launcher exited before the cluster was ready. Last lines of $D/logs/k8scluster.log:"
    tail -n 60 "$D/logs/k8scluster.log" >&2 || true
    exit 1
  fi
  if (( SECONDS - T0 > TIMEOUT )); then
    log "ERROR: cluster not ready after ${TIMEOUT}s; stopping it. Last lines of $D/logs/k8scluster.log:"
    tail -n 40 "$D/logs/k8scluster.log" >&2 || true
    K8SCLUSTER_KEEP_LOGS=1 "$BIN/k8scluster" down --dir "$D" >&2 || true
    exit 1
  fi
  sleep 0.2
done
log "cluster ready in $(( SECONDS - T0 ))s ($(cat "$D/ready"))"
log_prometheus
print_exports
