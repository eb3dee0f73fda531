#!/usr/bin/env bash
# Usage: tests/local/demo.sh   (or `make demo`)
# Plays the walkthrough of docs/getting-started.md end to end on the local control plane, with
# the sample application of examples/echoserver/: `make up` (builds what is missing, starts the
# cluster, the webhook and the controller), then seven stages, each in a fresh namespace:
#   1/7 canary release with traffic (rollout-canary.yaml + Nginx Ingress)
#   2/7 A/B testing (rollout-ab.yaml + Nginx Ingress)
#   3/7 phased release without Ingress (rollout-partition.yaml)
#   4/7 rollback in the middle of a canary release
#   5/7 phased release of an OpenKruise CloneSet (rollout-cloneset.yaml)
#   6/7 blue-green release with traffic (rollout-blue-green.yaml + Nginx Ingress)
#   7/7 a canary rolled back by metric analysis (rollout-analysis.yaml + the local Prometheus)
# Every command is printed (`$ ...`) before it runs, followed by its real output. Every wait is
# bounded; a stage that does not reach what the walkthrough says stops the script with exit 1 and
# the last observations. The cluster and the namespaces are left running (`make down` stops it).
# Needs nothing outside the repository.
# Env: DEMO_PAUSE_SECONDS (the examples' 60 s pauses become this, default 5),
#      DEMO_WAIT_SECONDS (bound of each wait, default 120),
#      DEMO_WATCH_SECONDS (bound of `kubectl-kruise rollout status -w`, default 300).
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
EXAMPLES="$ROOT/examples/echoserver"
PAUSE="${DEMO_PAUSE_SECONDS:-5}"
WAIT="${DEMO_WAIT_SECONDS:-120}"
WATCH="${DEMO_WATCH_SECONDS:-300}"
NAME=rollouts-demo
T0=$SECONDS

# ---------------------------------------------------------------------------------------------
# Output helpers

heading() { printf '\n==> %s\n' "$*"; }
note() { printf '# %s\n' "$*"; }

# Prints an argv as a shell command, quoting only the words that need it.
show() {
  local out="" word
  for word in "$@"; do
    if [[ "$word" =~ ^[A-Za-z0-9_./:=,@%+-]+$ ]]; then
      out+=" $word"
    else
      out+=" '${word//\'/\'\\\'\'}'"
    fi
  done
  printf '$%s\n' "$out"
}

# Runs an argv after printing it; a failure ends the stage.
run() {
  show "$@"
  "$@" || fail "command failed (exit $?): $*"
}

# Runs a shell pipeline (one string) after printing it; a failure ends the stage.
run_sh() {
  printf '$ %s\n' "$1"
  eval "$1" || fail "command failed (exit $?): $1"
}

CURRENT_NS=""

# Stops the demo with the last observations of the current namespace.
fail() {
  {
    printf '\nERROR: %s\n' "$*"
    if [[ -n "$CURRENT_NS" && -n "${KUBECONFIG:-}" ]]; then
      printf '\nLast observations in namespace %s:\n' "$CURRENT_NS"
      kubectl get rollout -n "$CURRENT_NS" 2>&1 || true
      kubectl get deployments,services,ingresses -n "$CURRENT_NS" 2>&1 || true
      kubectl get pods -n "$CURRENT_NS" -o "custom-columns=$POD_COLUMNS" 2>&1 || true
      printf '\nLast events:\n'
      kubectl get events -n "$CURRENT_NS" --sort-by=.metadata.creationTimestamp 2>&1 | tail -n 15 || true
      local logs; logs="$(dirname "$KUBECONFIG")/logs"
      for service in rollouts-controller rollouts-webhook; do
        if [[ -f "$logs/$service.log" ]]; then
          printf '\nLast lines of %s about %s (cut at 300 characters):\n' "$logs/$service.log" "$CURRENT_NS"
          { grep -F "$CURRENT_NS" "$logs/$service.log" || true; } | tail -n 10 | cut -c1-300
        fi
      done
    fi
  } >&2
  exit 1
}

POD_COLUMNS='POD:.metadata.name,NODE_NAME:.spec.containers[0].env[?(@.name=="NODE_NAME")].value,READY:.status.conditions[?(@.type=="Ready")].status,DELETING:.metadata.deletionTimestamp'

# ---------------------------------------------------------------------------------------------
# Observations and bounded waits

