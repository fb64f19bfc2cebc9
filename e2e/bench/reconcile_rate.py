"""How fast the operator turns McpServers into their children on the real apiserver: apply N
McpServers at once (one `kubectl apply` of a List), then time until every one reports its
generation as observed (every child applied, status written). Prints the wall time, McpServers
per second and the operator's own reconcile duration (from its /metrics). Run inside the stack:

  cargo build --release -p kubernetes-mcp-operator
  e2e/stack.sh exec -- bash -c '$KMCP_PYTHON e2e/bench/reconcile_rate.py'      # BENCH_MCPSERVERS=100
"""

import json
import os
import shutil
import socket
import subprocess
import sys
import time
import uuid
from pathlib import Path

import httpx2 as httpx

ROOT = Path(__file__).resolve().parents[2]
OPERATOR = os.environ.get("KMCP_OPERATOR_BIN", str(ROOT / "target" / "release" / "kubernetes-mcp-operator"))
COUNT = int(os.environ.get("BENCH_MCPSERVERS", "100"))
KUBECTL = shutil.which("kubectl", path=os.environ["KMCP_BIN"])


def kubectl(*args, stdin=None):
    return subprocess.run([KUBECTL, *args], input=stdin, capture_output=True, text=True, check=True).stdout


def observed(namespace):
    items = json.loads(kubectl("get", "mcpservers", "-n", namespace, "-o", "json"))["items"]
    return sum(1 for m in items if m.get("status", {}).get("observedGeneration") == m["metadata"]["generation"])


def metric(text, name):
    return next(float(line.rsplit(" ", 1)[1]) for line in text.splitlines() if line.startswith(name + " "))


def main():
    namespace = f"bench-{uuid.uuid4().hex[:6]}"
    kubectl("apply", "--server-side", "--force-conflicts", "-f", str(ROOT / "crds"))
    kubectl("create", "namespace", namespace)
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    # Without the admission policy installed: the opt-out, so that every reconcile applies.
    operator = subprocess.Popen([OPERATOR, "--namespace", namespace, "--leader-elect=false",
                                 "--require-admission-policy=false",
                                 "--metrics-bind-address", f"127.0.0.1:{port}"],
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        while True:
            try:
                httpx.get(f"http://127.0.0.1:{port}/readyz", timeout=1).raise_for_status()
                break
            except httpx.HTTPError:
                time.sleep(0.05)
        items = [{"apiVersion": "kubernetes-mcp.io/v1alpha1", "kind": "McpServer",
                  "metadata": {"name": f"m{i}", "namespace": namespace}, "spec": {}} for i in range(COUNT)]
        started = time.perf_counter()
        kubectl("apply", "-f", "-", stdin=json.dumps({"apiVersion": "v1", "kind": "List", "items": items}))
        while observed(namespace) < COUNT:
            time.sleep(0.05)
        elapsed = time.perf_counter() - started
        text = httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=5).text
        reconciles = metric(text, "kubernetes_mcp_operator_reconcile_duration_seconds_count")
        total = metric(text, "kubernetes_mcp_operator_reconcile_duration_seconds_sum")
        print(f"{COUNT} McpServers (6 children each) applied and observed in {elapsed:.2f} s: "
              f"{COUNT / elapsed:.1f} McpServers/s; {reconciles:.0f} reconciles, "
              f"mean {total / reconciles * 1000:.1f} ms each (includes the finalizer pass)")
    finally:
        # The finalizers need the operator: delete the McpServers before stopping it.
        subprocess.run([KUBECTL, "delete", "mcpservers", "--all", "-n", namespace, "--wait=true", "--timeout=120s"],
                       capture_output=True)
        operator.terminate()
        operator.wait(20)
        subprocess.run([KUBECTL, "delete", "namespace", namespace, "--wait=false"], capture_output=True)


if __name__ == "__main__":
    sys.exit(main())
