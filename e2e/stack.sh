#!/usr/bin/env bash
# The test stack: a little cluster with its own network, for people and scripts.
#
#   e2e/stack.sh up               start everything in a private network namespace, wait until ready
#   e2e/stack.sh exec -- CMD ...  run CMD inside that namespace with the stack's env
#   e2e/stack.sh status           one line per part
#   e2e/stack.sh down             stop everything; nothing is left running
#   e2e/stack.sh run -- CMD ...   up, exec CMD, down (the exit code is CMD's)
#
# Parts: etcd, kube-apiserver, kube-controller-manager (no node-lifecycle controller), a Node
# object with a kubelet API for the pod runner's pods (e2e/stack/kubelet: containerLogs, exec,
# stats/summary, metrics/resource, node logs), metrics-server and virt-template's API server
# behind the aggregation layer (metrics.k8s.io, subresources.template.kubevirt.io), the
# OpenTelemetry Collector (OTLP gRPC + HTTP -> JSON lines), prometheus-operator with its CRDs
# and a Prometheus CR, Prometheus 3 running the config prometheus-operator generated, and an OCI
# registry (the distribution registry) on 127.0.0.1:5000 from which the pod runner pulls the
# images e2e/images.sh --push pushes.
# Everything runs in one network namespace (`unshare --user --net --pid`, every uid mapped to
# itself when run as root so that pods run as their image's USER; only root otherwise): the
# node's address is 10.244.0.1 (on the namespace's loopback), the apiserver and the collector
# listen on every address of the namespace so that pods reach them there, test processes get
# 10.244.0.N on the loopback and the pod runner's pods get their own network namespace with
# 10.244.0.N (e2e/stack/pod_runner.py); every process dies with the namespace. Binaries come from e2e/stack/install.sh (run it first).
#
# State, logs and the env file live in $KMCP_STACK_DIR (default e2e/.stack).
set -euo pipefail

e2e_dir=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
stack_dir=${KMCP_STACK_DIR:-$e2e_dir/.stack}
# shellcheck source=stack/paths.sh
source "$e2e_dir/stack/paths.sh"
# shellcheck source=stack/aggregated.sh
source "$e2e_dir/stack/aggregated.sh"

k8s_bin="$kubernetes_dir/bin"
etcd_bin="$etcd_dir/bin"
otelcol_bin="$otelcol_dir/bin"
prom_bin="$prometheus_dir/bin"
promop_dir="$prometheus_operator_dir"

# Fixed ports: the namespace is private, so nothing else can hold them.
etcd_port=2379
etcd_peer_port=2380
apiserver_port=6443
otlp_grpc_port=4317
otlp_http_port=4318
collector_health_port=13133
prometheus_port=9090
promop_port=8085
kubelet_port=10250
metrics_server_port=4443
virt_template_port=4444
registry_port=5000
node_name=e2e-node
# What a workload needs (Deployments to Pods, Services to Endpoints and EndpointSlices, tokens,
# garbage collection) and nothing that takes seconds to start or expects a kubelet.
kcm_controllers=deployment-controller,replicaset-controller,statefulset-controller,garbage-collector-controller,serviceaccount-token-controller,serviceaccount-controller,namespace-controller,endpoints-controller,endpointslice-controller,root-ca-certificate-publisher-controller,clusterrole-aggregation-controller
pod_cidr=10.244.0.0/24
# The Node's InternalIP: pods reach the apiserver and the collector here.
node_ip=10.244.0.1