# The row of `kubectl get rollout` as "STATUS|CANARY_STEP|CANARY_STATE|MESSAGE", cut at the
# header's column starts (cells may be empty), then the row itself on a second line.
rollout_row() {
  kubectl get rollout "$NAME" -n "$1" 2>&1 | awk '
    NR == 1 && !/^NAME +STATUS/ { print "|||"; print; exit }
    NR == 1 {
      n = split("NAME STATUS CANARY_STEP CANARY_STATE MESSAGE AGE", col, " ")
      from = 1
      for (i = 1; i <= n; i++) { at = index(substr($0, from), col[i]); pos[i] = at ? from + at - 1 : 0; from = pos[i] + length(col[i]) }
      next
    }
    NR == 2 && pos[6] {
      out = ""
      for (i = 2; i <= 5; i++) { cell = substr($0, pos[i], pos[i + 1] - pos[i]); gsub(/^ +| +$/, "", cell); out = out (i > 2 ? "|" : "") cell }
      print out; print; next
    }
    { print "|||"; print }' || true
}

# wait_rollout NS STATUS STEP STATE MESSAGE: waits (DEMO_WAIT_SECONDS) until the Rollout's row
# shows them (an empty value matches anything), printing the row whenever it changes.
wait_rollout() {
  local ns="$1" status="$2" step="$3" state="$4" message="$5"
  local want="STATUS=$status${step:+ CANARY_STEP=$step}${state:+ CANARY_STATE=$state}${message:+ MESSAGE=\"$message\"}"
  note "waiting (at most ${WAIT}s) for $want"
  local start=$SECONDS last="" out fields row s i st m
  while :; do
    out="$(rollout_row "$ns")"
    fields="$(head -n 1 <<<"$out")"
    row="$(sed -n 2p <<<"$out")"
    if [[ "$fields" != "$last" ]]; then
      printf '  [%3ss] %s\n' "$((SECONDS - start))" "$row"
      last="$fields"
    fi
    IFS='|' read -r s i st m <<<"$fields" || true
    if [[ "$s" == "$status" && ( -z "$step" || "$i" == "$step" ) && ( -z "$state" || "$st" == "$state" ) \
          && ( -z "$message" || "$m" == "$message" ) ]]; then
      return 0
    fi
    if (( SECONDS - start >= WAIT )); then
      fail "timed out after ${WAIT}s waiting for $want; last seen: $row"
    fi
    sleep 1
  done
}

# "version1=4 version2=1": pods labelled app=echoserver per NODE_NAME value, plus how many are
# not Ready or being deleted.
pod_summary() {
  local lines
  lines="$(kubectl get pods -n "$1" -l app=echoserver -o \
    'jsonpath={range .items[*]}{.spec.containers[0].env[?(@.name=="NODE_NAME")].value} {.status.conditions[?(@.type=="Ready")].status} {.metadata.deletionTimestamp}{"\n"}{end}' 2>&1)" \
    || { echo "error: $lines"; return 0; }
  awk '
    NF == 0 { next }
    { count[$1]++ }
    $2 != "True" { unready++ }
    NF > 2 { deleting++ }
    END {
      n = 0; for (v in count) names[++n] = v
      for (i = 1; i <= n; i++) for (j = i + 1; j <= n; j++) if (names[j] < names[i]) { t = names[i]; names[i] = names[j]; names[j] = t }
      out = ""; for (i = 1; i <= n; i++) out = out (i > 1 ? " " : "") names[i] "=" count[names[i]]
      if (unready) out = out " (not Ready: " unready ")"
      if (deleting) out = out " (being deleted: " deleting ")"
      print (out == "" ? "no pods" : out)
    }' <<<"$lines"
}

# wait_pods NS "version1=4 version2=1": waits until exactly these pods exist, all Ready and
# none being deleted.
wait_pods() {
  local ns="$1" want="$2" start=$SECONDS last="" seen
  note "waiting (at most ${WAIT}s) for the pods: $want, all Ready"
  while :; do
    seen="$(pod_summary "$ns")"
    if [[ "$seen" != "$last" ]]; then
      printf '  [%3ss] pods: %s\n' "$((SECONDS - start))" "$seen"
      last="$seen"
    fi
    [[ "$seen" == "$want" ]] && return 0
    if (( SECONDS - start >= WAIT )); then
      fail "timed out after ${WAIT}s waiting for the pods $want; last seen: $seen"
    fi
    sleep 1
  done
}

