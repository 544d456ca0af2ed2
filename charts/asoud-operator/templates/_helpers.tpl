{{- define "asoud-operator.fullname" -}}
{{- if contains .Chart.Name .Release.Name -}}
{{- .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name .Chart.Name | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}

{{- define "asoud-operator.selectorLabels" -}}
app.kubernetes.io/name: asoud-operator
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}

{{- define "asoud-operator.labels" -}}
{{ include "asoud-operator.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/component: operator
app.kubernetes.io/part-of: asoud
app.kubernetes.io/managed-by: {{ .Release.Service }}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version }}
{{- end -}}

{{- /*
The namespaced permissions: exactly the calls the operator makes (the RBAC audit in
tests/operator checks every call of the scenarios against them, and that every one is used).
*/ -}}
{{- define "asoud-operator.namespacedRules" -}}
# kopf: watches the stores; keeps its finalizer and bookkeeping in annotations.
- apiGroups: [asoud.io]
  resources: [asoudstores]
  verbs: [list, watch, patch]
- apiGroups: [asoud.io]
  resources: [asoudstores/status]
  verbs: [patch]
- apiGroups: [""]
  resources: [events]
  verbs: [create]
# The stores' children: watched (label selector app.kubernetes.io/managed-by=asoud-operator),
# applied server-side (create + patch), pruned when the spec no longer wants them.
- apiGroups: [""]
  resources: [secrets]
  verbs: [get, list, watch, create, patch, delete]  # get: the Secrets a store's spec names
- apiGroups: [""]
  resources: [configmaps]
  verbs: [list, watch, create, patch, delete]  # delete: dashboards switched off
- apiGroups: [""]
  resources: [services, serviceaccounts]
  verbs: [list, watch, create, patch]
- apiGroups: [apps]
  resources: [deployments]
  verbs: [list, watch, create, patch, delete]
- apiGroups: [batch]
  resources: [jobs]
  verbs: [list, watch, create, delete]
- apiGroups: [policy]
  resources: [poddisruptionbudgets]
  verbs: [list, watch, create, patch]
- apiGroups: [monitoring.coreos.com]
  resources: [servicemonitors, podmonitors, prometheusrules]
  verbs: [list, watch, create, patch, delete]
- apiGroups: [keda.sh]
  resources: [scaledobjects, triggerauthentications]
  verbs: [list, watch, create, patch, delete]
{{- end -}}
