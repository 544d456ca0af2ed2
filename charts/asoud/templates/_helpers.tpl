{{- define "asoud.name" -}}
{{- .Release.Name | trunc 40 | trimSuffix "-" -}}
{{- end -}}

{{- define "asoud.labels" -}}
app.kubernetes.io/name: asoud
app.kubernetes.io/instance: {{ include "asoud.name" . }}
app.kubernetes.io/version: {{ .Values.version | default .Chart.AppVersion | quote }}
app.kubernetes.io/part-of: asoud
app.kubernetes.io/managed-by: {{ .Release.Service }}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version }}
{{- end -}}

{{- define "asoud.databaseSecret" -}}
{{- .Values.database.existingSecret | default (printf "%s-db" (include "asoud.name" .)) -}}
{{- end -}}

{{- define "asoud.redisSecret" -}}
{{- .Values.redis.existingSecret | default (printf "%s-redis" (include "asoud.name" .)) -}}
{{- end -}}
