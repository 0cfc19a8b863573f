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

{{/* An image reference, its tag defaulting to the appVersion. Called with (list $ .Values.<part>.image). */}}
{{- define "qm-operator.imageRef" -}}
{{- $image := index . 1 }}
{{- $image.repository }}:{{ $image.tag | default (index . 0).Chart.AppVersion }}
{{- end }}

{{/* The operator's image: its pods, the collector and the backup Jobs it starts run it. */}}
{{- define "qm-operator.image" -}}
{{ include "qm-operator.imageRef" (list . .Values.image) }}
{{- end }}

{{/*
The data plane's token (`quartermaster dataplane add`), from a Secret created
beforehand, mounted as a file: the collector reports usage with it, the
gateway fetches keys and reports tokens with it. The env var, the mount and
the volume; the volume is called with the part's existingSecret.
*/}}
{{- define "qm-operator.tokenEnv" -}}
- name: QM_INGEST_TOKEN_FILE
  value: /var/run/secrets/quartermaster/ingest-token
{{- end }}

{{- define "qm-operator.tokenMount" -}}
- name: ingest-token
  mountPath: /var/run/secrets/quartermaster
  readOnly: true
{{- end }}

{{- define "qm-operator.tokenVolume" -}}
- name: ingest-token
  secret:
    secretName: {{ .name }}
    items:
      - key: {{ .key }}
        path: ingest-token
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

{{/* The sync loop's objects: its Deployment, ServiceAccount and roles. */}}
{{- define "qm-operator.syncName" -}}
{{- printf "%s-sync" (include "qm-operator.fullname" . | trunc 58 | trimSuffix "-") }}
{{- end }}

{{/* The Secret holding the enrollment token: the one named, else the chart's. */}}
{{- define "qm-operator.enrollmentSecret" -}}
{{- default (printf "%s-enrollment" (include "qm-operator.syncName" .)) .Values.controlPlane.existingSecret.name }}
{{- end }}

{{/* The gateway's objects: its Deployment, Service, ServiceAccount and ClusterRole. */}}
{{- define "qm-operator.gatewayName" -}}
{{- printf "%s-gateway" (include "qm-operator.fullname" . | trunc 55 | trimSuffix "-") }}
{{- end }}

{{/*
The namespace tenants' endpoints admit in front of their engines: the one
named, else this release's when the gateway runs in it, else none.
*/}}
{{- define "qm-operator.gatewayNamespace" -}}
{{- if .Values.networkPolicy.gatewayNamespace }}
{{- .Values.networkPolicy.gatewayNamespace }}
{{- else if .Values.gateway.enabled }}
{{- .Release.Namespace }}
{{- end }}
{{- end }}

{{/* The parts serving metrics, component: name; their metrics Services are <name>-metrics. */}}
{{- define "qm-operator.metricsParts" -}}
operator: {{ include "qm-operator.fullname" . }}
{{- if .Values.gateway.enabled }}
gateway: {{ include "qm-operator.gatewayName" . }}
{{- end }}
{{- end }}

{{/* The label of the metrics Services, which the ServiceMonitors select. */}}
{{- define "qm-operator.metricsLabel" -}}
quartermaster.dev/metrics: "true"
{{- end }}

{{/* A pod template's metadata; called like qm-operator.selectorLabels. */}}
{{- define "qm-operator.podMetadata" -}}
labels:
  {{- include "qm-operator.labels" . | nindent 2 }}
  {{- with .ctx.Values.podLabels }}
  {{- toYaml . | nindent 2 }}
  {{- end }}
{{- with .ctx.Values.podAnnotations }}
annotations:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- end }}

{{/* What every pod of the chart shares: pull secrets, its security context, the nodes it may run on. */}}
{{- define "qm-operator.podDefaults" -}}
securityContext:
  {{- toYaml .Values.podSecurityContext | nindent 2 }}
{{- with .Values.imagePullSecrets }}
imagePullSecrets:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with .Values.nodeSelector }}
nodeSelector:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with .Values.tolerations }}
tolerations:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- end }}

{{/*
At most maxUnavailable pods of a part down in a drain, rendered with 2+
replicas. Called with (dict "ctx" $ "component" "operator" "name" <name>
"replicas" <n> "budget" <its podDisruptionBudget values>).
*/}}
{{- define "qm-operator.pdb" -}}
{{- if and .budget.enabled (gt (int .replicas) 1) }}
apiVersion: policy/v1
kind: PodDisruptionBudget
metadata:
  name: {{ .name }}
  labels:
    {{- include "qm-operator.labels" . | nindent 4 }}
spec:
  maxUnavailable: {{ .budget.maxUnavailable }}
  selector:
    matchLabels:
      {{- include "qm-operator.selectorLabels" . | nindent 6 }}
{{- end }}
{{- end }}