# wait_gone NS KIND/NAME...: waits until none of these objects exists.
wait_gone() {
  local ns="$1"; shift
  local start=$SECONDS left
  note "waiting (at most ${WAIT}s) until these are deleted: $*"
  while :; do
    left="$(kubectl get "$@" -n "$ns" -o name --ignore-not-found 2>&1)" || true
    [[ -z "$left" ]] && return 0
    if (( SECONDS - start >= WAIT )); then
      fail "timed out after ${WAIT}s waiting until $* are deleted; still there: $(echo "$left" | tr '\n' ' ')"
    fi
    sleep 1
  done
}

# wait_canary_ingress NS KEY=VALUE...: waits until the canary Ingress carries these annotations
# (keys relative to nginx.ingress.kubernetes.io/).
wait_canary_ingress() {
  local ns="$1"; shift
  local start=$SECONDS seen want pair key path
  note "waiting (at most ${WAIT}s) for Ingress echoserver-canary with $*"
  want="$*"
  while :; do
    seen=""
    for pair in "$@"; do
      key="${pair%%=*}"
      path="{.metadata.annotations.nginx\.ingress\.kubernetes\.io/$key}"
      seen+="${seen:+ }$key=$(kubectl get ingress echoserver-canary -n "$ns" -o "jsonpath=$path" 2>/dev/null || echo '<no Ingress>')"
    done
    [[ "$seen" == "$want" ]] && return 0
    if (( SECONDS - start >= WAIT )); then
      fail "timed out after ${WAIT}s waiting for Ingress echoserver-canary with $want; last seen: $seen"
    fi
    sleep 1
  done
}

# Waits until the webhook's cache holds the Rollout, so that the next workload update is frozen:
# a second Rollout for the same Deployment is refused ("already governs") only once it does.
wait_webhook_cache() {
  local ns="$1" file="$2" start=$SECONDS out
  while :; do
    out="$(sed "s/^  name: $NAME\$/  name: cache-probe-$NAME/" "$file" \
      | kubectl apply --dry-run=server -n "$ns" -f - 2>&1)" || true
    [[ "$out" == *"already governs"* ]] && return 0
    if (( SECONDS - start >= WAIT )); then
      fail "timed out after ${WAIT}s waiting until the webhook has cached Rollout $NAME; last answer: $out"
    fi
    sleep 0.5
  done
}

# Deletes NS if it exists (bounded wait until it is gone), then creates it.
fresh_namespace() {
  local ns="$1" start
  CURRENT_NS="$ns"
  if kubectl get namespace "$ns" >/dev/null 2>&1; then
    run kubectl delete namespace "$ns" --wait=false
    note "waiting (at most ${WAIT}s) until namespace $ns is gone"
    start=$SECONDS
    while kubectl get namespace "$ns" >/dev/null 2>&1; do
      if (( SECONDS - start >= WAIT )); then
        fail "namespace $ns still exists after ${WAIT}s: $(kubectl get namespace "$ns" --no-headers 2>&1)"
      fi
      sleep 1
    done
  fi
  run kubectl create namespace "$ns"
}

# ---------------------------------------------------------------------------------------------
# Shared parts of the stages

COUNT_PODS='-l app=echoserver -o jsonpath='"'"'{range .items[*]}{.spec.containers[0].env[?(@.name=="NODE_NAME")].value}{"\n"}{end}'"'"' | sort | uniq -c'

count_pods() { run_sh "kubectl get pods -n $1 $COUNT_PODS"; }

# Deploys echoserver version1 (and the Ingress when given), then the Rollout, and waits until
# the Rollout is Healthy (steps 1 and 2 of the walkthrough).
deploy() {
  local ns="$1" rollout="$2" ingress="${3:-}"
  if [[ -n "$ingress" ]]; then
    run kubectl apply -n "$ns" -f echoserver.yaml -f "$ingress"
  else
    run kubectl apply -n "$ns" -f echoserver.yaml
  fi
  wait_pods "$ns" "version1=5"
  run kubectl apply -n "$ns" -f "$rollout"
  wait_rollout "$ns" Healthy "" "" ""
  run kubectl get rollout -n "$ns"
  wait_webhook_cache "$ns" "$rollout"
}

