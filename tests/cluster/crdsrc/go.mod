// Pins sigs.k8s.io/gateway-api, whose standard-channel CRD YAML files build.sh copies from the
// module cache into bin/crds/ (nothing here is compiled; build.sh runs `go mod download` here).
// The OpenKruise CRDs come from the kruise module pinned in ../kruise/go.mod.
module k8scluster/crdsrc

go 1.26.0

require sigs.k8s.io/gateway-api v1.6.3
