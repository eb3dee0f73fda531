#!/usr/bin/env bash
# Usage: tests/local/services.sh up|down <cluster-dir>
# Runs the project's services against the local control plane of tests/cluster, as local
# processes registered by URL (there is no Service networking there):
#   up:   builds rollouts-webhook and rollouts-controller, installs the namespace, the Rollout
#         CRD, the RBAC of manifests/rbac and the webhook configurations, starts the webhook on
#         https://127.0.0.1:$WEBHOOK_PORT and the controller, each authenticated as its own
#         ServiceAccount (a TokenRequest token in <cluster-dir>/<service>.kubeconfig, so a
#         missing permission shows here as it would on a real cluster), and waits until both
#         are ready.
#   down: stops both and removes the webhook configurations, so labelled workloads are not
#         blocked by a webhook that is gone (failurePolicy is Fail).
#   stop-controller: stops only the controller (the e2e suite runs its own).
# Env: WEBHOOK_PORT (default 19876), WEBHOOK_ADMIN_PORT (default 18081),
#      CONTROLLER_ADMIN_PORT (default 18082).
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
ACTION="${1:?usage: services.sh up|down|stop-controller <cluster-dir>}"
D="$(cd "${2:?usage: services.sh up|down <cluster-dir>}" && pwd)"
export KUBECONFIG="$D/kubeconfig"
KUBECTL="$ROOT/tests/cluster/bin/kubectl"
PORT="${WEBHOOK_PORT:-19876}"
ADMIN="${WEBHOOK_ADMIN_PORT:-18081}"
PIDFILE="$D/rollouts-webhook.pid"
LOG="$D/logs/rollouts-webhook.log"
CONTROLLER_ADMIN="${CONTROLLER_ADMIN_PORT:-18082}"
CONTROLLER_PIDFILE="$D/rollouts-controller.pid"
CONTROLLER_LOG="$D/logs/rollouts-controller.log"