# Triggers the release (step 3 of the walkthrough) and waits for step 1 to pause for approval.
release_to_step_1() {
  local ns="$1"
  note "trigger a release: image demo:1.10.2 -> demo:1.10.3 and NODE_NAME version1 -> version2"
  show diff -I '^#' echoserver.yaml echoserver-v2.yaml
  diff -I '^#' echoserver.yaml echoserver-v2.yaml || true
  run kubectl apply -n "$ns" -f echoserver-v2.yaml
  wait_rollout "$ns" Progressing 1 StepPaused "$MANUAL_1"
  run kubectl get rollouts "$NAME" -n "$ns"
}

# Approves step 1 with the plugin and watches the release to its end (step 5 of the walkthrough).
approve_and_watch() {
  local ns="$1"
  run kubectl-kruise rollout approve "rollouts/$NAME" -n "$ns"
  note "steps 2 and 3 follow by themselves, each after its ${PAUSE}s pause (piped: one line per change)"
  local watch="kubectl-kruise rollout status rollouts/$NAME -n $ns -w --timeout $WATCH | cat"
  printf '$ %s\n' "$watch"
  if ! eval "$watch"; then
    # The walkthrough's own watch is `kubectl get -w`: say so loudly, go on watching.
    note "WARNING: '$watch' failed (its error is above); watching with kubectl get instead"
  fi
  wait_rollout "$ns" Healthy 3 Completed ""
  run kubectl get rollouts "$NAME" -n "$ns"
}

# After a release with traffic: the canary Deployment, Service and Ingress are gone and the
# stable Service selects app=echoserver again.
show_traffic_cleaned() {
  local ns="$1" version="$2"
  wait_gone "$ns" ingress/echoserver-canary service/echoserver-canary
  wait_pods "$ns" "$version=5"
  run kubectl get deployments,services,ingresses -n "$ns"
  run kubectl get service echoserver -n "$ns" -o 'custom-columns=NAME:.metadata.name,SELECTOR:.spec.selector'
}

show_services() {
  run kubectl get service echoserver echoserver-canary -n "$1" \
    -o 'custom-columns=NAME:.metadata.name,SELECTOR:.spec.selector'
}

stage_done() { note "stage done in $(( SECONDS - $1 ))s"; }

MANUAL_1='Rollout is in step(1/3), and you need manually confirm to enter the next step'

# ---------------------------------------------------------------------------------------------
# Start

for f in echoserver.yaml echoserver-v2.yaml echoserver-ingress-nginx.yaml cloneset.yaml cloneset-v2.yaml rollout-canary.yaml rollout-ab.yaml rollout-partition.yaml rollout-cloneset.yaml rollout-blue-green.yaml rollout-analysis.yaml; do
  [[ -f "$EXAMPLES/$f" ]] || { echo "ERROR: example file $EXAMPLES/$f not found: is this a complete checkout?" >&2; exit 1; }
done

heading "Starting the local control plane, the webhook and the controller (make up)"
note "the first run builds Kubernetes, Prometheus and Helm from Go modules (about 20 minutes); later runs take seconds"
if ! EXPORTS="$(make -C "$ROOT" --no-print-directory -s up)"; then
  echo "ERROR: make up failed (its messages are above)" >&2
  exit 1
fi
EXPORTS="$(grep '^export ' <<<"$EXPORTS" || true)"
if [[ "$(grep -c '^export ' <<<"$EXPORTS")" != 2 ]]; then
  echo "ERROR: make up did not print the two export lines; it printed:" >&2
  echo "$EXPORTS" >&2
  exit 1
fi
eval "$EXPORTS"
echo "$EXPORTS"
for tool in kubectl kubectl-kruise; do
  command -v "$tool" >/dev/null || { echo "ERROR: $tool not found on the PATH that make up printed ($EXPORTS)" >&2; exit 1; }
done
run kubectl get nodes

# The examples are applied from copies, with the Rollouts' 60 s pauses shortened.
FILES="$(dirname "$KUBECONFIG")/demo"
mkdir -p "$FILES"
cp "$EXAMPLES/echoserver.yaml" "$EXAMPLES/echoserver-v2.yaml" "$EXAMPLES/echoserver-ingress-nginx.yaml" \
  "$EXAMPLES/cloneset.yaml" "$EXAMPLES/cloneset-v2.yaml" "$FILES/"
