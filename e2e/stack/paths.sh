# Where install.sh puts each component and where stack.sh and the tests find it. Sourced by both.
# shellcheck shell=bash
# shellcheck source=versions.env
source "$(dirname "${BASH_SOURCE[0]}")/versions.env"
# The components e2e/stack.sh starts (install.sh names), for scripts that install only those.
stack_components=(etcd kubernetes otelcol prometheus prometheus-operator kubelet-api metrics-server virt-template registry)
cache_root=${KMCP_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/kubernetes-mcp}
kubernetes_dir="$cache_root/kubernetes-$KUBERNETES_VERSION"
etcd_dir="$cache_root/etcd-$ETCD_VERSION"
otelcol_dir="$cache_root/otelcol-$OTELCOL_VERSION"
prometheus_dir="$cache_root/prometheus-$PROMETHEUS_VERSION"
prometheus_operator_dir="$cache_root/prometheus-operator-$PROMETHEUS_OPERATOR_VERSION"
helm_dir="$cache_root/helm-$HELM_VERSION"
metrics_server_dir="$cache_root/metrics-server-$METRICS_SERVER_VERSION"
registry_dir="$cache_root/registry-$DISTRIBUTION_VERSION"
# Keyed by the library's version and by the program's own source, which lives in this repository.
kstatus_dir="$cache_root/kstatus-$CLI_UTILS_VERSION-$(sha256sum "$(dirname "${BASH_SOURCE[0]}")/kstatus/main.go" | cut -c1-8)"
virt_template_dir="$cache_root/virt-template-${VIRT_TEMPLATE_COMMIT:0:12}-$(sha256sum "$(dirname "${BASH_SOURCE[0]}")/virt-template/src.tar.gz" | cut -c1-8)"
kubelet_api_dir="$cache_root/kubelet-api-$KUBERNETES_STAGING_VERSION-$(cat "$(dirname "${BASH_SOURCE[0]}")"/kubelet/*.go | sha256sum | cut -c1-8)"
python_dir="$cache_root/python-mcp$PYTHON_MCP_VERSION-otel$PYTHON_OTEL_VERSION-promclient$PYTHON_PROMETHEUS_CLIENT_VERSION-pytest$PYTHON_PYTEST_VERSION-yaml$PYTHON_PYYAML_VERSION"
cargo_tools_dir="$cache_root/cargo-deny$CARGO_DENY_VERSION-cyclonedx$CARGO_CYCLONEDX_VERSION"
node_dir="$cache_root/node-inspector$MCP_INSPECTOR_VERSION-peer$GO_PEER_VERSION"