log() { printf '[stack %s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }
die() { log "ERROR: $*"; exit 1; }

# wait_for PART LOG TIMEOUT_S CMD...: retries CMD every 0.1 s until it succeeds.
wait_for() {
  local part=$1 logfile=$2 timeout=$3 deadline
  shift 3
  deadline=$((SECONDS + timeout))
  until "$@" >/dev/null 2>&1; do
    if ((SECONDS >= deadline)); then
      die "$part not ready after ${timeout}s; read $logfile"
    fi
    sleep 0.1
  done
}

# start PART CMD...: runs CMD in the background, logging to logs/PART.log, pid in pids/PART.
start() {
  local part=$1
  shift
  "$@" >"$stack_dir/logs/$part.log" 2>&1 &
  echo $! >"$stack_dir/pids/$part"
}

kubectl() { "$k8s_bin/kubectl" --kubeconfig "$stack_dir/pki/admin.kubeconfig" "$@"; }

gen_pki() {
  local d="$stack_dir/pki"
  mkdir -p "$d"
  (
    cd "$d"
    openssl ecparam -name prime256v1 -genkey -noout -out ca.key 2>/dev/null
    openssl req -x509 -new -key ca.key -sha256 -days 30 -subj "/CN=kubernetes-mcp-e2e-ca" \
      -addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign,cRLSign" \
      -out ca.crt 2>/dev/null
    # leaf NAME SUBJECT EXTENSIONS: an X.509 v3 cert signed by the CA (v1 certs break rustls).
    leaf() {
      openssl ecparam -name prime256v1 -genkey -noout -out "$1.key" 2>/dev/null
      openssl req -new -key "$1.key" -subj "$2" -out "$1.csr" 2>/dev/null
      printf '%s\n' "$3" >"$1.ext"
      openssl x509 -req -in "$1.csr" -CA ca.crt -CAkey ca.key -CAcreateserial -days 30 -sha256 \
        -extfile "$1.ext" -out "$1.crt" 2>/dev/null
      rm -f "$1.csr" "$1.ext"
    }
    leaf apiserver "/CN=kube-apiserver" "basicConstraints=CA:FALSE
keyUsage=critical,digitalSignature,keyEncipherment
extendedKeyUsage=serverAuth
subjectAltName=DNS:localhost,DNS:kubernetes,DNS:kubernetes.default,DNS:kubernetes.default.svc,DNS:kubernetes.default.svc.cluster.local,IP:127.0.0.1,IP:::1,IP:10.0.0.1,IP:10.244.0.1"
    leaf admin "/O=system:masters/CN=admin" "basicConstraints=CA:FALSE
keyUsage=critical,digitalSignature,keyEncipherment
extendedKeyUsage=clientAuth"
    # The kubelet API's serving cert, and the client cert the apiserver shows it.
    leaf kubelet "/CN=system:node:$node_name" "basicConstraints=CA:FALSE
keyUsage=critical,digitalSignature,keyEncipherment
extendedKeyUsage=serverAuth
subjectAltName=DNS:$node_name,IP:$node_ip"
    leaf apiserver-kubelet-client "/CN=kube-apiserver-kubelet-client" "basicConstraints=CA:FALSE
keyUsage=critical,digitalSignature,keyEncipherment
extendedKeyUsage=clientAuth"
    # The apiserver's identity towards aggregated API servers (--proxy-client-cert-file), the one
    # name they take X-Remote-User from; and metrics-server's serving cert, for the APIService.
    leaf front-proxy-client "/CN=front-proxy-client" "basicConstraints=CA:FALSE
keyUsage=critical,digitalSignature,keyEncipherment
extendedKeyUsage=clientAuth"
    leaf metrics-server "/CN=metrics-server" "basicConstraints=CA:FALSE
keyUsage=critical,digitalSignature,keyEncipherment
extendedKeyUsage=serverAuth
subjectAltName=DNS:metrics-server.kube-system.svc,IP:$node_ip"
    leaf virt-template-apiserver "/CN=virt-template" "basicConstraints=CA:FALSE
keyUsage=critical,digitalSignature,keyEncipherment
extendedKeyUsage=serverAuth
subjectAltName=DNS:virt-template.kube-system.svc,IP:$node_ip"
    # virt-template's API server's own user: not an admin (aggregated.sh gives it upstream's role).
    leaf virt-template "/CN=virt-template-apiserver" "basicConstraints=CA:FALSE
keyUsage=critical,digitalSignature,keyEncipherment
extendedKeyUsage=clientAuth"
    leaf kcm "/CN=system:kube-controller-manager" "basicConstraints=CA:FALSE
keyUsage=critical,digitalSignature,keyEncipherment
extendedKeyUsage=clientAuth"
    # An admin whose every request the apiserver's audit log records (the benchmarks count the
    # operator's requests by running it as this user).
    leaf audited "/O=system:masters/O=kubernetes-mcp:audited/CN=audited" "basicConstraints=CA:FALSE
keyUsage=critical,digitalSignature,keyEncipherment
extendedKeyUsage=clientAuth"
    openssl genrsa -out sa.key 2048 2>/dev/null
    openssl rsa -in sa.key -pubout -out sa.pub 2>/dev/null
  )
  write_kubeconfig admin
  write_kubeconfig kcm
  write_kubeconfig audited
  write_kubeconfig virt-template
}

write_kubeconfig() {
  local d="$stack_dir/pki" user=$1
  cat >"$d/$user.kubeconfig" <<EOF
apiVersion: v1
kind: Config
clusters:
- name: e2e
  cluster:
    server: https://127.0.0.1:$apiserver_port
    certificate-authority-data: $(base64 -w0 <"$d/ca.crt")
users:
- name: $user
  user:
    client-certificate-data: $(base64 -w0 <"$d/$user.crt")
    client-key-data: $(base64 -w0 <"$d/$user.key")
contexts:
- name: e2e
  context:
    cluster: e2e
    user: $user
    namespace: default
current-context: e2e
EOF
}

start_etcd() {
  start etcd "$etcd_bin/etcd" --name=e2e --data-dir="$stack_dir/etcd" \
    --listen-client-urls="http://127.0.0.1:$etcd_port" --advertise-client-urls="http://127.0.0.1:$etcd_port" \
    --listen-peer-urls="http://127.0.0.1:$etcd_peer_port" \
    --initial-advertise-peer-urls="http://127.0.0.1:$etcd_peer_port" \
    --initial-cluster="e2e=http://127.0.0.1:$etcd_peer_port" \
    --unsafe-no-fsync=true --quota-backend-bytes=1073741824 --logger=zap --log-level=warn
  wait_for etcd "$stack_dir/logs/etcd.log" 30 curl -sf "http://127.0.0.1:$etcd_port/readyz"
}

start_apiserver() {
  local p="$stack_dir/pki"
  # Only the requests of the group kubernetes-mcp:audited, at Metadata level, once each.
  cat >"$stack_dir/audit-policy.yaml" <<EOF
apiVersion: audit.k8s.io/v1
kind: Policy
omitStages: [RequestReceived]
rules:
- level: Metadata
  userGroups: ["kubernetes-mcp:audited"]
- level: None
EOF
  start kube-apiserver "$k8s_bin/kube-apiserver" --etcd-servers="http://127.0.0.1:$etcd_port" \
    --bind-address=0.0.0.0 --secure-port="$apiserver_port" --advertise-address=127.0.0.1 \
    --endpoint-reconciler-type=none \
    --tls-cert-file="$p/apiserver.crt" --tls-private-key-file="$p/apiserver.key" --client-ca-file="$p/ca.crt" \
    --service-account-issuer=https://kubernetes.default.svc.cluster.local \
    --service-account-key-file="$p/sa.pub" --service-account-signing-key-file="$p/sa.key" \
    --kubelet-client-certificate="$p/apiserver-kubelet-client.crt" \
    --kubelet-client-key="$p/apiserver-kubelet-client.key" --kubelet-certificate-authority="$p/ca.crt" \
    --kubelet-preferred-address-types=InternalIP \
    --requestheader-client-ca-file="$p/ca.crt" --requestheader-allowed-names=front-proxy-client \
    --requestheader-username-headers=X-Remote-User --requestheader-group-headers=X-Remote-Group \
    --requestheader-extra-headers-prefix=X-Remote-Extra- \
    --proxy-client-cert-file="$p/front-proxy-client.crt" --proxy-client-key-file="$p/front-proxy-client.key" \
    --enable-aggregator-routing=true \
    --authorization-mode=Node,RBAC --service-cluster-ip-range=10.0.0.0/16 --allow-privileged=true \
    --audit-policy-file="$stack_dir/audit-policy.yaml" --audit-log-path="$stack_dir/logs/audit.log" \
    --audit-log-format=json \
    --profiling=false --v=1
  wait_for kube-apiserver "$stack_dir/logs/kube-apiserver.log" 60 \
    curl -sf --cacert "$p/ca.crt" --cert "$p/admin.crt" --key "$p/admin.key" \
    "https://127.0.0.1:$apiserver_port/readyz"
}

start_controller_manager() {
  local p="$stack_dir/pki"
  # No node-lifecycle controller: nothing heartbeats the Node, and it must stay Ready.
  # KMCP_KCM_QPS raises its client's rate limit (default 20 requests/s, burst 30, per
  # controller), which is what paces 1,000 new Deployments in e2e/bench/reconcile_rate.py.
  start kube-controller-manager "$k8s_bin/kube-controller-manager" \
    --kubeconfig="$p/kcm.kubeconfig" --authentication-kubeconfig="$p/kcm.kubeconfig" \
    --authorization-kubeconfig="$p/kcm.kubeconfig" --bind-address=127.0.0.1 --secure-port=0 \
    --leader-elect=false --use-service-account-credentials=true \
    --service-account-private-key-file="$p/sa.key" --root-ca-file="$p/ca.crt" \
    --cluster-signing-cert-file="$p/ca.crt" --cluster-signing-key-file="$p/ca.key" \
    --controllers="$kcm_controllers" \
    --cluster-name=e2e ${KMCP_KCM_QPS:+--kube-api-qps="$KMCP_KCM_QPS" --kube-api-burst="$KMCP_KCM_QPS"}
  wait_for kube-controller-manager "$stack_dir/logs/kube-controller-manager.log" 60 \
    kubectl get serviceaccount default -n default
}

create_node() {
  kubectl apply -f - >/dev/null <<EOF
apiVersion: v1
kind: Node
metadata:
  name: $node_name
  labels: {kubernetes.io/hostname: $node_name, kubernetes.io/os: linux}
spec:
  podCIDR: $pod_cidr
EOF
  local now
  now=$(date -u +%Y-%m-%dT%H:%M:%SZ)
  kubectl patch node "$node_name" --subresource=status --type=merge -p "{\"status\":{
    \"conditions\":[{\"type\":\"Ready\",\"status\":\"True\",\"reason\":\"KubeletReady\",
      \"message\":\"e2e pod runner\",\"lastHeartbeatTime\":\"$now\",\"lastTransitionTime\":\"$now\"}],
    \"addresses\":[{\"type\":\"InternalIP\",\"address\":\"$node_ip\"},{\"type\":\"Hostname\",\"address\":\"$node_name\"}],
    \"capacity\":{\"cpu\":\"2\",\"memory\":\"8Gi\",\"pods\":\"110\"},
    \"allocatable\":{\"cpu\":\"2\",\"memory\":\"8Gi\",\"pods\":\"110\"},
    \"daemonEndpoints\":{\"kubeletEndpoint\":{\"Port\":$kubelet_port}}}}" >/dev/null
}

# The kubelet API the apiserver proxies pods/log, pods/exec and nodes/proxy to (e2e/stack/kubelet);
# it reads the pods e2e/stack/pod_runner.py runs from $stack_dir/pods.
start_kubelet() {
  local p="$stack_dir/pki"
  start kubelet "$kubelet_api_dir/bin/kubelet-api" --listen="0.0.0.0:$kubelet_port" --stack-dir="$stack_dir" \
    --node-name="$node_name" --tls-cert="$p/kubelet.crt" --tls-key="$p/kubelet.key" --client-ca="$p/ca.crt"
  wait_for kubelet "$stack_dir/logs/kubelet.log" 30 \
    curl -sf --cacert "$p/ca.crt" --cert "$p/admin.crt" --key "$p/admin.key" "https://$node_ip:$kubelet_port/healthz"
}

start_collector() {
  local out="$stack_dir/collector"
  mkdir -p "$out"
  : >"$out/otlp.jsonl"
  OTLP_GRPC="0.0.0.0:$otlp_grpc_port" OTLP_HTTP="0.0.0.0:$otlp_http_port" \
    HEALTH="127.0.0.1:$collector_health_port" OUTPUT="$out/otlp.jsonl" \
    start otelcol "$otelcol_bin/otelcol" --config "$e2e_dir/stack/otelcol.yaml"
  wait_for otelcol "$stack_dir/logs/otelcol.log" 30 curl -sf "http://127.0.0.1:$collector_health_port/"
}

start_prometheus_operator() {
  kubectl apply --server-side -f "$promop_dir/crds/" >/dev/null
  kubectl wait --for=condition=Established --timeout=30s crd/servicemonitors.monitoring.coreos.com \
    crd/prometheuses.monitoring.coreos.com >/dev/null 2>&1
  KUBECONFIG="$stack_dir/pki/admin.kubeconfig" start prometheus-operator \
    "$promop_dir/bin/prometheus-operator" --web.listen-address="127.0.0.1:$promop_port"
  kubectl apply -f "$e2e_dir/stack/prometheus-cr.yaml" >/dev/null
  wait_for prometheus-operator "$stack_dir/logs/prometheus-operator.log" 60 \
    kubectl get secret -n monitoring prometheus-e2e
}

# The config prometheus-operator generated, made runnable outside a pod: fill in the variables
# its config-reloader would expand, and point Kubernetes SD at our apiserver.
render_prometheus_config() {
  local dest=$1 tmp="$1.new"
  kubectl get secret -n monitoring prometheus-e2e -o jsonpath='{.data.prometheus\.yaml\.gz}' |
    base64 -d | gunzip |
    sed -e 's/\$(SHARD)/0/g' -e 's/\$(POD_NAME)/prometheus-e2e-0/g' |
    awk -v kc="$stack_dir/pki/admin.kubeconfig" '
      { print }
      /^[[:space:]]*kubernetes_sd_configs:[[:space:]]*$/ { insd = 1; next }
      insd && /^[[:space:]]*- role:/ {
        indent = $0; sub(/-.*/, "", indent)
        print indent "  kubeconfig_file: " kc
      }
      insd && !/^[[:space:]]*(- role:|role:|namespaces:|names:|- |selectors:|label:|field:|own_namespace:|attach_metadata:|node:)/ { insd = 0 }
    ' >"$tmp"
  mv "$tmp" "$dest"
}

start_prometheus() {
  local cfg="$stack_dir/prometheus/prometheus.yml"
  mkdir -p "$stack_dir/prometheus/data"
  render_prometheus_config "$cfg"
  start prometheus "$prom_bin/prometheus" --config.file="$cfg" \
    --storage.tsdb.path="$stack_dir/prometheus/data" \
    --web.listen-address="127.0.0.1:$prometheus_port" --web.enable-lifecycle \
    --enable-feature=exemplar-storage --scrape.discovery-reload-interval=200ms
  wait_for prometheus "$stack_dir/logs/prometheus.log" 30 curl -sf "http://127.0.0.1:$prometheus_port/-/ready"
  # The config-reloader's job: when prometheus-operator regenerates the config, reload.
  start prometheus-reloader prometheus_reloader "$cfg"
}

prometheus_reloader() {
  local cfg=$1 fresh="$1.candidate"
  while sleep 1; do
    render_prometheus_config "$fresh" 2>/dev/null || continue
    if ! cmp -s "$fresh" "$cfg"; then
      mv "$fresh" "$cfg"
      curl -sf -X POST "http://127.0.0.1:$prometheus_port/-/reload" >/dev/null &&
        echo "$(date +%H:%M:%S) reloaded"
    fi
  done
}

# The distribution registry, plain HTTP on loopback (as a kubelet pulls from a node-local
# registry); its storage lives and dies with the stack.
start_registry() {
  cat >"$stack_dir/registry.yaml" <<EOF
version: 0.1
log: {level: warn, accesslog: {disabled: true}}
storage: {filesystem: {rootdirectory: $stack_dir/registry}, delete: {enabled: true}}
http: {addr: 127.0.0.1:$registry_port}
EOF
  start registry "$registry_dir/bin/registry" serve "$stack_dir/registry.yaml"
  wait_for registry "$stack_dir/logs/registry.log" 30 curl -sf "http://127.0.0.1:$registry_port/v2/"
}

write_env() {
  cat >"$stack_dir/env.new" <<EOF
KUBECONFIG=$stack_dir/pki/admin.kubeconfig
KMCP_AUDITED_KUBECONFIG=$stack_dir/pki/audited.kubeconfig
KMCP_AUDIT_LOG=$stack_dir/logs/audit.log
KMCP_STACK_DIR=$stack_dir
KMCP_NODE_IP=$node_ip
KMCP_NODE_NAME=$node_name
OTLP_GRPC_ENDPOINT=http://127.0.0.1:$otlp_grpc_port
OTLP_HTTP_ENDPOINT=http://127.0.0.1:$otlp_http_port
COLLECTOR_OUTPUT=$stack_dir/collector/otlp.jsonl
PROMETHEUS_URL=http://127.0.0.1:$prometheus_port
KMCP_REGISTRY=127.0.0.1:$registry_port
POD_CIDR=$pod_cidr
KMCP_PYTHON=$python_dir/venv/bin/python
KMCP_NODE_MODULES=$node_dir/node_modules
KMCP_BIN=$k8s_bin:$prom_bin:$helm_dir/bin:$otelcol_bin:$kstatus_dir/bin:$registry_dir/bin
EOF
  mv "$stack_dir/env.new" "$stack_dir/env"
}

# Runs as PID 1 of the private namespace: starts the parts, then waits until killed.
init_inside() {
  # The parent writes the uid and gid maps (map_ids): wait for them before doing anything.
  until [[ -n $(cat /proc/self/uid_map) ]]; do sleep 0.02; done
  trap 'kill $(jobs -p) 2>/dev/null; wait; exit 0' TERM INT
  ip link set lo up
  ip addr add "$node_ip/32" dev lo
  mkdir -p "$stack_dir/logs" "$stack_dir/pids" "$stack_dir/pod-ips"
  local t0=$SECONDS part
  for part in gen_pki start_kubelet start_etcd start_apiserver start_controller_manager create_node start_metrics_server start_virt_template start_collector \
    start_prometheus_operator start_prometheus start_registry write_env; do
    local s=$SECONDS
    if ! ( "$part" ); then
      echo "$part" >"$stack_dir/failed"
      kill "$(jobs -p)" 2>/dev/null
      exit 1
    fi
    log "${part#start_}: ready (+$((SECONDS - s))s)"
  done
  log "stack up in $((SECONDS - t0))s"
  touch "$stack_dir/ready"
  while :; do sleep 3600 & wait $!; done
}

init_pid() {
  [[ -f "$stack_dir/init.pid" ]] || return 1
  local pid
  pid=$(cat "$stack_dir/init.pid")
  kill -0 "$pid" 2>/dev/null || return 1
  echo "$pid"
}

# map_ids PID: the user namespace of PID (unshare) maps every uid and gid to itself when we are
# root, so that a pod can run as its image's USER (65532); otherwise only our own ids, as root.
map_ids() {
  local pid=$1 ours
  ours=$(readlink /proc/self/ns/user)
  # unshare makes the namespace just after it starts.
  while [[ $(readlink "/proc/$pid/ns/user") == "$ours" ]]; do sleep 0.01; done
  if ((EUID == 0)); then
    echo "0 0 4294967295" >"/proc/$pid/uid_map"
    echo "0 0 4294967295" >"/proc/$pid/gid_map"
  else
    echo deny >"/proc/$pid/setgroups"
    echo "0 $EUID 1" >"/proc/$pid/uid_map"
    echo "0 $(id -g) 1" >"/proc/$pid/gid_map"
  fi
}

# The process that is PID 1 inside the namespace: unshare's child.
ns_pid() {
  local pid child
  pid=$(init_pid) || return 1
  child=$(cat "/proc/$pid/task/$pid/children" 2>/dev/null | awk '{print $1}')
  [[ -n "$child" ]] || return 1
  echo "$child"
}

cmd_up() {
  if init_pid >/dev/null && [[ -f "$stack_dir/ready" ]]; then
    log "already up (env: $stack_dir/env)"
    return
  fi
  cmd_down quiet
  local b
  for b in "$k8s_bin/kube-apiserver" "$etcd_bin/etcd" "$otelcol_bin/otelcol" "$prom_bin/prometheus" \
    "$promop_dir/bin/prometheus-operator" "$kubelet_api_dir/bin/kubelet-api" "$metrics_server_dir/bin/metrics-server" "$registry_dir/bin/registry" \
    "$virt_template_dir/bin/virt-template-apiserver"; do
    [[ -x "$b" ]] || die "missing $b: run e2e/stack/install.sh first"
  done
  rm -rf "$stack_dir"
  mkdir -p "$stack_dir/logs"
  log "starting in a private network namespace (logs: $stack_dir/logs)"
  setsid unshare --user --net --pid --fork --mount-proc --kill-child \
    "$0" __init >"$stack_dir/logs/stack.log" 2>&1 </dev/null &
  echo $! >"$stack_dir/init.pid"
  # setsid starts a scheduling autogroup at nice 0: give it the caller's, so that a benchmark
  # started at a raised priority (echo -15 >/proc/self/autogroup) runs its stack at it too.
  { sed -n 's/.* nice //p' /proc/self/autogroup >"/proc/$!/autogroup"; } 2>/dev/null || true
  map_ids $!
  local deadline=$((SECONDS + 180))
  until [[ -f "$stack_dir/ready" ]]; do
    if [[ -f "$stack_dir/failed" ]] || ! init_pid >/dev/null; then
      cat "$stack_dir/logs/stack.log" >&2
      local failed
      failed=$(cat "$stack_dir/failed" 2>/dev/null || echo "?")
      die "part '${failed#start_}' failed; logs in $stack_dir/logs/"
    fi
    ((SECONDS < deadline)) || die "not ready after 180s; read $stack_dir/logs/stack.log"
    sleep 0.2
  done
  cat "$stack_dir/logs/stack.log" >&2
  log "env: $stack_dir/env"
}

cmd_exec() {
  local pid
  pid=$(ns_pid) || die "the stack is not up: run e2e/stack.sh up"
  [[ -f "$stack_dir/ready" ]] || die "the stack is not ready"
  set -a
  # shellcheck disable=SC1091
  source "$stack_dir/env"
  set +a
  # The stack's own kubectl, promtool and helm come first.
  export PATH="$KMCP_BIN:$PATH"
  exec nsenter --target "$pid" --user --net --mount --pid --preserve-credentials --wd="$PWD" -- "$@"
}

cmd_down() {
  local pid child
  if pid=$(init_pid); then
    # unshare ignores SIGTERM while it waits: ask the namespace's PID 1 to stop its parts.
    if child=$(ns_pid); then kill -TERM "$child" 2>/dev/null || true; fi
    local i
    for i in $(seq 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    # --kill-child: killing unshare kills the namespace's PID 1, and with it every process inside.
    kill -KILL "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
    [[ "${1:-}" == quiet ]] || log "down"
  elif [[ "${1:-}" != quiet ]]; then
    log "not running"
  fi
  rm -f "$stack_dir/init.pid" "$stack_dir/ready"
}

cmd_status() {
  local pid
  if ! pid=$(ns_pid); then
    echo "stack: down"
    return 1
  fi
  echo "stack: up (namespace pid $pid, env $stack_dir/env)"
  local part
  for part in kubelet etcd kube-apiserver kube-controller-manager metrics-server virt-template otelcol prometheus-operator prometheus prometheus-reloader registry; do
    local p state=down
    p=$(cat "$stack_dir/pids/$part" 2>/dev/null || echo "")
    # Pids are the namespace's own: look them up from inside.
    if [[ -n "$p" ]] && nsenter --target "$pid" --user --pid --mount --preserve-credentials -- kill -0 "$p" 2>/dev/null; then
      state=running
    fi
    printf '  %-24s %s (log %s)\n' "$part" "$state" "$stack_dir/logs/$part.log"
  done
}

case "${1:-}" in
  up) cmd_up ;;
  down) cmd_down ;;
  status) cmd_status ;;
  exec)
    shift
    [[ "${1:-}" == -- ]] && shift
    [[ $# -gt 0 ]] || die "usage: e2e/stack.sh exec -- CMD ..."
    cmd_exec "$@"
    ;;
  run)
    shift
    [[ "${1:-}" == -- ]] && shift
    [[ $# -gt 0 ]] || die "usage: e2e/stack.sh run -- CMD ..."
    cmd_up
    trap 'cmd_down' EXIT
    rc=0
    ( cmd_exec "$@" ) || rc=$?
    exit "$rc"
    ;;
  __init) init_inside ;;
  *)
    sed -n '2,15p' "$0" | sed 's/^# \{0,1\}//'
    exit 2
    ;;
esac
