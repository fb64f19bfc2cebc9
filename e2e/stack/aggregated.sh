# Part of e2e/stack.sh, which sources it: the API servers behind the aggregation layer
# (metrics-server, virt-template's) and their registration. Uses stack.sh's `start`, `wait_for`,
# `kubectl` and its addresses and ports.
# shellcheck shell=bash

# metrics-server, registered as the APIService v1beta1.metrics.k8s.io. It scrapes the kubelet
# API's /metrics/resource every 10 s, its shortest resolution, as admin. Not waited for: figures
# take two scrapes (10 s) and only the top tests need them; they wait for what they read
# (e2e/tests/support/metrics.py).
start_metrics_server() {
  local p="$stack_dir/pki"
  start metrics-server "$metrics_server_dir/bin/metrics-server" --kubeconfig="$p/admin.kubeconfig" \
    --authentication-kubeconfig="$p/admin.kubeconfig" --authorization-kubeconfig="$p/admin.kubeconfig" \
    --bind-address="$node_ip" --secure-port="$metrics_server_port" \
    --tls-cert-file="$p/metrics-server.crt" --tls-private-key-file="$p/metrics-server.key" \
    --kubelet-certificate-authority="$p/ca.crt" --kubelet-client-certificate="$p/apiserver-kubelet-client.crt" \
    --kubelet-client-key="$p/apiserver-kubelet-client.key" --kubelet-preferred-address-types=InternalIP \
    --kubelet-use-node-status-port --metric-resolution=10s --kubelet-request-timeout=5s
  register_apiservice metrics-server "$metrics_server_port" metrics.k8s.io v1beta1 &
}

# virt-template's API server (subresources.template.kubevirt.io v1beta1 and v1alpha1: a
# VirtualMachineTemplate's `process` and `create`), registered as upstream's
# config/apiserver/apiservice.yaml registers it. It reads templates and creates VirtualMachines as
# its own user, with upstream's ClusterRole (config/rbac/role_apiserver.yaml): the caller needs
# only `create` on virtualmachinetemplates/create, which it checks by SubjectAccessReview.
start_virt_template() {
  local p="$stack_dir/pki"
  kubectl apply -f - >/dev/null <<'YAML'
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRole
metadata: {name: virt-template-apiserver}
rules:
- {apiGroups: [template.kubevirt.io], resources: [virtualmachinetemplates, virtualmachinetemplates/status], verbs: [get]}
- {apiGroups: [kubevirt.io], resources: [virtualmachines], verbs: [create]}
- {apiGroups: [authentication.k8s.io], resources: [tokenreviews], verbs: [create]}
- {apiGroups: [authorization.k8s.io], resources: [subjectaccessreviews], verbs: [create]}
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRoleBinding
metadata: {name: virt-template-apiserver}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: virt-template-apiserver}
subjects: [{apiGroup: rbac.authorization.k8s.io, kind: User, name: virt-template-apiserver}]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: RoleBinding
metadata: {name: virt-template-apiserver-auth-reader, namespace: kube-system}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: Role, name: extension-apiserver-authentication-reader}
subjects: [{apiGroup: rbac.authorization.k8s.io, kind: User, name: virt-template-apiserver}]
YAML
  start virt-template "$virt_template_dir/bin/virt-template-apiserver" --kubeconfig="$p/virt-template.kubeconfig" \
    --authentication-kubeconfig="$p/virt-template.kubeconfig" --authorization-kubeconfig="$p/virt-template.kubeconfig" \
    --bind-address="$node_ip" --secure-port="$virt_template_port" \
    --tls-cert-file="$p/virt-template-apiserver.crt" --tls-private-key-file="$p/virt-template-apiserver.key"
  register_apiservice virt-template "$virt_template_port" subresources.template.kubevirt.io v1beta1 v1alpha1 &
}

# register_apiservice NAME PORT GROUP VERSION...: once NAME listens, a Service without selector
# whose EndpointSlice is NAME's address (the aggregator routes to endpoints, there being no
# kube-proxy) and an APIService per version, trusting the stack's CA. Registered only then: the
# aggregator checks a new APIService at once, but one it found unavailable only every 30 s.
register_apiservice() {
  local name=$1 port=$2 group=$3 version
  shift 3
  wait_for "$name" "$stack_dir/logs/$name.log" 60 curl -sk -o /dev/null "https://$node_ip:$port/livez"
  {
    cat <<YAML
apiVersion: v1
kind: Service
metadata: {name: $name, namespace: kube-system, labels: {app.kubernetes.io/name: $name}}
spec:
  ports: [{name: https, port: 443, targetPort: $port, protocol: TCP}]
---
apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata:
  name: $name
  namespace: kube-system
  labels: {kubernetes.io/service-name: $name, endpointslice.kubernetes.io/managed-by: e2e.kubernetes-mcp.io}
addressType: IPv4
endpoints: [{addresses: ["$node_ip"], conditions: {ready: true}}]
ports: [{name: https, port: $port, protocol: TCP}]
YAML
    for version in "$@"; do
      cat <<YAML
---
apiVersion: apiregistration.k8s.io/v1
kind: APIService
metadata: {name: $version.$group, labels: {app.kubernetes.io/name: $name}}
spec:
  group: $group
  version: $version
  service: {name: $name, namespace: kube-system, port: 443}
  caBundle: $(base64 -w0 <"$stack_dir/pki/ca.crt")
  groupPriorityMinimum: 100
  versionPriority: 100
YAML
    done
  } | kubectl apply -f - >/dev/null
}