log() { printf '[services.sh %s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }

# Fails clearly when another process (often the services of another checkout's `make up`)
# already listens on a port this one needs: its answers would be taken for ours.
require_free_port() {
  local port="$1" what="$2"
  if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
    log "ERROR: port $port ($what) is already in use by another process: $(ss -ltnpH "sport = :$port" 2>/dev/null | sed 's/.*users://' | head -1)"
    log "stop it (\`make down\` in the checkout that started it) or choose other ports with WEBHOOK_PORT, WEBHOOK_ADMIN_PORT and CONTROLLER_ADMIN_PORT"
    exit 1
  fi
}

running() { [[ -f "$PIDFILE" ]] && kill -0 "$(cat "$PIDFILE")" 2>/dev/null; }

# service_kubeconfig SERVICE: writes $D/SERVICE.kubeconfig, the admin kubeconfig with a 48 h
# TokenRequest token of ServiceAccount kruise-rollout/SERVICE instead of the admin's token.
service_kubeconfig() {
  local service="$1" token file="$D/$1.kubeconfig"
  "$KUBECTL" apply -f "$ROOT/manifests/rbac/${service#rollouts-}.yaml" >/dev/null
  token="$("$KUBECTL" create token "$service" -n kruise-rollout --duration=48h)"
  "$KUBECTL" config view --raw --minify > "$file.tmp"
  KUBECONFIG="$file.tmp" "$KUBECTL" config set-credentials "$service" --token="$token" >/dev/null
  KUBECONFIG="$file.tmp" "$KUBECTL" config set-context --current --user="$service" >/dev/null
  mv "$file.tmp" "$file"
  echo "$file"
}

controller_running() { [[ -f "$CONTROLLER_PIDFILE" ]] && kill -0 "$(cat "$CONTROLLER_PIDFILE")" 2>/dev/null; }

stop_controller() {
  if controller_running; then
    local pid; pid="$(cat "$CONTROLLER_PIDFILE")"
    kill "$pid"
    for _ in $(seq 1 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -9 "$pid" 2>/dev/null || true
    log "stopped rollouts-controller (pid $pid)"
  fi
  rm -f "$CONTROLLER_PIDFILE"
}

# Puts the kubectl-kruise plugin next to kubectl, so the PATH line `make up` prints finds both
# `kubectl-kruise` and `kubectl kruise`.
install_plugin() {
  (cd "$ROOT" && cargo build --quiet --locked -p kubectl-kruise)
  ln -sf "$ROOT/target/debug/kubectl-kruise" "$ROOT/tests/cluster/bin/kubectl-kruise"
  log "kubectl-kruise installed in tests/cluster/bin"
}

start_controller() {
  if controller_running && curl -sf "http://127.0.0.1:$CONTROLLER_ADMIN/readyz" >/dev/null; then
    log "reusing rollouts-controller (pid $(cat "$CONTROLLER_PIDFILE"))"
    return 0
  fi
  stop_controller
  require_free_port "$CONTROLLER_ADMIN" "controller admin"
  log "building rollouts-controller"
  (cd "$ROOT" && cargo build --quiet --locked -p rollouts-controller)
  mkdir -p "$D/logs"
  # The local Prometheus (tests/cluster) answers metric analysis queries, when it runs.
  local prometheus=()
  if [[ -s "$D/prometheus-url" ]]; then prometheus=(--prometheus-address "$(cat "$D/prometheus-url")"); fi
  local kubeconfig; kubeconfig="$(service_kubeconfig rollouts-controller)"
  KUBECONFIG="$kubeconfig" setsid nohup "$ROOT/target/debug/rollouts-controller" --no-leader-election \
    --admin-addr "127.0.0.1:$CONTROLLER_ADMIN" "${prometheus[@]}" > "$CONTROLLER_LOG" 2>&1 < /dev/null &
  echo $! > "$CONTROLLER_PIDFILE"
  for _ in $(seq 1 300); do
    if curl -sf "http://127.0.0.1:$CONTROLLER_ADMIN/readyz" >/dev/null; then
      log "rollouts-controller ready (pid $(cat "$CONTROLLER_PIDFILE"), metrics http://127.0.0.1:$CONTROLLER_ADMIN/metrics, log $CONTROLLER_LOG)"
      return 0
    fi
    if ! controller_running; then break; fi
    sleep 0.2
  done
  log "ERROR: rollouts-controller did not become ready. Last lines of $CONTROLLER_LOG:"
  tail -n 30 "$CONTROLLER_LOG" >&2 || true
  stop_controller
  return 1
}

stop() {
  stop_controller
  if running; then
    local pid; pid="$(cat "$PIDFILE")"
    kill "$pid"
    for _ in $(seq 1 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -9 "$pid" 2>/dev/null || true
    log "stopped rollouts-webhook (pid $pid)"
  fi
  rm -f "$PIDFILE"
  if [[ -f "$KUBECONFIG" ]]; then
    "$KUBECTL" delete --ignore-not-found -f "$ROOT/manifests/webhook/mutating.yaml" -f "$ROOT/manifests/webhook/validating.yaml" >/dev/null 2>&1 || true
  fi
}

case "$ACTION" in
  up)
    if running && curl -sf "http://127.0.0.1:$ADMIN/readyz" >/dev/null; then
      log "reusing rollouts-webhook (pid $(cat "$PIDFILE"))"
      install_plugin
      start_controller
      exit $?
    fi
    stop
    require_free_port "$PORT" "webhook HTTPS"
    require_free_port "$ADMIN" "webhook admin"
    log "building rollouts-webhook"
    (cd "$ROOT" && cargo build --quiet --locked -p rollouts-webhook)
    "$KUBECTL" apply -f "$ROOT/manifests/namespace.yaml" >/dev/null
    # replace, not apply: the webhook points the Rollout CRD's conversion at a URL, which an
    # apply would keep next to the Service reference.
    for CRD in "$ROOT"/manifests/crds/*.yaml; do
      "$KUBECTL" replace -f "$CRD" >/dev/null 2>&1 || "$KUBECTL" create -f "$CRD" >/dev/null
    done
    "$KUBECTL" apply -f "$ROOT/manifests/webhook/mutating.yaml" -f "$ROOT/manifests/webhook/validating.yaml" >/dev/null
    mkdir -p "$D/logs"
    WEBHOOK_KUBECONFIG="$(service_kubeconfig rollouts-webhook)"
    KUBECONFIG="$WEBHOOK_KUBECONFIG" setsid nohup "$ROOT/target/debug/rollouts-webhook" --webhook-host 127.0.0.1 --bind 127.0.0.1 \
      --webhook-port "$PORT" --admin-addr "127.0.0.1:$ADMIN" > "$LOG" 2>&1 < /dev/null &
    echo $! > "$PIDFILE"
    for _ in $(seq 1 300); do
      if curl -sf "http://127.0.0.1:$ADMIN/readyz" >/dev/null; then
        log "rollouts-webhook ready on https://127.0.0.1:$PORT (pid $(cat "$PIDFILE"), log $LOG)"
        install_plugin
        start_controller || { stop; exit 1; }
        exit 0
      fi
      if ! running; then break; fi
      sleep 0.2
    done
    log "ERROR: rollouts-webhook did not become ready. Last lines of $LOG:"
    tail -n 30 "$LOG" >&2 || true
    stop
    exit 1
    ;;
  down) stop ;;
  stop-controller) stop_controller ;;
  *) echo "usage: services.sh up|down|stop-controller <cluster-dir>" >&2; exit 2 ;;
esac
