#!/usr/bin/env bash
# Builds the local control plane into tests/cluster/bin/ (git-ignored):
#   kube-apiserver kube-controller-manager kube-scheduler kubectl  (k8s.io/kubernetes, see go.mod)
#   kwok                                                           (sigs.k8s.io/kwok)
#   k8scluster                                                     (launcher, embeds etcd)
#   kruise-manager                                                 (github.com/openkruise/kruise, own module kruise/)
#   crds/*.yaml   Gateway API (standard channel) and OpenKruise CRDs, copied from the module cache
#   kruise/webhook.yaml  OpenKruise's webhook configuration template
#   prometheus                                                     (github.com/prometheus/prometheus/cmd/prometheus, own module prometheus/)
#   helm                                                           (helm.sh/helm/v3/cmd/helm, own module helm/)
# Idempotent: each group is rebuilt only when its inputs change (stamps in bin/.stamp-*).
# Uses the default Go caches (GOMODCACHE, GOCACHE), so later builds are warm.
# Progress goes to stderr. Env: K8SCLUSTER_FORCE=1 rebuilds everything;
# K8SCLUSTER_NO_KRUISE=1 skips kruise-manager (OpenKruise CRDs are still installed);
# K8SCLUSTER_NO_PROMETHEUS=1 skips building Prometheus (an existing bin/prometheus is kept; up.sh
# then passes --no-prometheus); K8SCLUSTER_NO_HELM=1 skips building Helm (an existing bin/helm is kept).
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
BIN="$HERE/bin"
cd "$HERE"

