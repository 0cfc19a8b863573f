{{/* The chart's name, or nameOverride. */}}
{{- define "qm-operator.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* The prefix of every object's name: within the 63 characters of a label value. */}}
{{- define "qm-operator.fullname" -}}
{{- if .Values.fullnameOverride }}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- $name := default .Chart.Name .Values.nameOverride }}
{{- if contains $name .Release.Name }}
{{- .Release.Name | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- printf "%s-%s" .Release.Name $name | trunc 63 | trimSuffix "-" }}
{{- end }}
{{- end }}
{{- end }}

{{/*
Labels that select a component's pods. Called with (dict "ctx" $ "component" "operator"):
the component keeps the collector's pods out of the operator's Service and PDB.
*/}}
{{- define "qm-operator.selectorLabels" -}}
app.kubernetes.io/name: {{ include "qm-operator.name" .ctx }}
app.kubernetes.io/instance: {{ .ctx.Release.Name }}
app.kubernetes.io/component: {{ .component }}
{{- end }}

{{/* Every object's labels; called like qm-operator.selectorLabels. */}}
{{- define "qm-operator.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .ctx.Chart.Name .ctx.Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{ include "qm-operator.selectorLabels" . }}
app.kubernetes.io/version: {{ .ctx.Values.image.tag | default .ctx.Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .ctx.Release.Service }}
app.kubernetes.io/part-of: quartermaster
{{- end }}

{{/* The operator's image: its pods, the collector and the backup Jobs it starts run it. */}}
{{- define "qm-operator.image" -}}
{{ .Values.image.repository }}:{{ .Values.image.tag | default .Chart.AppVersion }}
{{- end }}

{{/* Where spans go, and as which service. Called with (list $ "service name"). */}}
{{- define "qm-operator.otelEnv" -}}
- name: OTEL_EXPORTER_OTLP_ENDPOINT
  value: {{ (index . 0).Values.opentelemetry.endpoint | quote }}
- name: OTEL_SERVICE_NAME
  value: {{ index . 1 | quote }}
{{- end }}

{{- define "qm-operator.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "qm-operator.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- default "default" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{/* The collector's objects: its own name and ServiceAccount, with the rights it alone needs. */}}
{{- define "qm-operator.provisionerName" -}}
{{- printf "%s-provisioner" (include "qm-operator.fullname" . | trunc 51 | trimSuffix "-") }}
{{- end }}

{{- define "qm-operator.collectorName" -}}
{{- printf "%s-collector" (include "qm-operator.fullname" . | trunc 53 | trimSuffix "-") }}
{{- end }}