for f in rollout-canary.yaml rollout-ab.yaml rollout-partition.yaml rollout-cloneset.yaml rollout-blue-green.yaml rollout-analysis.yaml; do
  sed "s/duration: 60/duration: $PAUSE/" "$EXAMPLES/$f" > "$FILES/$f"
done
heading "The example files (examples/echoserver/)"
note "copied from $EXAMPLES to $FILES; the commands below run there"
cd "$FILES"
note "the Rollouts' 60 s pauses are shortened to ${PAUSE} s in the copies: sed 's/duration: 60/duration: $PAUSE/'"
note "echoserver-v2.yaml is echoserver.yaml with demo:1.10.3 and NODE_NAME=version2"
note "there is no ingress controller and no real container here: KWOK makes pods Running and Ready,"
note "so instead of curl answers the demo shows the Ingress and Service objects an ingress controller reads"

# ---------------------------------------------------------------------------------------------
heading '1/7 Canary release with traffic (examples/echoserver/rollout-canary.yaml)'
T=$SECONDS
NS=demo-canary
fresh_namespace "$NS"
deploy "$NS" rollout-canary.yaml echoserver-ingress-nginx.yaml
release_to_step_1 "$NS"
wait_canary_ingress "$NS" canary=true canary-weight=20
wait_pods "$NS" "version1=5 version2=1"
note "step 1: a canary Deployment runs 1 pod of version2 next to the 5 stable pods of version1"
run kubectl get deployments -n "$NS"
count_pods "$NS"
note "the canary Ingress sends 20% of the requests to the canary Service (about 2 of 10 curls answer version2)"
run kubectl get ingress echoserver-canary -n "$NS" -o \
  'jsonpath=canary: {.metadata.annotations.nginx\.ingress\.kubernetes\.io/canary}{"\n"}canary-weight: {.metadata.annotations.nginx\.ingress\.kubernetes\.io/canary-weight}{"\n"}backend: {.spec.rules[0].http.paths[0].backend.service.name}{"\n"}'
note "the stable Service selects the stable pods only, the canary Service the new ones"
show_services "$NS"
approve_and_watch "$NS"
show_traffic_cleaned "$NS" version2
stage_done "$T"

# ---------------------------------------------------------------------------------------------
heading '2/7 A/B testing (examples/echoserver/rollout-ab.yaml)'
T=$SECONDS
NS=demo-ab
fresh_namespace "$NS"
deploy "$NS" rollout-ab.yaml echoserver-ingress-nginx.yaml
release_to_step_1 "$NS"
wait_canary_ingress "$NS" canary=true canary-by-header=User-Agent canary-by-header-value=Android
wait_pods "$NS" "version1=5 version2=1"
count_pods "$NS"
note "requests with the header User-Agent: Android go to version2, all others to version1"
run kubectl get ingress echoserver-canary -n "$NS" -o \
  'jsonpath=canary: {.metadata.annotations.nginx\.ingress\.kubernetes\.io/canary}{"\n"}canary-by-header: {.metadata.annotations.nginx\.ingress\.kubernetes\.io/canary-by-header}{"\n"}canary-by-header-value: {.metadata.annotations.nginx\.ingress\.kubernetes\.io/canary-by-header-value}{"\n"}backend: {.spec.rules[0].http.paths[0].backend.service.name}{"\n"}'
show_services "$NS"
approve_and_watch "$NS"
show_traffic_cleaned "$NS" version2
stage_done "$T"

# ---------------------------------------------------------------------------------------------
heading '3/7 Phased release without Ingress (examples/echoserver/rollout-partition.yaml, rolling-style: partition)'
T=$SECONDS
NS=demo-partition
fresh_namespace "$NS"
deploy "$NS" rollout-partition.yaml
release_to_step_1 "$NS"
wait_pods "$NS" "version1=4 version2=1"
note "step 1: the Deployment itself replaced 1 of its 5 pods; no extra Deployment, no Ingress"
run kubectl get deployments -n "$NS"
count_pods "$NS"
approve_and_watch "$NS"
wait_pods "$NS" "version2=5"
count_pods "$NS"
stage_done "$T"

