# Part of e2e/stack.sh, which sources it: starting metrics-server and registering it with the
# aggregation layer. Uses stack.sh's `start`, `wait_for`, `kubectl` and its addresses and ports.
# shellcheck shell=bash

# metrics-server, registered as the APIService v1beta1.metrics.k8s.io (e2e/stack/metrics-server.yaml:
# a Service without selector whose EndpointSlice is this address, as the aggregator routes to
# endpoints, there being no kube-proxy). It scrapes the kubelet API's /metrics/resource every 10 s,
# its shortest resolution, as admin. Not waited for: figures take two scrapes (10 s) and only the
# top tests need them; they wait for what they read (e2e/tests/support/metrics.py).
start_metrics_server() {
  local p="$stack_dir/pki"
  start metrics-server "$metrics_server_dir/bin/metrics-server" --kubeconfig="$p/admin.kubeconfig" \
    --authentication-kubeconfig="$p/admin.kubeconfig" --authorization-kubeconfig="$p/admin.kubeconfig" \
    --bind-address="$node_ip" --secure-port="$metrics_server_port" \
    --tls-cert-file="$p/metrics-server.crt" --tls-private-key-file="$p/metrics-server.key" \
    --kubelet-certificate-authority="$p/ca.crt" --kubelet-client-certificate="$p/apiserver-kubelet-client.crt" \
    --kubelet-client-key="$p/apiserver-kubelet-client.key" --kubelet-preferred-address-types=InternalIP \
    --kubelet-use-node-status-port --metric-resolution=10s --kubelet-request-timeout=5s
  register_metrics_server &
}

# Registered once it listens: the aggregator checks a new APIService at once, but one it found
# unavailable only every 30 s.
register_metrics_server() {
  wait_for metrics-server "$stack_dir/logs/metrics-server.log" 60 \
    curl -sk -o /dev/null "https://$node_ip:$metrics_server_port/livez"
  sed -e "s#@CA_BUNDLE@#$(base64 -w0 <"$stack_dir/pki/ca.crt")#" -e "s#@ADDRESS@#$node_ip#" \
    -e "s#@PORT@#$metrics_server_port#" "$e2e_dir/stack/metrics-server.yaml" | kubectl apply -f - >/dev/null
}
