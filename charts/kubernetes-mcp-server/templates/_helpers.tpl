{{- /* helm create's names, so that two releases never share one. */ -}}
{{- define "kubernetes-mcp-server.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" -}}
{{- end }}

{{- define "kubernetes-mcp-server.fullname" -}}
{{- if .Values.fullnameOverride -}}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- $name := default .Chart.Name .Values.nameOverride -}}
{{- if contains $name .Release.Name -}}
{{- .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name $name | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}
{{- end }}

{{- define "kubernetes-mcp-server.selectorLabels" -}}
app.kubernetes.io/name: {{ include "kubernetes-mcp-server.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{- define "kubernetes-mcp-server.labels" -}}
{{ include "kubernetes-mcp-server.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: kubernetes-mcp
helm.sh/chart: {{ .Chart.Name }}-{{ .Chart.Version }}
{{- end }}

{{- define "kubernetes-mcp-server.serviceAccountName" -}}
{{- if .Values.serviceAccount.create -}}
{{- default (include "kubernetes-mcp-server.fullname" .) .Values.serviceAccount.name -}}
{{- else -}}
{{- default "default" .Values.serviceAccount.name -}}
{{- end -}}
{{- end }}

{{- /* registry/repository:version, or @digest when the version is one. */ -}}
{{- define "kubernetes-mcp-server.image" -}}
{{- $version := default .Chart.AppVersion .Values.image.version -}}
{{- $repository := .Values.image.repository -}}
{{- if .Values.image.registry -}}{{- $repository = printf "%s/%s" .Values.image.registry $repository -}}{{- end -}}
{{- if hasPrefix "sha256:" $version -}}
{{- printf "%s@%s" $repository $version -}}
{{- else -}}
{{- printf "%s:%s" $repository $version -}}
{{- end -}}
{{- end }}

{{- /* The role a binding of rbac.extra* names: <fullname>-<name>, or the name itself when external. */ -}}
{{- define "kubernetes-mcp-server.roleRefName" -}}
{{- if .roleRef.external -}}
{{- .roleRef.name -}}
{{- else -}}
{{- printf "%s-%s" .fullname .roleRef.name | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- end }}

{{- /* config.toml: the `config` map with `port` from the Service, whole numbers as integers (Helm
reads every YAML number as a float, and the server's integer keys refuse 8080.0). */ -}}
{{- define "kubernetes-mcp-server.configToml" -}}
{{- $config := deepCopy .Values.config -}}
{{- $_ := set $config "port" (toString .Values.service.port) -}}
{{- range $key, $value := $config -}}
{{- if and (kindIs "float64" $value) (eq $value (float64 (int64 $value))) -}}
{{- $_ := set $config $key (int64 $value) -}}
{{- else if kindIs "map" $value -}}
{{- range $inner, $v := $value -}}
{{- if and (kindIs "float64" $v) (eq $v (float64 (int64 $v))) -}}
{{- $_ := set $value $inner (int64 $v) -}}
{{- end -}}
{{- end -}}
{{- end -}}
{{- end -}}
{{- toToml $config -}}
{{- end }}
