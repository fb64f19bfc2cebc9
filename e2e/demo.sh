#!/usr/bin/env bash
# The local demo: builds what is missing, starts the test stack (etcd, kube-apiserver,
# kube-controller-manager, OTel Collector, prometheus-operator, Prometheus) in a private network
# namespace, builds the server's image and pushes it to the stack's registry, installs the CRD,
# runs the operator, applies e2e/demo/mcpserver.yaml, runs the pod the operator's Deployment asks
# for (e2e/stack/pod_runner.py plays kubelet: it pulls the image and runs it), forwards
# 127.0.0.1:${DEMO_PORT:-18080} on the host to the McpServer's Service, makes a few MCP calls with
# the official Python SDK, shows /stats, the trace tree and Prometheus, and stays up until Ctrl-C.
# Nothing is left running afterwards.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
port=${DEMO_PORT:-18080}
step() { printf '== [%s] %s\n' "$(date +%T)" "$*"; }

step "building the test components (cached in ~/.cache/kubernetes-mcp) and the two programs"
read -ra components <<<"$(source e2e/stack/paths.sh && echo "${stack_components[@]}")"
e2e/stack/install.sh "${components[@]}" python
cargo build --locked -p kubernetes-mcp-server -p kubernetes-mcp-operator
e2e/images.sh --debug

step "starting the stack"
e2e/stack.sh up
stack_dir=${KMCP_STACK_DIR:-e2e/.stack}
logs=$stack_dir/logs
cleanup() {
  step "stopping"
  kill "${forward_pid:-}" 2>/dev/null || true
  e2e/stack.sh down
}
trap cleanup EXIT
trap 'exit 0' INT TERM

step "pushing the images, installing the CRD and its ClusterRoles, starting the operator and the pod runner, applying the McpServer"
sock="$PWD/$stack_dir/demo-forward.sock"
e2e/stack.sh exec -- bash -c "
  set -e
  e2e/images.sh --debug --push
  image=\$KMCP_REGISTRY/kubernetes-mcp-server:dev
  kubectl apply --server-side -f crds/ -f config/rbac/ -f config/admission/ >/dev/null
  kubectl wait --for=condition=Established crd/mcpservers.kubernetes-mcp.io >/dev/null
  kubectl create namespace demo >/dev/null
  nohup target/debug/kubernetes-mcp-operator --default-image \$image >$logs/operator.log 2>&1 &
  (cd e2e/stack && nohup \"\$KMCP_PYTHON\" pod_runner.py --namespace demo >$PWD/$logs/pod-runner.log 2>&1 &)
  kubectl apply -f e2e/demo/mcpserver.yaml >/dev/null
  kubectl wait -n demo mcpserver/kubernetes-mcp --for=condition=Ready --timeout=90s >/dev/null
  kubectl get -n demo mcpservers,pods -o wide
  (cd e2e/stack && nohup \"\$KMCP_PYTHON\" service_proxy.py demo kubernetes-mcp 8080 >$PWD/$logs/service-proxy.log 2>&1 &)
  until grep -q ^ready $logs/service-proxy.log; do sleep 0.1; done
  # /stats and /metrics are served on the metrics port, apart from MCP.
  (cd e2e/stack && nohup \"\$KMCP_PYTHON\" service_proxy.py demo kubernetes-mcp 9090 >$PWD/$logs/metrics-proxy.log 2>&1 &)
  until grep -q ^ready $logs/metrics-proxy.log; do sleep 0.1; done
  nohup \"\$KMCP_PYTHON\" e2e/stack/forward.py inside $sock \$(cut -d' ' -f2 $logs/service-proxy.log) \
    >$logs/demo-forward.log 2>&1 &
"
python3 e2e/stack/forward.py outside "$port" "$sock" &
forward_pid=$!
until curl -sf "http://127.0.0.1:$port/healthz" >/dev/null; do sleep 0.1; done

step "a real MCP client (Python SDK) on the host calls the server through the forward"
python=$(grep ^KMCP_PYTHON= "$stack_dir/env" | cut -d= -f2)
"$python" e2e/demo/demo_client.py "http://127.0.0.1:$port/mcp"
e2e/stack.sh exec -- bash -c "
  kubectl get -n demo mcpserver kubernetes-mcp
  \"\$KMCP_PYTHON\" e2e/demo/show.py http://\$(cut -d' ' -f2 $logs/metrics-proxy.log) kubernetes-mcp-server demo kubernetes-mcp" ||
  true

cat <<TXT
== the demo is up
MCP endpoint (streamable HTTP): http://127.0.0.1:$port/mcp    legacy SSE: http://127.0.0.1:$port/sse
  (a forward from host loopback to the Service kubernetes-mcp in namespace demo, like kubectl port-forward)
Try: npx @modelcontextprotocol/inspector --cli http://127.0.0.1:$port/mcp --transport http --method tools/list
kubectl:  e2e/stack.sh exec -- kubectl get kmcps,all -n demo      (KUBECONFIG=$stack_dir/pki/admin.kubeconfig)
Logs: $logs/operator.log  $logs/pod-runner.log  $stack_dir/pods/*/container.log
Press Ctrl-C to stop everything.
TXT
while :; do sleep 3600 & wait $!; done