# ---------------------------------------------------------------------------------------------
heading '4/7 Rollback in the middle of a release (re-apply examples/echoserver/echoserver.yaml)'
T=$SECONDS
NS=demo-rollback
fresh_namespace "$NS"
deploy "$NS" rollout-canary.yaml echoserver-ingress-nginx.yaml
release_to_step_1 "$NS"
wait_pods "$NS" "version1=5 version2=1"
count_pods "$NS"
note "roll back: re-apply the previous version (demo:1.10.2, NODE_NAME=version1); the Rollout is not changed"
run kubectl apply -n "$NS" -f echoserver.yaml
wait_rollout "$NS" Healthy "" "" "Rollout progressing has been cancelled"
run kubectl get rollouts "$NAME" -n "$NS"
show_traffic_cleaned "$NS" version1
count_pods "$NS"
stage_done "$T"

# ---------------------------------------------------------------------------------------------
heading '5/7 Phased release of an OpenKruise CloneSet (examples/echoserver/cloneset.yaml, rollout-cloneset.yaml)'
T=$SECONDS
NS=demo-cloneset
fresh_namespace "$NS"
run kubectl apply -n "$NS" -f cloneset.yaml
wait_pods "$NS" "version1=5"
run kubectl apply -n "$NS" -f rollout-cloneset.yaml
wait_rollout "$NS" Healthy "" "" ""
run kubectl get rollout -n "$NS"
wait_webhook_cache "$NS" rollout-cloneset.yaml
note "trigger a release: the CloneSet's image demo:1.10.2 -> demo:1.10.3 and NODE_NAME version1 -> version2"
run kubectl apply -n "$NS" -f cloneset-v2.yaml
wait_rollout "$NS" Progressing 1 StepPaused "$MANUAL_1"
wait_pods "$NS" "version1=4 version2=1"
note "step 1: the CloneSet keeps 80% of its pods on the old version (updateStrategy.partition)"
run kubectl get clonesets.apps.kruise.io echoserver -n "$NS" -o \
  'custom-columns=NAME:.metadata.name,REPLICAS:.spec.replicas,UPDATED:.status.updatedReplicas,PARTITION:.spec.updateStrategy.partition'
count_pods "$NS"
approve_and_watch "$NS"
wait_pods "$NS" "version2=5"
count_pods "$NS"
stage_done "$T"

# ---------------------------------------------------------------------------------------------
heading '6/7 Blue-green release with traffic (examples/echoserver/rollout-blue-green.yaml)'
T=$SECONDS
NS=demo-blue-green
fresh_namespace "$NS"
deploy "$NS" rollout-blue-green.yaml echoserver-ingress-nginx.yaml
release_to_step_1 "$NS"
wait_pods "$NS" "version1=5 version2=5"
note "step 1: 5 pods of version2 run beside the 5 of version1; all traffic still goes to version1"
run kubectl get deployment echoserver -n "$NS" -o \
  'custom-columns=NAME:.metadata.name,REPLICAS:.spec.replicas,PODS:.status.replicas,UPDATED:.status.updatedReplicas,MAX_SURGE:.spec.strategy.rollingUpdate.maxSurge'
count_pods "$NS"
show_services "$NS"
run kubectl-kruise rollout approve "rollouts/$NAME" -n "$NS"
wait_rollout "$NS" Progressing 2 StepPaused 'Rollout is in step(2/3), and you need manually confirm to enter the next step'
wait_canary_ingress "$NS" canary=true canary-weight=50
note "step 2: half of the requests go to version2; the old pods are all still there"
run kubectl-kruise rollout approve "rollouts/$NAME" -n "$NS"
wait_rollout "$NS" Progressing 3 StepPaused 'Rollout is in step(3/3), and you need manually confirm to enter the next step'
wait_canary_ingress "$NS" canary=true canary-weight=100
note "step 3: every request goes to version2; version1 still runs, so a rollback would be instant"
count_pods "$NS"
run kubectl-kruise rollout approve "rollouts/$NAME" -n "$NS"
wait_rollout "$NS" Healthy 3 Completed ""
run kubectl get rollouts "$NAME" -n "$NS"
show_traffic_cleaned "$NS" version2
count_pods "$NS"
stage_done "$T"

# ---------------------------------------------------------------------------------------------
heading '7/7 A canary rolled back by metric analysis (examples/echoserver/rollout-analysis.yaml)'
T=$SECONDS
NS=demo-analysis
fresh_namespace "$NS"
PROMETHEUS="$(cat "$(dirname "$KUBECONFIG")/prometheus-url" 2>/dev/null)" \
  || fail "the local cluster runs no Prometheus ($(dirname "$KUBECONFIG")/prometheus-url is missing)"
