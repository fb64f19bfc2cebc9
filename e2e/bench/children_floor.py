"""The floor under `reconcile_rate.py`: what the control plane alone needs to make N McpServers'
children ready, with no operator at all. The operator makes one McpServer's children first (a
template); then it is stopped, and this script applies N copies of those children itself, by
server-side apply from 16 threads (as many as the operator's reconciles at once), in the
operator's order, and times until every copy's Deployment is available. The same kubelet stand-in
as `reconcile_rate.py` marks the pods Running and Ready. If this alone takes longer than the
goal, no operator can meet it on the same machine. Run inside the stack:

  cargo build --release -p kubernetes-mcp-operator
  KMCP_KCM_QPS=1000 e2e/stack.sh run -- bash -c 'BENCH_MCPSERVERS=1000 "$KMCP_PYTHON" e2e/bench/children_floor.py'
"""

import json
import os
import socket
import subprocess
import sys
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor

from reconcile_rate import COUNT, KUBECTL, OPERATOR, ROOT, Kubelet, api, cpu_seconds, kubectl, parts, watch

TEMPLATE = "floorprobe"
# The kinds the operator applies for an McpServer with an empty spec, in its order.
KINDS = (("networking.k8s.io/v1", "networkpolicies"), ("v1", "serviceaccounts"),
         ("rbac.authorization.k8s.io/v1", "rolebindings"), ("v1", "configmaps"), ("v1", "services"),
         ("apps/v1", "deployments"))


def base(api_version):
    return "/api/v1" if api_version == "v1" else f"/apis/{api_version}"


def template(client, namespace):
    """The children the operator made for the McpServer TEMPLATE, as apply bodies: what the
    apiserver filled in (uid, status, ownership, the Service's addresses) left out."""
    children = []
    for api_version, plural in KINDS:
        listed = client.get(f"{base(api_version)}/namespaces/{namespace}/{plural}",
                            params={"labelSelector": f"app.kubernetes.io/instance={TEMPLATE}"}).json()
        for item in listed["items"]:
            meta = item["metadata"]
            item["metadata"] = {k: v for k, v in meta.items() if k in ("name", "namespace", "labels")}
            item["apiVersion"], item["kind"] = api_version, listed["kind"].removesuffix("List")
            item.pop("status", None)
            for field in ("clusterIP", "clusterIPs"):
                item.get("spec", {}).pop(field, None)
            children.append((api_version, plural, json.dumps(item)))
    return children


def main():
    namespace = f"floor-{uuid.uuid4().hex[:6]}"
    kubectl("apply", "--server-side", "--force-conflicts", "-f", str(ROOT / "crds"))
    kubectl("create", "namespace", namespace)
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    print(f"load average {os.getloadavg()[0]:.2f} {os.getloadavg()[1]:.2f}; {COUNT} McpServers' children, "
          "no operator", flush=True)
    Kubelet(namespace).start()
    client = api()
    operator = subprocess.Popen([OPERATOR, "--namespace", namespace, "--leader-elect=false",
                                 "--require-admission-policy=false", "--mcp-probe=false",
                                 "--metrics-bind-address", f"127.0.0.1:{port}"],
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        kubectl("apply", "-f", "-", stdin=json.dumps({
            "apiVersion": "kubernetes-mcp.io/v1alpha1", "kind": "McpServer",
            "metadata": {"name": TEMPLATE, "namespace": namespace}, "spec": {}}))
        kubectl("wait", "-n", namespace, f"mcpservers/{TEMPLATE}", "--for=condition=Ready", "--timeout=120s")
        children = template(client, namespace)
    finally:
        operator.terminate()
        operator.wait(20)
    print(f"template: {len(children)} children of one McpServer "
          f"({', '.join(json.loads(body)['kind'] for _, _, body in children)})", flush=True)

    available = set()

    def count_available():
        path = f"/apis/apps/v1/namespaces/{namespace}/deployments"
        for event in watch(api(), path):
            d = event["object"]
            name = d["metadata"]["name"]
            if name.startswith("f") and d.get("status", {}).get("availableReplicas", 0) >= 1:
                available.add(name)

    threading.Thread(target=count_available, daemon=True).start()

    def apply_copy(i):
        name = f"f{i}"
        with api() as own:
            for api_version, plural, body in children:
                body = body.replace(TEMPLATE, name)
                child = json.loads(body)["metadata"]["name"]
                own.patch(f"{base(api_version)}/namespaces/{namespace}/{plural}/{child}", content=body,
                          params={"fieldManager": "floor", "force": "true"},
                          headers={"content-type": "application/apply-patch+yaml"}).raise_for_status()

    cpu, started = cpu_seconds(), time.perf_counter()
    with ThreadPoolExecutor(16) as pool:
        list(pool.map(apply_copy, range(COUNT)))
    applied_at = time.perf_counter() - started
    deadline = started + 600
    while len(available) < COUNT and time.perf_counter() < deadline:
        time.sleep(0.1)
    elapsed = time.perf_counter() - started
    print(f"all {COUNT} copies' children applied in {applied_at:.1f} s; {len(available)} of {COUNT} "
          f"Deployments available in {elapsed:.1f} s", flush=True)
    print(f"CPU meanwhile: {parts(cpu, cpu_seconds())}", flush=True)
    subprocess.run([KUBECTL, "delete", "namespace", namespace, "--wait=false"],
                   capture_output=True)
    return 0 if len(available) == COUNT else 1


if __name__ == "__main__":
    sys.exit(main())
