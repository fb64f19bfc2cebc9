#!/usr/bin/env bash
# Builds every real component the tests run, from the package registries only (Go module proxy,
# PyPI, npm, Debian) and, for the modules no registry serves, source kept in this repository
# (virt-template/), into ${XDG_CACHE_HOME:-~/.cache}/kubernetes-mcp/<component>-<version>/.
# A component whose directory holds a `.done` marker is skipped, so a warm run takes seconds.
#
#   e2e/stack/install.sh            # everything
#   e2e/stack/install.sh etcd helm  # only the named components
#
# Prints `cache: <dir>` for each component; the last line is `install: done in Ns`.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=paths.sh
source "$here/paths.sh"
work_root="$cache_root/src"
mkdir -p "$cache_root" "$work_root"

export GOTOOLCHAIN=local CGO_ENABLED=0 GOFLAGS=-buildvcs=false

log() { printf '[install %s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }

# run_step NAME DIR FUNCTION: runs FUNCTION with $out=DIR unless DIR/.done exists.
run_step() {
  local name=$1 dir=$2 fn=$3 start
  if [[ -f "$dir/.done" ]]; then
    log "$name: cached in $dir"
    return
  fi
  start=$SECONDS
  log "$name: building into $dir"
  rm -rf "$dir"
  mkdir -p "$dir"
  out=$dir "$fn"
  touch "$dir/.done"
  log "$name: built in $((SECONDS - start))s"
}

# A fresh scratch module directory for a Go build.
scratch() {
  local dir="$work_root/$1"
  rm -rf "$dir"
  mkdir -p "$dir"
  echo "$dir"
}

version_ldflags() {
  local pkg flags="" now
  now=$(date -u +%Y-%m-%dT%H:%M:%SZ)
  local minor=${KUBERNETES_VERSION#v1.}
  minor=${minor%%.*}
  for pkg in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
    flags+=" -X $pkg.gitVersion=$KUBERNETES_VERSION -X $pkg.gitMajor=1 -X $pkg.gitMinor=$minor"
    flags+=" -X $pkg.gitTreeState=clean -X $pkg.gitCommit=0000000000000000000000000000000000000000"
    flags+=" -X $pkg.buildDate=$now"
  done
  echo "-s -w$flags"
}

build_kubernetes() {
  local src gomod
  src=$(scratch "kubernetes-$KUBERNETES_VERSION")
  gomod=$(cd "$src" && go mod download -json "k8s.io/kubernetes@$KUBERNETES_VERSION" |
    python3 -c 'import json,sys; print(json.load(sys.stdin)["GoMod"])')
  {
    echo "module kubernetes-mcp.io/e2e/kubernetes"
    grep -m1 '^go ' "$gomod"
    echo "require k8s.io/kubernetes $KUBERNETES_VERSION"
    echo "replace ("
    # The release go.mod points its staging modules at ./staging; use the published ones.
    sed -nE "s#^[[:space:]]*(k8s\.io/[^ ]+) => \./staging/.*#\t\1 => \1 $KUBERNETES_STAGING_VERSION#p" "$gomod"
    echo ")"
  } >"$src/go.mod"
  cat >"$src/tools.go" <<'EOF'
//go:build tools

package tools

import (
	_ "k8s.io/kubernetes/cmd/kube-apiserver"
	_ "k8s.io/kubernetes/cmd/kube-controller-manager"
	_ "k8s.io/kubernetes/cmd/kubectl"
)
EOF
  (cd "$src" && go mod tidy)
  local ldflags name
  ldflags=$(version_ldflags)
  mkdir -p "$out/bin"
  for name in kube-apiserver kube-controller-manager kubectl; do
    log "kubernetes: go build $name"
    (cd "$src" && go build -trimpath -ldflags "$ldflags" -o "$out/bin/$name" "k8s.io/kubernetes/cmd/$name")
  done
}

build_etcd() {
  local src
  src=$(scratch "etcd-$ETCD_VERSION")
  (cd "$src" && go mod init kubernetes-mcp.io/e2e/etcd >/dev/null 2>&1 &&
    go get -tool "go.etcd.io/etcd/server/v3@$ETCD_VERSION" &&
    go build -trimpath -ldflags "-s -w" -o "$out/bin/etcd" go.etcd.io/etcd/server/v3)
}

build_otelcol() {
  local src
  src=$(scratch "otelcol-$OTELCOL_VERSION")
  GOBIN="$src/bin" go install "go.opentelemetry.io/collector/cmd/builder@$OTELCOL_VERSION"
  sed -e "s#@OUTPUT_PATH@#$src/dist#" \
    -e "s#@OTELCOL_VERSION@#$OTELCOL_VERSION#g" \
    -e "s#@OTELCOL_CONTRIB_VERSION@#$OTELCOL_CONTRIB_VERSION#g" \
    -e "s#@OTELCOL_CONFMAP_VERSION@#$OTELCOL_CONFMAP_VERSION#g" \
    "$here/otelcol-builder.yaml" >"$src/manifest.yaml"
  # fileexporter's tests import a module the proxy refuses; -e lets tidy finish without it.
  (cd "$src" && GOFLAGS="-e -buildvcs=false" ./bin/builder --config manifest.yaml)
  mkdir -p "$out/bin"
  cp "$src/dist/otelcol-e2e" "$out/bin/otelcol"
}

build_prometheus() {
  local src mod=github.com/prometheus/prometheus
  src=$(scratch "prometheus-$PROMETHEUS_VERSION")
  (cd "$src" && go mod init kubernetes-mcp.io/e2e/prometheus >/dev/null 2>&1 &&
    go get "$mod/cmd/prometheus@$PROMETHEUS_MODULE_VERSION" "$mod/cmd/promtool@$PROMETHEUS_MODULE_VERSION")
  local ldflags="-s -w -X github.com/prometheus/common/version.Version=$PROMETHEUS_VERSION"
  local name
  for name in prometheus promtool; do
    log "prometheus: go build $name"
    (cd "$src" && go build -trimpath -tags remove_all_sd,enable_kubernetes_sd -ldflags "$ldflags" \
      -o "$out/bin/$name" "$mod/cmd/$name")
  done
}

# prometheus-operator's pkg/client module is not on the proxy: regenerate it the way upstream's
# `make k8s-client-gen` does, then build cmd/operator against it.
build_prometheus_operator() {
  local src po=github.com/prometheus-operator/prometheus-operator
  src=$(scratch "prometheus-operator-$PROMETHEUS_OPERATOR_VERSION")
  local gen
  for gen in client-gen lister-gen informer-gen applyconfiguration-gen; do
    GOBIN="$src/bin" go install "k8s.io/code-generator/cmd/$gen@$CODE_GENERATOR_VERSION"
  done
  local client="$src/pkgclient"
  mkdir -p "$client"
  cat >"$client/go.mod" <<EOF
module $po/pkg/client

go 1.26.0

require (
	$po/pkg/apis/monitoring $PROMETHEUS_OPERATOR_VERSION
	k8s.io/api $CODE_GENERATOR_VERSION
	k8s.io/apimachinery $CODE_GENERATOR_VERSION
	k8s.io/client-go $CODE_GENERATOR_VERSION
)
EOF
  cat >"$client/tools.go" <<EOF
//go:build tools

package client

import (
	_ "$po/pkg/apis/monitoring/v1"
	_ "$po/pkg/apis/monitoring/v1alpha1"
	_ "$po/pkg/apis/monitoring/v1beta1"
	_ "k8s.io/client-go/kubernetes"
)
EOF
  (cd "$client" && go mod tidy)
  local main_dir header apis=(
    "$po/pkg/apis/monitoring/v1" "$po/pkg/apis/monitoring/v1alpha1" "$po/pkg/apis/monitoring/v1beta1")
  main_dir=$(cd "$client" && go mod download -json "$po@$PROMETHEUS_OPERATOR_VERSION" |
    python3 -c 'import json,sys; print(json.load(sys.stdin)["Dir"])')
  header="$main_dir/.header"
  local args=(--go-header-file "$header" --v=1 --logtostderr)
  (
    cd "$client"
    "$src/bin/applyconfiguration-gen" "${args[@]}" --output-pkg "$po/pkg/client/applyconfiguration" \
      --output-dir applyconfiguration "${apis[@]}"
    "$src/bin/client-gen" "${args[@]}" --apply-configuration-package "$po/pkg/client/applyconfiguration" \
      --input-base "$po/pkg/apis" --clientset-name versioned --output-pkg "$po/pkg/client" \
      --output-dir . --input monitoring/v1 --input monitoring/v1beta1 --input monitoring/v1alpha1
    "$src/bin/lister-gen" "${args[@]}" --output-pkg "$po/pkg/client/listers" --output-dir listers "${apis[@]}"
    "$src/bin/informer-gen" "${args[@]}" --versioned-clientset-package "$po/pkg/client/versioned" \
      --listers-package "$po/pkg/client/listers" --output-pkg "$po/pkg/client/informers" \
      --output-dir informers "${apis[@]}"
    go mod tidy
  )
  local wrapper="$src/wrapper"
  mkdir -p "$wrapper"
  (cd "$wrapper" && go mod init kubernetes-mcp.io/e2e/prometheus-operator >/dev/null 2>&1 &&
    go mod edit -replace "$po/pkg/client=$client" &&
    go get -tool "$po/cmd/operator@$PROMETHEUS_OPERATOR_VERSION" &&
    go build -trimpath -ldflags "-s -w -X github.com/prometheus/common/version.Version=${PROMETHEUS_OPERATOR_VERSION#v}" \
      -o "$out/bin/prometheus-operator" "$po/cmd/operator")
  mkdir -p "$out/crds"
  cp "$main_dir"/example/prometheus-operator-crd/*.yaml "$out/crds/"
  chmod u+w "$out"/crds/*.yaml
}

build_helm() {
  local src
  src=$(scratch "helm-$HELM_VERSION")
  (cd "$src" && go mod init kubernetes-mcp.io/e2e/helm >/dev/null 2>&1 &&
    go get "helm.sh/helm/v3/cmd/helm@$HELM_VERSION" &&
    go build -trimpath -ldflags "-s -w -X helm.sh/helm/v3/internal/version.version=$HELM_VERSION" \
      -o "$out/bin/helm" helm.sh/helm/v3/cmd/helm)
}

# The distribution registry (what Docker Hub and most registries run): the stack's local OCI
# registry, into which e2e/images.sh pushes the images the pod runner pulls.
build_registry() {
  local src
  src=$(scratch "registry-$DISTRIBUTION_VERSION")
  (cd "$src" && go mod init kubernetes-mcp.io/e2e/registry >/dev/null 2>&1 &&
    go get -tool "github.com/distribution/distribution/v3/cmd/registry@$DISTRIBUTION_VERSION" &&
    go build -trimpath -ldflags "-s -w" -o "$out/bin/registry" github.com/distribution/distribution/v3/cmd/registry)
}

# cli-utils' kstatus, the status library of Flux, kpt and cli-utils-based tools, behind a small
# stdin → stdout program (kstatus/main.go): the stack tests ask it what a GitOps tool sees.
build_kstatus() {
  local src
  src=$(scratch "kstatus-$CLI_UTILS_VERSION")
  cp "$here/kstatus/main.go" "$src/"
  (cd "$src" && go mod init kubernetes-mcp.io/e2e/kstatus >/dev/null 2>&1 &&
    go get "sigs.k8s.io/cli-utils@$CLI_UTILS_VERSION" && go mod tidy &&
    go build -trimpath -ldflags "-s -w" -o "$out/bin/kstatus" .)
}

# The kubelet API for the pod runner's pods (kubelet/*.go): the kubelet's own streaming code for
# exec, the Summary types for stats, from the release's staging modules.
build_kubelet_api() {
  local src
  src=$(scratch "kubelet-api-$KUBERNETES_STAGING_VERSION")
  cp "$here"/kubelet/*.go "$src/"
  (cd "$src" && go mod init kubernetes-mcp.io/e2e/kubelet >/dev/null 2>&1 &&
    go get "k8s.io/cri-streaming@$KUBERNETES_STAGING_VERSION" "k8s.io/kubelet@$KUBERNETES_STAGING_VERSION" \
      "k8s.io/apimachinery@$KUBERNETES_STAGING_VERSION" && go mod tidy &&
    go build -trimpath -ldflags "-s -w" -o "$out/bin/kubelet-api" .)
}

# metrics-server, the metrics.k8s.io API pods_top and nodes_top read, as its release builds it.
build_metrics_server() {
  local src mod=sigs.k8s.io/metrics-server
  src=$(scratch "metrics-server-$METRICS_SERVER_VERSION")
  (cd "$src" && go mod init kubernetes-mcp.io/e2e/metrics-server >/dev/null 2>&1 &&
    go get -tool "$mod/cmd/metrics-server@$METRICS_SERVER_VERSION" &&
    go build -trimpath -ldflags "-s -w -X k8s.io/client-go/pkg/version.gitVersion=$METRICS_SERVER_VERSION" \
      -o "$out/bin/metrics-server" "$mod/cmd/metrics-server")
}

# virt-template's aggregated API server (subresources.template.kubevirt.io: a VirtualMachineTemplate's
# `process` and `create`), what vm_create_from_template calls. Its kubevirt.io modules are not on
# the proxy: their source is a snapshot in this repository (virt-template/src.tar.gz, written by
# virt-template/snapshot.sh); the rest comes from the proxy at upstream's go.sum versions.
build_virt_template() {
  local src
  src=$(scratch "virt-template-$VIRT_TEMPLATE_COMMIT")
  tar -xzf "$here/virt-template/src.tar.gz" -C "$src"
  (cd "$src" && GOWORK=off GOFLAGS="-mod=mod -buildvcs=false" go build -trimpath -ldflags "-s -w" \
    -o "$out/bin/virt-template-apiserver" ./cmd/apiserver)
}

install_python() {
  python3 -m venv "$out/venv"
  "$out/venv/bin/pip" install --quiet \
    "mcp==$PYTHON_MCP_VERSION" \
    "opentelemetry-sdk==$PYTHON_OTEL_VERSION" \
    "opentelemetry-exporter-otlp-proto-grpc==$PYTHON_OTEL_VERSION" \
    "opentelemetry-exporter-otlp-proto-http==$PYTHON_OTEL_VERSION" \
    "prometheus_client==$PYTHON_PROMETHEUS_CLIENT_VERSION" \
    "pytest==$PYTHON_PYTEST_VERSION" \
    "pyyaml==$PYTHON_PYYAML_VERSION"
}

install_node() {
  (cd "$out" && npm init -y >/dev/null &&
    npm install --no-audit --no-fund --loglevel=error \
      "@modelcontextprotocol/inspector@$MCP_INSPECTOR_VERSION" \
      "kubernetes-mcp-server-linux-amd64@$GO_PEER_VERSION")
}

# cargo-deny (licenses, bans, sources of the dependency graph) and cargo-cyclonedx (the SBOM),
# from crates.io, built in a scratch target so the workspace's stays as it is.
install_cargo_tools() {
  CARGO_TARGET_DIR=$(scratch cargo-tools) cargo install --quiet --locked --root "$out" \
    "cargo-deny@$CARGO_DENY_VERSION" "cargo-cyclonedx@$CARGO_CYCLONEDX_VERSION"
  rm -rf "$work_root/cargo-tools"
}

# Debian packages the tests and scripts run (wrk: e2e/bench/http_load.py; buildah and mmdebstrap:
# e2e/images.sh; lua5.4: the Argo CD health check's test, e2e/tests/test_gitops_status.py). Not cached here: apt keeps them installed, so this is a check when they are.
debian_packages=(wrk buildah mmdebstrap lua5.4)
install_debian_packages() {
  local missing=() package
  for package in "${debian_packages[@]}"; do
    dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q "install ok installed" || missing+=("$package")
  done
  [[ ${#missing[@]} -eq 0 ]] && return
  log "apt: installing ${missing[*]}"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
}

declare -A steps=(
  [kubernetes]="$kubernetes_dir build_kubernetes"
  [etcd]="$etcd_dir build_etcd"
  [otelcol]="$otelcol_dir build_otelcol"
  [prometheus]="$prometheus_dir build_prometheus"
  [prometheus-operator]="$prometheus_operator_dir build_prometheus_operator"
  [helm]="$helm_dir build_helm"
  [registry]="$registry_dir build_registry"
  [kstatus]="$kstatus_dir build_kstatus"
  [kubelet-api]="$kubelet_api_dir build_kubelet_api"
  [metrics-server]="$metrics_server_dir build_metrics_server"
  [virt-template]="$virt_template_dir build_virt_template"
  [python]="$python_dir install_python"
  [node]="$node_dir install_node"
  [cargo-tools]="$cargo_tools_dir install_cargo_tools"
)
order=(etcd kubernetes otelcol python node prometheus prometheus-operator helm kstatus kubelet-api metrics-server virt-template registry cargo-tools)

wanted=("$@")
[[ ${#wanted[@]} -gt 0 ]] || wanted=("${order[@]}")
total_start=$SECONDS
[[ $# -gt 0 ]] || install_debian_packages
for name in "${wanted[@]}"; do
  [[ -n "${steps[$name]:-}" ]] || { log "unknown component '$name' (known: ${order[*]})"; exit 2; }
  read -r dir fn <<<"${steps[$name]}"
  run_step "$name" "$dir" "$fn"
  echo "cache: $dir"
done
log "done in $((SECONDS - total_start))s"
