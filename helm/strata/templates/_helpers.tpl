{{/*
Names, labels and the values every template derives the same way. Templates use only the
Helm built-ins the offline renderer implements (helm/strata/README.md, "Checks").
*/}}

{{- define "strata.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{/* The release's prefix of every object name (at most 63 characters). */}}
{{- define "strata.fullname" -}}
{{- if .Values.fullnameOverride -}}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" -}}
{{- else if contains (include "strata.name" .) .Release.Name -}}
{{- .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name (include "strata.name" .) | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}

{{- define "strata.selectorLabels" -}}
app.kubernetes.io/name: {{ include "strata.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}

{{- define "strata.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{ include "strata.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end -}}

{{/* Component names: the coordinator's Deployment and Services, the workers' StatefulSet. */}}
{{- define "strata.coordinator" -}}{{ include "strata.fullname" . }}-coordinator{{- end -}}
{{- define "strata.coordinatorControl" -}}{{ include "strata.fullname" . }}-control{{- end -}}
{{- define "strata.worker" -}}{{ include "strata.fullname" . }}-worker{{- end -}}

{{- define "strata.image" -}}
{{- $repository := required "image.repository is required: the image built from the repository's Dockerfile, e.g. registry.example.com/strata" .Values.image.repository -}}
{{- printf "%s:%s" $repository (default .Chart.AppVersion .Values.image.tag) -}}
{{- end -}}

{{/* The Secrets holding the cluster token and the API key, created or named. */}}
{{- define "strata.tokenSecret" -}}
{{- default (printf "%s-cluster-token" (include "strata.fullname" .)) .Values.clusterToken.existingSecret -}}
{{- end -}}
{{- define "strata.apiKeySecret" -}}
{{- default (printf "%s-api-key" (include "strata.fullname" .)) .Values.apiKey.existingSecret -}}
{{- end -}}

{{/* Where the containers find the secrets (mounted files, read by --token-file / --api-key-file). */}}
{{- define "strata.secretsDir" -}}/run/strata{{- end -}}

{{/*
The coordinator's control address as workers dial it: the control Service's DNS name, never
an IP, so that with tls.controlPlane the coordinator's certificate can name it.
*/}}
{{- define "strata.controlHost" -}}
{{- printf "%s.%s.svc" (include "strata.coordinatorControl" .) .Release.Namespace -}}
{{- end -}}
{{- define "strata.controlAddress" -}}
{{- printf "%s:%d" (include "strata.controlHost" .) (int .Values.coordinator.ports.control) -}}
{{- end -}}

{{/* The API Service's DNS name inside the cluster (a name tls.api's certificate may cover). */}}
{{- define "strata.apiHost" -}}
{{- printf "%s.%s.svc" (include "strata.coordinator" .) .Release.Namespace -}}
{{- end -}}

{{/* The API port's name: https with tls.api (so meshes and ingresses do not speak plain HTTP to it). */}}
{{- define "strata.apiPortName" -}}
{{- if .Values.tls.api.enabled }}https{{ else }}http{{ end -}}
{{- end -}}

{{/*
Where the TLS files are mounted (in the secrets volume, under strata.secretsDir): the
control plane's (the coordinator's certificate, key and CA; the workers get only its CA),
the workers' client certificate, the API's certificate and the API's client CA.
*/}}
{{- define "strata.tlsDir" -}}{{ include "strata.secretsDir" . }}/tls{{- end -}}

{{/* Values that cannot be right together (the schema checks each TLS value on its own). */}}
{{- define "strata.checkTls" -}}
{{- $t := .Values.tls -}}
{{- if and $t.controlPlane.mutual (not $t.controlPlane.enabled) -}}
{{- fail "tls.controlPlane.mutual needs tls.controlPlane.enabled: mutual TLS is TLS (set both, or neither)" -}}
{{- end -}}
{{- if and $t.api.clientCaSecret (not $t.api.enabled) -}}
{{- fail "tls.api.clientCaSecret needs tls.api.enabled: client certificates are checked over HTTPS only (set tls.api.enabled and tls.api.secretName, or clear clientCaSecret)" -}}
{{- end -}}
{{- end -}}

{{/*
Pod security shared by both components: the pod part, then the container part (non-root,
nothing to escalate to, a read-only root filesystem; /tmp is an emptyDir).
*/}}
{{- define "strata.podSecurityContext" -}}
runAsNonRoot: true
runAsUser: {{ .Values.securityContext.runAsUser }}
runAsGroup: {{ .Values.securityContext.runAsGroup }}
fsGroup: {{ .Values.securityContext.fsGroup }}
{{- end -}}

{{- define "strata.containerSecurityContext" -}}
allowPrivilegeEscalation: false
readOnlyRootFilesystem: true
capabilities:
  drop: [ALL]
{{- end -}}

{{/* Grace period: the preStop pause, the drain, and 15 s to exit. Argument: a component's values. */}}
{{- define "strata.gracePeriod" -}}
{{- add .preStopSleepSeconds .drainTimeoutSeconds 15 -}}
{{- end -}}

{{- define "strata.preStop" -}}
{{- if gt (int .preStopSleepSeconds) 0 -}}
lifecycle:
  preStop:
    exec:
      command: ["sleep", "{{ .preStopSleepSeconds }}"]
{{- end }}
{{- end -}}

{{/* The key of each Secret that holds the value: the named Secret's, or the chart's own. */}}
{{- define "strata.tokenSecretKey" -}}
{{- if .Values.clusterToken.existingSecret }}{{ .Values.clusterToken.existingSecretKey }}{{ else }}token{{ end -}}
{{- end -}}
{{- define "strata.apiKeySecretKey" -}}
{{- if .Values.apiKey.existingSecret }}{{ .Values.apiKey.existingSecretKey }}{{ else }}api-key{{ end -}}
{{- end -}}

{{/*
A Secret's base64 value made at install and kept across upgrades: read back with lookup
(`helm template` has no cluster, so it renders a fresh one). Argument: dict root, name, key.
*/}}
{{- define "strata.randomSecretValue" -}}
{{- $existing := lookup "v1" "Secret" .root.Release.Namespace .name -}}
{{- if and $existing (hasKey (default dict $existing.data) .key) -}}
{{- index $existing.data .key -}}
{{- else -}}
{{- randAlphaNum 48 | b64enc -}}
{{- end -}}
{{- end -}}