log() { printf '[build.sh %s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }

command -v go >/dev/null || { log "ERROR: go not found in PATH (need Go >= 1.26)"; exit 1; }

export CGO_ENABLED=0
export GOTOOLCHAIN=local

# Versions come from go.mod so there is one source of truth.
KUBE_VERSION="$(go list -m -f '{{.Version}}' k8s.io/kubernetes)"      # e.g. v1.36.3
KUBE_MINOR="$(echo "$KUBE_VERSION" | cut -d. -f2)"
KWOK_VERSION="$(go list -m -f '{{.Version}}' sigs.k8s.io/kwok)"
ETCD_VERSION="$(go list -m -f '{{.Version}}' go.etcd.io/etcd/server/v3)"
GOVERSION="$(go env GOVERSION)"

# Version ldflags: without them /version reports v0.0.0-master+$Format:%H$.
VPKG=k8s.io/component-base/version
CPKG=k8s.io/client-go/pkg/version
LDFLAGS="-s -w \
 -X $VPKG.gitVersion=$KUBE_VERSION -X $VPKG.gitMajor=1 -X $VPKG.gitMinor=$KUBE_MINOR -X $VPKG.gitTreeState=clean \
 -X $VPKG.buildDate=1970-01-01T00:00:00Z \
 -X $CPKG.gitVersion=$KUBE_VERSION -X $CPKG.gitMajor=1 -X $CPKG.gitMinor=$KUBE_MINOR -X $CPKG.gitTreeState=clean \
 -X $CPKG.buildDate=1970-01-01T00:00:00Z \
 -X sigs.k8s.io/kwok/pkg/consts.Version=${KWOK_VERSION#v} -X sigs.k8s.io/kwok/pkg/consts.KubeVersion=${KUBE_VERSION#v}"

KUBE_PKGS=(
  kube-apiserver=k8s.io/kubernetes/cmd/kube-apiserver
  kube-controller-manager=k8s.io/kubernetes/cmd/kube-controller-manager
  kube-scheduler=k8s.io/kubernetes/cmd/kube-scheduler
  kubectl=k8s.io/kubernetes/cmd/kubectl
  kwok=sigs.k8s.io/kwok/cmd/kwok
)

hash_of() { cat "$@" | { sha256sum 2>/dev/null || shasum -a 256; } | cut -c1-16; }
stamp_ok() { [[ "${K8SCLUSTER_FORCE:-}" != 1 && -f "$BIN/.stamp-$1" && "$(cat "$BIN/.stamp-$1")" == "$2" ]]; }

# Runs "go build" with a heartbeat line every minute and reports time and peak RSS.
timed_go_build() {
  local what="$1"; shift
  local t0=$SECONDS tf; tf="$(mktemp)"
  # Heartbeat. Its sleep is killed with it, so no orphan keeps the caller's stdout/stderr pipe open.
  ( sp=; trap '[[ -n "$sp" ]] && kill "$sp" 2>/dev/null; exit 0' TERM
    while :; do sleep 60 & sp=$!; wait "$sp"; log "  ... still building $what ($(( (SECONDS - t0) / 60 )) min elapsed)"; done
  ) >/dev/null &
  local ticker=$!
  local rc=0
  if [[ -x /usr/bin/time ]]; then
    /usr/bin/time -o "$tf" -f '%e %M' go build "$@" || rc=$?
  else
    go build "$@" || rc=$?
  fi
  kill "$ticker" 2>/dev/null; wait "$ticker" 2>/dev/null || true
  if [[ $rc -ne 0 ]]; then rm -f "$tf"; log "ERROR: building $what failed (exit $rc)"; exit $rc; fi
  if [[ -s "$tf" ]]; then
    read -r wall rss < <(tail -n1 "$tf")
    log "built $what in ${wall}s wall, peak RSS $(( rss / 1024 )) MiB"
  else
    log "built $what in $(( SECONDS - t0 ))s"
  fi
  rm -f "$tf"
}

mkdir -p "$BIN"
T0=$SECONDS

# --- 1. Kubernetes components and kwok -------------------------------------------------------
KUBE_STAMP="$(echo "$GOVERSION $LDFLAGS" | cat - go.mod go.sum | hash_of)"
missing=()
for e in "${KUBE_PKGS[@]}"; do [[ -x "$BIN/${e%%=*}" ]] || missing+=("$e"); done
if stamp_ok kube "$KUBE_STAMP" && [[ ${#missing[@]} -eq 0 ]]; then
  log "kube binaries up to date ($KUBE_VERSION, kwok $KWOK_VERSION)"
else
  todo=("${KUBE_PKGS[@]}")
  stamp_ok kube "$KUBE_STAMP" && todo=("${missing[@]}")
  names=(); pkgs=()
  for e in "${todo[@]}"; do names+=("${e%%=*}"); pkgs+=("${e#*=}"); done
  log "building ${names[*]} (Kubernetes $KUBE_VERSION, kwok $KWOK_VERSION, $GOVERSION)"
  log "  cold (empty GOCACHE): ~7 min on 2 cores plus module downloads; warm: ~1-2 min of linking"
  log "  downloading modules (go mod download)..."
  go mod download
  timed_go_build "${names[*]}" -trimpath -ldflags "$LDFLAGS" -o "$BIN/" "${pkgs[@]}"
  echo "$KUBE_STAMP" > "$BIN/.stamp-kube"
fi

# --- 2. Launcher (embeds etcd) -----------------------------------------------------------------
LAUNCHER_STAMP="$(echo "$GOVERSION" | cat - go.mod go.sum ./*.go | hash_of)"
if stamp_ok launcher "$LAUNCHER_STAMP" && [[ -x "$BIN/k8scluster" ]]; then
  log "k8scluster launcher up to date (etcd $ETCD_VERSION)"
else
  log "building k8scluster launcher (embedded etcd $ETCD_VERSION)"
  timed_go_build k8scluster -trimpath -ldflags "-s -w" -o "$BIN/k8scluster" .
  echo "$LAUNCHER_STAMP" > "$BIN/.stamp-launcher"
fi

# --- 3. OpenKruise controller manager (own module: kruise pins Kubernetes libraries v0.30.x) -------
KRUISE_VERSION="$(cd kruise && go list -m -f '{{.Version}}' github.com/openkruise/kruise)"
KRUISE_STAMP="$(echo "$GOVERSION" | cat - kruise/go.mod kruise/go.sum | hash_of)"
if [[ "${K8SCLUSTER_NO_KRUISE:-}" == 1 ]]; then
  log "skipping kruise-manager (K8SCLUSTER_NO_KRUISE=1); the launcher then installs OpenKruise CRDs only"
  rm -f "$BIN/kruise-manager" "$BIN/.stamp-kruise"
elif stamp_ok kruise "$KRUISE_STAMP" && [[ -x "$BIN/kruise-manager" ]]; then
  log "kruise-manager up to date (OpenKruise $KRUISE_VERSION)"
else
  log "building kruise-manager (OpenKruise $KRUISE_VERSION, Kubernetes libraries from kruise/go.mod); cold ~3-5 min"
  (cd kruise && go mod download && timed_go_build kruise-manager -trimpath -ldflags "-s -w" -o "$BIN/kruise-manager" github.com/openkruise/kruise)
  echo "$KRUISE_STAMP" > "$BIN/.stamp-kruise"
fi

# --- 4. CRDs and kruise's webhook template, from the module cache (pinned, not committed) -------
CRD_STAMP="$(cat crdsrc/go.mod crdsrc/go.sum kruise/go.mod kruise/go.sum build.sh | hash_of)"
if stamp_ok crds "$CRD_STAMP" && [[ -d "$BIN/crds" && -f "$BIN/kruise/webhook.yaml" ]]; then
  log "CRDs up to date"
else
  log "copying CRDs from the module cache"
  (cd crdsrc && go mod download sigs.k8s.io/gateway-api)
  (cd kruise && go mod download github.com/openkruise/kruise)
  GW_DIR="$(cd crdsrc && go list -m -f '{{.Dir}}' sigs.k8s.io/gateway-api)"
  GW_VERSION="$(cd crdsrc && go list -m -f '{{.Version}}' sigs.k8s.io/gateway-api)"
  KRUISE_DIR="$(cd kruise && go list -m -f '{{.Dir}}' github.com/openkruise/kruise)"
  rm -rf "$BIN/crds" "$BIN/kruise" && mkdir -p "$BIN/crds" "$BIN/kruise"
  # Gateway API standard channel (the ValidatingAdmissionPolicy file is not a CRD).
  for f in "$GW_DIR"/config/crd/standard/gateway.networking.k8s.io_*.yaml; do
    [[ "$f" == *_vap_* ]] && continue
    install -m 0644 "$f" "$BIN/crds/"
  done
  log "  sigs.k8s.io/gateway-api $GW_VERSION: $(ls "$BIN"/crds/gateway.* | wc -l) CRDs"
  # Every OpenKruise CRD (CloneSet, Advanced StatefulSet, Advanced DaemonSet, ...): kruise-manager
  # starts a controller only for kinds whose CRD exists.
  install -m 0644 "$KRUISE_DIR"/config/crd/bases/*.yaml "$BIN/crds/"
  log "  github.com/openkruise/kruise $KRUISE_VERSION: $(ls "$BIN"/crds/*kruise.io_* | wc -l) CRDs"
  # kruise's webhook configurations (config/webhook + its selector patches); the launcher renames them
  # as kruise's kustomize does and kruise-manager rewrites them to https://127.0.0.1:<port> URLs.
  "$BIN/kubectl" kustomize "$KRUISE_DIR/config/webhook" 2>/dev/null > "$BIN/kruise/webhook.yaml"
  echo "$CRD_STAMP" > "$BIN/.stamp-crds"
fi

# --- 5. Prometheus server (own module: Prometheus pins its own dependency set) -------------------
# Only the cmd/prometheus package. Without the builtinassets tag the web UI is absent (it would need
# npm); the HTTP API (/api/v1/query, /-/ready) is all the tests use.
PROM_VERSION="$(cd prometheus && go list -m -f '{{.Version}}' github.com/prometheus/prometheus)"   # e.g. v0.316.0
if [[ "${K8SCLUSTER_NO_PROMETHEUS:-}" == 1 ]]; then
  log "skipping prometheus (K8SCLUSTER_NO_PROMETHEUS=1)$([[ -x "$BIN/prometheus" ]] && echo "; keeping the existing bin/prometheus")"
  PROM_LINE="github.com/prometheus/prometheus $PROM_VERSION (not built by this run: K8SCLUSTER_NO_PROMETHEUS=1)"
else
  # Only this module (its VERSION file names the release); `go build` fetches the dependencies it needs.
  (cd prometheus && go mod download github.com/prometheus/prometheus)
  PROM_DIR="$(cd prometheus && go list -m -f '{{.Dir}}' github.com/prometheus/prometheus)"
  PROM_RELEASE="$(cat "$PROM_DIR/VERSION")"                                                      # e.g. 3.16.0
  PROM_LDFLAGS="-s -w -X github.com/prometheus/common/version.Version=$PROM_RELEASE"   # else `prometheus --version` prints no version
  PROM_STAMP="$(echo "$GOVERSION $PROM_LDFLAGS netgo" | cat - prometheus/go.mod prometheus/go.sum | hash_of)"
  PROM_LINE="github.com/prometheus/prometheus $PROM_VERSION (prometheus $PROM_RELEASE)"
  if stamp_ok prometheus "$PROM_STAMP" && [[ -x "$BIN/prometheus" ]]; then
    log "prometheus up to date (Prometheus $PROM_RELEASE, module $PROM_VERSION)"
  else
    log "building prometheus (Prometheus $PROM_RELEASE, github.com/prometheus/prometheus $PROM_VERSION, modules from prometheus/go.mod)"
    log "  cold (empty GOCACHE): ~6 min on 2 cores, peak RSS ~3.2 GiB; warm: ~10 s of linking"
    (cd prometheus && timed_go_build prometheus -trimpath -tags netgo -ldflags "$PROM_LDFLAGS" \
      -o "$BIN/prometheus" github.com/prometheus/prometheus/cmd/prometheus)
    echo "$PROM_STAMP" > "$BIN/.stamp-prometheus"
  fi
fi

# --- 6. Helm 3 client (own module: Helm pins its own k8s.io libraries) --------------------------
HELM_VERSION="$(cd helm && go list -m -f '{{.Version}}' helm.sh/helm/v3)"                      # e.g. v3.22.0
if [[ "${K8SCLUSTER_NO_HELM:-}" == 1 ]]; then
  log "skipping helm (K8SCLUSTER_NO_HELM=1)$([[ -x "$BIN/helm" ]] && echo "; keeping the existing bin/helm")"
  HELM_LINE="helm.sh/helm/v3 $HELM_VERSION (not built by this run: K8SCLUSTER_NO_HELM=1)"
else
  # Only this module; `go build` fetches the dependencies it needs.
  (cd helm && go mod download helm.sh/helm/v3)
  # As Helm's Makefile does for a release: without internal/version.version `helm version` prints
  # "v3.22" only; the k8sVersion pair is the default .Capabilities.KubeVersion of `helm template`
  # and `helm lint` (client-go v0.X.Y -> 1.X; without it v1.20.0).
  HELM_K8S_MINOR="$(cd helm && go list -m -f '{{.Version}}' k8s.io/client-go | cut -d. -f2)"   # e.g. 37
  HELM_LDFLAGS="-s -w -X helm.sh/helm/v3/internal/version.version=$HELM_VERSION \
 -X helm.sh/helm/v3/pkg/chartutil.k8sVersionMajor=1 -X helm.sh/helm/v3/pkg/chartutil.k8sVersionMinor=$HELM_K8S_MINOR \
 -X helm.sh/helm/v3/pkg/lint/rules.k8sVersionMajor=1 -X helm.sh/helm/v3/pkg/lint/rules.k8sVersionMinor=$HELM_K8S_MINOR"
  HELM_STAMP="$(echo "$GOVERSION $HELM_LDFLAGS" | cat - helm/go.mod helm/go.sum | hash_of)"
  HELM_LINE="helm.sh/helm/v3 $HELM_VERSION (helm $HELM_VERSION, default kube version 1.$HELM_K8S_MINOR)"
  if stamp_ok helm "$HELM_STAMP" && [[ -x "$BIN/helm" ]]; then
    log "helm up to date (Helm $HELM_VERSION)"
  else
    log "building helm (Helm $HELM_VERSION, modules from helm/go.mod)"
    log "  cold (Helm and its k8s.io v0.37 libraries not in GOCACHE): ~2.5 min on 2 cores, peak RSS ~0.9 GiB; warm: ~5 s of linking"
    (cd helm && timed_go_build helm -trimpath -ldflags "$HELM_LDFLAGS" -o "$BIN/helm" helm.sh/helm/v3/cmd/helm)
    echo "$HELM_STAMP" > "$BIN/.stamp-helm"
  fi
fi

cat > "$BIN/VERSIONS" <<EOF
kubernetes $KUBE_VERSION
kwok $KWOK_VERSION
etcd $ETCD_VERSION (embedded in k8scluster)
$(cd crdsrc && go list -m -f '{{.Path}} {{.Version}}' sigs.k8s.io/gateway-api)
github.com/openkruise/kruise $KRUISE_VERSION (kruise-manager and CRDs)
$PROM_LINE
$HELM_LINE
go $GOVERSION
EOF
log "done in $(( SECONDS - T0 ))s; binaries in $BIN"
