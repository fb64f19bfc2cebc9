{{- define "kmcp.name" -}}{{ .Release.Name }}{{- end }}

{{- define "kmcp.labels" -}}
app.kubernetes.io/name: kubernetes-mcp-operator
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: kubernetes-mcp
helm.sh/chart: {{ .Chart.Name }}-{{ .Chart.Version }}
{{- end }}

{{- define "kmcp.selector" -}}
app.kubernetes.io/name: kubernetes-mcp-operator
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}
