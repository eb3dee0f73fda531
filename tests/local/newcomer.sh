#!/usr/bin/env bash
# Usage: tests/local/newcomer.sh   (or `make newcomer`; `make test` runs it after the e2e suite)
# Proves that a plain `git clone` stands alone: clones the committed HEAD of this checkout into a
# temporary folder that has nothing beside it (no shared/), with ROLLOUTS_CONFORMANCE_DIR unset,
# and there runs
#   1. the prerequisite check (tests/local/prereqs.sh),
#   2. `make -n demo` and `make -n test` (the targets and their scripts resolve),
#   3. `make unit-test`, which must pass and must say that no conformance data was found (so no
#      test read anything outside the clone),
#   4. only with NEWCOMER_DEMO=1: `make demo` (builds the local control plane in the clone, about
#      12 minutes cold), then `make down` there.
# Uncommitted changes of this checkout are not in the clone. The temporary folder (and a cluster
# the demo started there) is removed on exit; the unit-test output stays in
# target/newcomer/unit-test.log. Every step is bounded by a timeout.
# The clone's target/ is a link to target/newcomer/ of this checkout, seeded once from
# target/debug/, so the clone reuses the compiled dependencies instead of building them cold.
# Env: NEWCOMER_DEMO=1, NEWCOMER_UNIT_TIMEOUT (seconds, default 2400),
#      NEWCOMER_DEMO_TIMEOUT (seconds, default 3600), TMPDIR (where the temporary folder goes),
#      NEWCOMER_WEBHOOK_PORT, NEWCOMER_WEBHOOK_ADMIN_PORT, NEWCOMER_CONTROLLER_ADMIN_PORT (the
#      demo's service ports; by default the first free of 29876, 28081, 28082 plus a multiple of
#      100, so the services of another checkout's `make up` may keep running).
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
UNIT_TIMEOUT="${NEWCOMER_UNIT_TIMEOUT:-2400}"
DEMO_TIMEOUT="${NEWCOMER_DEMO_TIMEOUT:-3600}"
T0=$SECONDS

