#!/usr/bin/env bash
# Usage: tests/local/prereqs.sh   (make runs it first for demo, up, test and the build targets)
# Checks, before anything is built, for the tools the project needs and names each one that is
# missing or too old, with how to install it:
#   cargo  Rust, at least the workspace's rust-version (Cargo.toml)
#   cc     the C linker cargo links with (build-essential on Debian/Ubuntu)
#   go     Go, at least the version tests/cluster/go.mod declares (the local control plane is
#          built from Go modules with GOTOOLCHAIN=local, so an older Go cannot fetch a newer one)
#   make, curl, git
# Prints one line when all are there; exits 1 after listing every problem otherwise.
# Env: CARGO (default cargo), GO (default go).
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
CARGO="${CARGO:-cargo}"
GO="${GO:-go}"
problems=()
found=()

problem() { problems+=("$1"); }

# "1.26.8" >= "1.26"? Compares major.minor(.patch) numerically.
version_at_least() {
  local have="$1" want="$2" i h w
  IFS=. read -r -a H <<<"$have"
  IFS=. read -r -a W <<<"$want"
  for i in 0 1 2; do
    h="${H[i]:-0}"; w="${W[i]:-0}"
    (( 10#$h > 10#$w )) && return 0
    (( 10#$h < 10#$w )) && return 1
  done
  return 0
}

# The first "N.N" or "N.N.N" in a line of text.
first_version() { grep -oE '[0-9]+\.[0-9]+(\.[0-9]+)?' <<<"$1" | head -n 1 || true; }

# cargo, at the workspace's rust-version.
want_rust="$(sed -n 's/^rust-version *= *"\([0-9.]*\)".*/\1/p' "$ROOT/Cargo.toml" | head -n 1)"
if ! command -v "$CARGO" >/dev/null 2>&1; then
  problem "cargo: not found. Install Rust with rustup (https://rustup.rs), then open a new shell so ~/.cargo/bin is on the PATH"
else
  have="$(first_version "$("$CARGO" --version 2>/dev/null || true)")"
  if [[ -z "$have" ]]; then
    problem "cargo: '$CARGO --version' printed no version. Reinstall Rust with rustup (https://rustup.rs)"
  elif [[ -n "$want_rust" ]] && ! version_at_least "$have" "$want_rust"; then
    problem "cargo: version $have is older than $want_rust (rust-version in Cargo.toml). Update with 'rustup update stable'"
  else
    found+=("cargo $have")
  fi
fi

if command -v cc >/dev/null 2>&1; then
  found+=("cc")
else
  problem "cc: no C linker found (cargo links with cc). Install one, e.g. 'sudo apt-get install build-essential'"
fi

# Go, at the version tests/cluster/go.mod declares.
want_go="$(sed -n 's/^go \([0-9.]*\).*/\1/p' "$ROOT/tests/cluster/go.mod" | head -n 1)"
want_go="${want_go:-1.26}"
want_go_minor="$(cut -d. -f1-2 <<<"$want_go")"
if ! command -v "$GO" >/dev/null 2>&1; then
  problem "go: not found. Install Go $want_go_minor or later from https://go.dev/dl (distribution packages are usually older) and put its bin/ on the PATH"
else
  line="$(GOTOOLCHAIN=local "$GO" version 2>/dev/null || true)"
  have="$(grep -oE 'go[0-9]+\.[0-9]+(\.[0-9]+)?' <<<"$line" | head -n 1 | sed 's/^go//' || true)"
  if [[ -z "$have" ]]; then
    problem "go: could not read a version from '$GO version' (it printed: ${line:-nothing}). Install Go $want_go_minor or later from https://go.dev/dl"
  elif ! version_at_least "$have" "$want_go"; then
    problem "go: version $have is older than $want_go (tests/cluster/go.mod). Install Go $want_go_minor or later from https://go.dev/dl"
  else
    found+=("go $have")
  fi
fi

for tool in make curl git; do
  if command -v "$tool" >/dev/null 2>&1; then
    found+=("$tool")
  else
    problem "$tool: not found. Install it, e.g. 'sudo apt-get install $tool' (Debian/Ubuntu) or 'brew install $tool' (macOS)"
  fi
done

if (( ${#problems[@]} > 0 )); then
  for p in "${problems[@]}"; do
    echo "prereqs: MISSING $p" >&2
  done
  echo "prereqs: ${#problems[@]} prerequisite(s) missing or too old (see README.md, Prerequisites)" >&2
  exit 1
fi
list="$(printf '%s, ' "${found[@]}")"
echo "prereqs: ok (${list%, })"
