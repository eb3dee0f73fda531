package main

// KWOK stages: kwok's own "fast" node and pod stages (embedded from the kwok
// module), plus two stages of ours that play more of the kubelet's part:
//
//   - pods annotated k8scluster.test/not-ready=true become Running but never
//     Ready (a failing canary); removing the annotation makes them Ready;
//   - a Running pod whose spec images differ from its container statuses (an
//     in-place update, e.g. OpenKruise InPlaceIfPossible) gets the new images
//     reported, and Ready is recomputed from the readiness gates, as a kubelet does.

import (
	"fmt"
	"strings"

	nodefast "sigs.k8s.io/kwok/kustomize/stage/node/fast"
	nodelease "sigs.k8s.io/kwok/kustomize/stage/node/heartbeat-with-lease"
	podfast "sigs.k8s.io/kwok/kustomize/stage/pod/fast"
)

// NotReadyAnnotation keeps a pod Running but not Ready while it is "true".
const NotReadyAnnotation = "k8scluster.test/not-ready"

const notReadySelector = `    - key: '.metadata.annotations["` + NotReadyAnnotation + `"]'
      operator: 'NotIn'
      values:
      - 'true'
`

// podIPsTemplate is kwok's own way (pod-ready stage) to fill hostIP and podIPs.
const podIPsTemplate = `      {{ $hostIPs := NodeIPsWith .spec.nodeName }}
      {{ with $hostIPs }}
      hostIP: {{ index . 0 | Quote }}
      hostIPs:
      {{ range . }}
      - ip: {{ . | Quote }}
      {{ end }}
      {{ end }}
      {{ $podIPs := PodIPsWith .spec.nodeName ( or .spec.hostNetwork false ) ( or .metadata.uid "" ) ( or .metadata.name "" ) ( or .metadata.namespace "" ) }}
      {{ with $podIPs }}
      podIP: {{ index . 0 | Quote }}
      podIPs:
      {{ range . }}
      - ip: {{ . | Quote }}
      {{ end }}
      {{ end }}
`

const podNotReadyStage = `apiVersion: kwok.x-k8s.io/v1alpha1
kind: Stage
metadata:
  name: k8scluster-pod-not-ready
spec:
  resourceRef:
    apiGroup: v1
    kind: Pod
  selector:
    matchExpressions:
    - key: '.metadata.deletionTimestamp'
      operator: 'DoesNotExist'
    - key: '.status.phase'
      operator: 'In'
      values:
      - 'Pending'
    - key: '.metadata.annotations["` + NotReadyAnnotation + `"]'
      operator: 'In'
      values:
      - 'true'
  next:
    statusTemplate: |
      {{ $now := Now }}
      conditions:
      - lastTransitionTime: {{ $now | Quote }}
        status: "True"
        type: Initialized
      - lastTransitionTime: {{ $now | Quote }}
        status: "False"
        reason: ContainersNotReady
        type: Ready
      - lastTransitionTime: {{ $now | Quote }}
        status: "False"
        reason: ContainersNotReady
        type: ContainersReady
      containerStatuses:
      {{ range .spec.containers }}
      - image: {{ .image | Quote }}
        name: {{ .name | Quote }}
        ready: false
        restartCount: 0
        started: true
        state:
          running:
            startedAt: {{ $now | Quote }}
      {{ end }}
` + podIPsTemplate + `      phase: Running
      startTime: {{ $now | Quote }}
`

// podSyncStage: Running pod, not deleting, not annotated not-ready, and either
// its container images differ from the spec, or it is not Ready although all
// readiness gates are True. Result: statuses report the spec images, and Ready
// is True exactly when every readiness gate is True.
const podSyncStage = `apiVersion: kwok.x-k8s.io/v1alpha1
kind: Stage
metadata:
  name: k8scluster-pod-sync
spec:
  resourceRef:
    apiGroup: v1
    kind: Pod
  selector:
    matchExpressions:
    - key: '.metadata.deletionTimestamp'
      operator: 'DoesNotExist'
    - key: '.status.phase'
      operator: 'In'
      values:
      - 'Running'
` + notReadySelector + `    - key: '([.spec.containers[].image] != [.status.containerStatuses[]?.image]) or ((([.status.conditions[]? | select(.type == "Ready") | .status] | first // "False") != "True") and (([.spec.readinessGates[]?.conditionType] - [.status.conditions[]? | select(.status == "True") | .type]) | length == 0))'
      operator: 'In'
      values:
      - 'true'
  next:
    statusTemplate: |
      {{ $now := Now }}
      {{ $pod := . }}
      {{ $gatesOK := true }}
      {{ range $g := .spec.readinessGates }}
      {{ $ok := false }}
      {{ range $c := $pod.status.conditions }}
      {{ if and (eq $c.type $g.conditionType) (eq $c.status "True") }}{{ $ok = true }}{{ end }}
      {{ end }}
      {{ if not $ok }}{{ $gatesOK = false }}{{ end }}
      {{ end }}
      conditions:
      - lastTransitionTime: {{ $now | Quote }}
        status: "True"
        type: ContainersReady
      - lastTransitionTime: {{ $now | Quote }}
        status: {{ if $gatesOK }}"True"{{ else }}"False"{{ end }}
        type: Ready
      containerStatuses:
      {{ range .spec.containers }}
      - image: {{ .image | Quote }}
        name: {{ .name | Quote }}
        ready: true
        restartCount: 0
        started: true
        state:
          running:
            startedAt: {{ $now | Quote }}
      {{ end }}
`

// kwokStages returns the multi-document stage configuration for kwok --config.
func kwokStages() (string, error) {
	podReady := strings.TrimSpace(podfast.DefaultPodReady)
	const anchor = "  selector:\n    matchExpressions:\n"
	if strings.Count(podReady, anchor) != 1 {
		return "", fmt.Errorf("kwok pod-ready stage: selector not found; update stages.go for this kwok version")
	}
	podReady = strings.Replace(podReady, anchor, anchor+notReadySelector, 1)
	docs := []string{
		nodefast.DefaultNodeInit,
		nodelease.DefaultNodeHeartbeatWithLease,
		podReady,
		podNotReadyStage,
		podSyncStage,
		podfast.DefaultPodComplete,
		podfast.DefaultPodDelete,
	}
	for i, d := range docs {
		docs[i] = strings.TrimSpace(d)
	}
	return strings.Join(docs, "\n---\n") + "\n", nil
}
