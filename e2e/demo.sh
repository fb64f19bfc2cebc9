#!/usr/bin/env bash
# The local demo: builds what is missing, starts the test stack (etcd, kube-apiserver,
# kube-controller-manager, OTel Collector, prometheus-operator, Prometheus) in a private network
# namespace, runs kubernetes-mcp-server on a pod IP inside it, forwards 127.0.0.1:${DEMO_PORT:-18080}
# on the host to it, makes a few MCP calls with the official Python SDK, and stays up until
# Ctrl-C. Nothing is left running afterwards.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
port=${DEMO_PORT:-18080}

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

echo "== running kubernetes-mcp-server as pod demo/kubernetes-mcp-server on a pod IP, port 8080"
sock="$PWD/$stack_dir/demo-forward.sock"
e2e/stack.sh exec -- bash -c "
  set -e
  kubectl create namespace demo >/dev/null
  kubectl run kubernetes-mcp-server -n demo --image=kubernetes-mcp-server:dev --labels=app=kubernetes-mcp-server --port=8080 >/dev/null
  kubectl create service clusterip kubernetes-mcp-server -n demo --tcp=8080:8080 >/dev/null
  kubectl label service kubernetes-mcp-server -n demo app=kubernetes-mcp-server >/dev/null
  kubectl apply -f e2e/demo/servicemonitor.yaml >/dev/null
  # Play kubelet: the pod IP, then the server process, then the Pod's Running/Ready status.
  \"\$KMCP_PYTHON\" -c 'import sys; sys.path.insert(0, \"e2e/stack\"); import kubelet; print(kubelet.claim_pod_ip())' >$stack_dir/demo-ip
  pod_ip=\$(cat $stack_dir/demo-ip)
  OTEL_EXPORTER_OTLP_ENDPOINT=\$OTLP_GRPC_ENDPOINT OTEL_BSP_SCHEDULE_DELAY=200 OTEL_METRIC_EXPORT_INTERVAL=5000 \\
  KUBERNETES_POD_NAME=kubernetes-mcp-server KUBERNETES_NAMESPACE=demo KUBERNETES_NODE_NAME=\$KMCP_NODE_NAME \\
  OTEL_RESOURCE_ATTRIBUTES=deployment.environment=demo \\
    nohup target/debug/kubernetes-mcp-server --port 8080 --bind-address \$pod_ip --log-level 1 \\
    >$stack_dir/logs/demo-server.log 2>&1 &
  nohup \"\$KMCP_PYTHON\" e2e/stack/forward.py inside $sock \$pod_ip:8080 >$stack_dir/logs/demo-forward.log 2>&1 &
  until curl -sf http://\$pod_ip:8080/healthz >/dev/null; do sleep 0.1; done
  \"\$KMCP_PYTHON\" -c 'import sys; sys.path.insert(0, \"e2e/stack\"); import kubelet; kubelet.mark_running(\"demo\", \"kubernetes-mcp-server\", sys.argv[1])' \$pod_ip
"
python3 e2e/stack/forward.py outside "$port" "$sock" &
forward_pid=$!
until curl -sf "http://127.0.0.1:$port/healthz" >/dev/null; do sleep 0.1; done

echo "== a real MCP client (Python SDK) on the host calls the server through the forward"
python=$(grep ^KMCP_PYTHON= "$stack_dir/env" | cut -d= -f2)
"$python" e2e/demo/demo_client.py "http://127.0.0.1:$port/mcp"
e2e/stack.sh exec -- bash -c "\"\$KMCP_PYTHON\" e2e/demo/show.py http://$(cat "$stack_dir/demo-ip"):8080 kubernetes-mcp-server demo kubernetes-mcp-server" ||
  true

cat <<TXT
== the demo is up
MCP endpoint (streamable HTTP): http://127.0.0.1:$port/mcp    legacy SSE: http://127.0.0.1:$port/sse
Try: npx @modelcontextprotocol/inspector --cli http://127.0.0.1:$port/mcp --transport http --method tools/list
kubectl:  e2e/stack.sh exec -- kubectl get all -n demo      (KUBECONFIG=$stack_dir/pki/admin.kubeconfig)
Server log: $stack_dir/logs/demo-server.log
Not yet in the demo: the operator (it does not exist yet); the pod above is run by the demo itself.
Press Ctrl-C to stop everything.
TXT
while :; do sleep 3600 & wait $!; done