log() { printf '[newcomer %s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }
die() { log "ERROR: $*"; exit 1; }

# The first port of $1, $1+100, $1+200, ... that nothing on 127.0.0.1 listens on.
free_port() {
  local port="$1" _
  for _ in $(seq 1 50); do
    if ! (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
      echo "$port"
      return 0
    fi
    port=$((port + 100))
  done
  die "no free port found from $1 upwards"
}

# Runs "$@" bounded by $1 seconds; a timeout is reported as such.
bounded() {
  local seconds="$1" rc=0; shift
  timeout --kill-after=30 "$seconds" "$@" || rc=$?
  if (( rc == 124 || rc == 137 )); then
    log "ERROR: timed out after ${seconds}s: $*"
  fi
  return "$rc"
}

# The temporary folder: outside this checkout's parent folder, so the clone cannot find a
# shared/ that sits beside this checkout. Its name is fixed per checkout, so a run that was
# killed before its cleanup is found and removed by the next one.
base="$(cd "${TMPDIR:-/tmp}" && pwd -P)"
parent="$(cd "$ROOT/.." && pwd -P)"
case "$base/" in
  "$parent/"*) die "TMPDIR ($base) is inside $parent, beside this checkout; point TMPDIR elsewhere (e.g. /tmp)" ;;
esac
WORK="$base/rollouts-newcomer-$(id -u)-$(printf '%s' "$ROOT" | cksum | cut -d' ' -f1)"
CLONE="$WORK/rollouts-rs"

exec 9>"$WORK.lock"
flock -w 10 9 || die "another newcomer run for $ROOT holds $WORK.lock"

# Stops a cluster the clone's demo started (nothing when there is none), then removes the folder.
remove_work() {
  if [[ -d "$CLONE/.cluster" && -x "$CLONE/tests/cluster/bin/k8scluster" ]]; then
    log "stopping the clone's local control plane"
    timeout 180 make -C "$CLONE" --no-print-directory down >/dev/null 2>&1 \
      || log "WARNING: make down in $CLONE failed; check for leftover processes of $CLONE"
  fi
  rm -rf "$WORK"
}
if [[ -e "$WORK" ]]; then
  log "removing $WORK, left over by an interrupted run"
  remove_work
fi
trap 'rc=$?; remove_work; exit $rc' EXIT
trap 'exit 130' INT TERM
mkdir -p "$WORK"
[[ ! -e "$WORK/shared" ]] || die "a shared/ folder sits beside $CLONE"

head="$(git -C "$ROOT" rev-parse --short HEAD)"
if [[ -n "$(git -C "$ROOT" status --porcelain --untracked-files=no)" ]]; then
  log "note: this checkout has uncommitted changes; the clone has the committed HEAD ($head) only"
fi
log "cloning $ROOT (HEAD $head) into $CLONE"
bounded 300 git clone --quiet --no-local "$ROOT" "$CLONE" || die "git clone failed"

# The clone's environment: nothing points outside it except its build folder (below).
unset ROLLOUTS_CONFORMANCE_DIR KUBECONFIG CARGO_TARGET_DIR CARGO_BUILD_BUILD_DIR

# The clone's target/ links to target/newcomer/ here. That folder is seeded once with the compiled
# libraries of target/debug/ (taken under cargo's lock, so no half-written file is copied): the
# clone then builds only its own crates. The copy, not a shared folder, keeps the two builds apart.
# Executables (test binaries and the services: most of target/debug/) and the incremental caches
# are left out, and the clone builds without incremental caches: it builds once, and on a small
# CI disk those caches would take gigabytes.
BUILD="$ROOT/target/newcomer"
export CARGO_INCREMENTAL=0
seed_libraries() {
  local from="$1" to="$2"
  mkdir -p "$to/deps"
  cp -a --reflink=auto "$from/build" "$from/.fingerprint" "$to/"
  # Libraries carry an extension (.rlib, .rmeta, .so, .d); executables in deps/ do not.
  find "$from/deps" -maxdepth 1 -type f -name '*.*' -exec cp -a --reflink=auto -t "$to/deps" {} +
}
if [[ ! -d "$BUILD/debug" && -d "$ROOT/target/debug/deps" ]]; then
  t=$SECONDS
  log "seeding $BUILD/debug with the libraries of $ROOT/target/debug (once; waits for a running cargo build)"
  mkdir -p "$BUILD"
  rm -rf "$BUILD/debug.partial"
  export -f seed_libraries
  bounded 900 flock "$ROOT/target/debug/.cargo-lock" \
    bash -c 'seed_libraries "$1" "$2"' _ "$ROOT/target/debug" "$BUILD/debug.partial" \
    || { rm -rf "$BUILD/debug.partial"; die "could not copy the libraries of $ROOT/target/debug"; }
  mv "$BUILD/debug.partial" "$BUILD/debug"
  log "seeded in $((SECONDS - t))s ($(du -sh "$BUILD/debug" | cut -f1))"
fi
mkdir -p "$BUILD"
ln -s "$BUILD" "$CLONE/target"
LOG="$BUILD/unit-test.log"   # kept after the run
cd "$CLONE"

step() { log "step $1"; }

step "1/4: prerequisites"
bounded 60 tests/local/prereqs.sh >&2 || die "the prerequisite check failed in the clone"

step "2/4: make -n demo, make -n test"
for target in demo test; do
  out="$(bounded 120 make -n "$target" 2>&1)" || die "make -n $target failed in the clone: $(tail -n 3 <<<"$out")"
done

step "3/4: make unit-test (log: $LOG; builds into $BUILD)"
t=$SECONDS
if ! bounded "$UNIT_TIMEOUT" make unit-test >"$LOG" 2>&1; then
  tail -n 60 "$LOG" >&2
  die "make unit-test failed in the clone (last lines above)"
fi
log "make unit-test passed in the clone in $((SECONDS - t))s"
grep -q '^conformance data: not found' "$LOG" \
  || die "make unit-test in the clone did not say that the conformance data was not found"
if grep -E '^conformance data: .*(ran over|found at)' "$LOG" >&2; then
  die "a test in the clone found conformance data outside the clone (lines above)"
fi
skipped="$(grep -c '^conformance data: .*: not found' "$LOG" || true)"
log "$skipped conformance tests said they skipped their upstream part; nothing outside the clone was read"

if [[ "${NEWCOMER_DEMO:-}" == 1 ]]; then
  step "4/4: make demo (NEWCOMER_DEMO=1)"
  WEBHOOK_PORT="${NEWCOMER_WEBHOOK_PORT:-$(free_port 29876)}"
  WEBHOOK_ADMIN_PORT="${NEWCOMER_WEBHOOK_ADMIN_PORT:-$(free_port 28081)}"
  CONTROLLER_ADMIN_PORT="${NEWCOMER_CONTROLLER_ADMIN_PORT:-$(free_port 28082)}"
  [[ -n "$WEBHOOK_PORT" && -n "$WEBHOOK_ADMIN_PORT" && -n "$CONTROLLER_ADMIN_PORT" ]] \
    || die "no free ports for the clone's services"
  export WEBHOOK_PORT WEBHOOK_ADMIN_PORT CONTROLLER_ADMIN_PORT
  log "the clone's services use ports $WEBHOOK_PORT, $WEBHOOK_ADMIN_PORT and $CONTROLLER_ADMIN_PORT"
  t=$SECONDS
  bounded "$DEMO_TIMEOUT" make demo >&2 || die "make demo failed in the clone"
  log "make demo passed in the clone in $((SECONDS - t))s"
else
  step "4/4: make demo skipped (set NEWCOMER_DEMO=1 to build and play it in the clone)"
fi
log "done in $((SECONDS - T0))s: the clone of $head stands alone"
