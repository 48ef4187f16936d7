{{/* The release's full name, cut to 63 characters (a label value and a DNS name). */}}
{{- define "wa.fullname" -}}
{{- if contains .Chart.Name .Release.Name -}}
{{- .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name .Chart.Name | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}

{{- define "wa.selectorLabels" -}}
app.kubernetes.io/name: {{ .Chart.Name }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/component: operator
{{- end -}}

{{- define "wa.labels" -}}
{{ include "wa.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/part-of: whatsapp-operator
app.kubernetes.io/managed-by: {{ .Release.Service }}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" }}
{{- end -}}

{{/* Labels of objects made for the workers (not of the worker pods: the operator labels those). */}}
{{- define "wa.workerObjectLabels" -}}
app.kubernetes.io/name: whatsapp-worker
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/part-of: whatsapp-operator
app.kubernetes.io/managed-by: {{ .Release.Service }}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" }}
{{- end -}}

{{- define "wa.serviceAccountName" -}}
{{- if .Values.serviceAccount.create -}}
{{- default (include "wa.fullname" .) .Values.serviceAccount.name -}}
{{- else -}}
{{- required "serviceAccount.name is required when serviceAccount.create is false" .Values.serviceAccount.name -}}
{{- end -}}
{{- end -}}

{{/* repository:tag, or repository@digest; the tag defaults to the chart's appVersion. */}}
{{- define "wa.image" -}}
{{- if .digest -}}
{{- printf "%s@%s" .repository .digest -}}
{{- else -}}
{{- printf "%s:%s" .repository (default .appVersion .tag) -}}
{{- end -}}
{{- end -}}

{{- define "wa.operatorImage" -}}
{{- include "wa.image" (merge (dict "appVersion" .Chart.AppVersion) .Values.image) -}}
{{- end -}}

{{- define "wa.workerImage" -}}
{{- include "wa.image" (merge (dict "appVersion" .Chart.AppVersion) .Values.worker.image) -}}
{{- end -}}

{{/*
The repositories spec.worker.image may use (docs/security.md K4): worker.allowedRepositories,
else the worker image's own repository. The operator and the admission policy get the same list.
Only registry/path characters: the policy renders them into CEL string literals.
*/}}
{{- define "wa.workerRepositories" -}}
{{- $repos := .Values.worker.allowedRepositories | default (list .Values.worker.image.repository) -}}
{{- range $repos }}
{{- if not (regexMatch "^[A-Za-z0-9._:/-]+$" .) }}
{{- fail (printf "worker.allowedRepositories: %q is not a repository (host/path, without tag, digest or wildcard)" .) }}
{{- end }}
{{- end }}
{{- toJson $repos -}}
{{- end -}}

{{/* Restricted PodSecurity, for the operator's pod and container. */}}
{{- define "wa.podSecurityContext" -}}
runAsNonRoot: true
runAsUser: 65532
runAsGroup: 65532
fsGroup: 65532
seccompProfile:
  type: RuntimeDefault
{{- end -}}

{{- define "wa.containerSecurityContext" -}}
allowPrivilegeEscalation: false
readOnlyRootFilesystem: true
privileged: false
capabilities:
  drop: [ALL]
{{- end -}}
