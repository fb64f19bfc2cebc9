#!/usr/bin/env bash
# The local demo: builds what is missing, starts the test stack (etcd, kube-apiserver,
# kube-controller-manager, OTel Collector, prometheus-operator, Prometheus) in a private network
# namespace, runs kubernetes-mcp-server on a pod IP inside it, forwards 127.0.0.1:${DEMO_PORT:-18080}
# on the host to it, makes a few MCP calls with the official Python SDK, and stays up until
# Ctrl-C. Nothing is left running afterwards.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
port=${DEMO_PORT:-18080}
pod_ip=10.244.0.250

echo "== building components (cached in ~/.cache/kubernetes-mcp) and the server"
e2e/stack/install.sh etcd kubernetes otelcol prometheus prometheus-operator python
cargo build --locked -p kubernetes-mcp-server

echo "== starting the stack"
e2e/stack.sh up
stack_dir=${KMCP_STACK_DIR:-e2e/.stack}
cleanup() {
  echo "== stopping"
  kill "${forward_pid:-}" 2>/dev/null || true
  e2e/stack.sh down
}
trap cleanup EXIT
trap 'exit 0' INT TERM

echo "== running kubernetes-mcp-server on $pod_ip:8080 inside the cluster network"
sock="$PWD/$stack_dir/demo-forward.sock"
e2e/stack.sh exec -- bash -c "
  ip addr add $pod_ip/32 dev lo
  kubectl create namespace demo >/dev/null
  nohup target/debug/kubernetes-mcp-server --port 8080 --bind-address $pod_ip --log-level 1 \
    >$stack_dir/logs/demo-server.log 2>&1 &
  nohup \"\$KMCP_PYTHON\" e2e/stack/forward.py inside $sock $pod_ip:8080 \
    >$stack_dir/logs/demo-forward.log 2>&1 &
  until curl -sf http://$pod_ip:8080/healthz >/dev/null; do sleep 0.1; done
"
python3 e2e/stack/forward.py outside "$port" "$sock" &
forward_pid=$!
until curl -sf "http://127.0.0.1:$port/healthz" >/dev/null; do sleep 0.1; done

echo "== a real MCP client (Python SDK) on the host calls the server through the forward"
"$(grep ^KMCP_PYTHON= "$stack_dir/env" | cut -d= -f2)" e2e/demo/demo_client.py "http://127.0.0.1:$port/mcp"

cat <<TXT
== the demo is up
MCP endpoint (streamable HTTP): http://127.0.0.1:$port/mcp    legacy SSE: http://127.0.0.1:$port/sse
Try: npx @modelcontextprotocol/inspector --cli http://127.0.0.1:$port/mcp --transport http --method tools/list
kubectl:  e2e/stack.sh exec -- kubectl get all -n demo      (KUBECONFIG=$stack_dir/pki/admin.kubeconfig)
Server log: $stack_dir/logs/demo-server.log
Not yet in the demo: the operator and trace export (see the README's status section).
Press Ctrl-C to stop everything.
TXT
while :; do sleep 3600 & wait $!; done
