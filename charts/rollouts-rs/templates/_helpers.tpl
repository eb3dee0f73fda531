{{/* The image reference of a service: repository:tag. */}}
{{- define "rollouts-rs.image" -}}
{{ .repository }}:{{ .tag }}
{{- end }}

{{/* Pod placement and pull settings shared by both Deployments (the service's values as "svc"). */}}
{{- define "rollouts-rs.podPlacement" -}}
{{- with .root.Values.imagePullSecrets }}
imagePullSecrets:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with .svc.nodeSelector }}
nodeSelector:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with .svc.tolerations }}
tolerations:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with .svc.affinity }}
affinity:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- end }}