note "Prometheus runs at $PROMETHEUS; the controller asks it (--prometheus-address)"
note "the application's request metrics are played by app-metrics (tests/e2e/src/bin/app-metrics.rs): requests and errors per pod revision, scraped every second"
(cd "$ROOT" && cargo build --quiet --locked -p rollouts-e2e --bin app-metrics) || fail "building app-metrics failed"
METRICS_OUT="$(dirname "$KUBECONFIG")/logs/app-metrics.out"
"$ROOT/target/debug/app-metrics" --cluster-dir "$(dirname "$KUBECONFIG")" --name demo-analysis \
  --max-seconds 900 > "$METRICS_OUT" 2>&1 &
METRICS_PID=$!
trap 'kill "$METRICS_PID" 2>/dev/null || true' EXIT
for _ in $(seq 1 100); do [[ -s "$METRICS_OUT" ]] && break; sleep 0.1; done
METRICS_URL="$(head -n 1 "$METRICS_OUT")"
[[ "$METRICS_URL" == http://* ]] || fail "app-metrics did not start: $(cat "$METRICS_OUT")"
# play_revision REVISION ERROR_RATIO: the revision's pods answer 20 requests per second, this share failing.
play_revision() {
  run curl -sf -X PUT "$METRICS_URL/revisions/$NS/echoserver/$1?rps=20&errorRatio=$2"
  echo
}
deploy "$NS" rollout-analysis.yaml echoserver-ingress-nginx.yaml
run_sh "sed -n '/analysis:/,/max:/p' rollout-analysis.yaml"
note "trigger a release of version2; its pods answer without errors at first"
run kubectl apply -n "$NS" -f echoserver-v2.yaml
note "waiting (at most ${WAIT}s) for the new pods' revision"
start=$SECONDS
while :; do
  NEW="$(kubectl get rollout "$NAME" -n "$NS" -o 'jsonpath={.status.canaryStatus.podTemplateHash}')"
  OLD="$(kubectl get rollout "$NAME" -n "$NS" -o 'jsonpath={.status.canaryStatus.stableRevision}')"
  [[ -n "$NEW" && "$NEW" != "$OLD" ]] && break
  (( SECONDS - start >= WAIT )) && fail "no new revision in the Rollout's status after ${WAIT}s"
  sleep 1
done
play_revision "$OLD" 0
play_revision "$NEW" 0
note "step 1 has no pause: two passing checks of the error rate and it goes on to step 2 by itself"
wait_rollout "$NS" Progressing 2 "" ""
run kubectl get events -n "$NS" --field-selector reason=AnalysisPassed -o 'custom-columns=REASON:.reason,MESSAGE:.message'
note "now version2 starts failing: 30% of its requests answer 500"
play_revision "$NEW" 0.3
note "waiting (at most ${WAIT}s) for the analysis to fail and roll back"
start=$SECONDS
until [[ "$(kubectl get rollout "$NAME" -n "$NS" -o 'jsonpath={.status.canaryStatus.analysis.phase}')" == RolledBack ]]; do
  (( SECONDS - start >= WAIT )) && fail "the analysis did not roll back within ${WAIT}s"
  sleep 1
done
wait_canary_ingress "$NS" canary=true canary-weight=0
wait_pods "$NS" "version1=5"
note "all traffic and every pod are back on version1; the Deployment stays frozen on version2 until a version is applied"
run kubectl get rollouts "$NAME" -n "$NS"
run kubectl get events -n "$NS" --field-selector reason=AnalysisFailed -o 'custom-columns=REASON:.reason,MESSAGE:.message'
run kubectl-kruise rollout status "rollouts/$NAME" -n "$NS"
note "end the release: apply version1 again"
run kubectl apply -n "$NS" -f echoserver.yaml
wait_rollout "$NS" Healthy "" "" ""
show_traffic_cleaned "$NS" version1
kill "$METRICS_PID" 2>/dev/null || true
stage_done "$T"

# ---------------------------------------------------------------------------------------------
heading "Done: the walkthrough played end to end in $(( SECONDS - T0 ))s"
note "the cluster keeps running, with the namespaces demo-canary, demo-ab, demo-partition, demo-rollback, demo-cloneset, demo-blue-green and demo-analysis"
note "to reach it:"
echo "$EXPORTS"
note "to stop it:"
echo "make down"
