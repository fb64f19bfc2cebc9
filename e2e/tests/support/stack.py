"""The test stack as the tests see it: the repository and the built binaries, the stack's kubectl
as admin, McpServers applied from a spec, the pod runner (e2e/stack/pod_runner.py) for a
namespace, Prometheus queries, and what the tests read off a Pod or an McpServer. Does I/O
against the stack's apiserver and Prometheus."""

import contextlib
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import httpx2 as httpx

ROOT = Path(__file__).resolve().parents[3]
STACK = ROOT / "e2e" / "stack"
SERVER = Path(os.environ.get("KMCP_SERVER_BIN", ROOT / "target" / "debug" / "kubernetes-mcp-server"))
OPERATOR = ROOT / "target" / "debug" / "kubernetes-mcp-operator"
NODE_IP = os.environ.get("KMCP_NODE_IP", "10.244.0.1")
KUBECTL = shutil.which("kubectl", path=os.environ.get("KMCP_BIN", ""))
assert KUBECTL, "run inside the stack: e2e/stack.sh exec -- ... (KMCP_BIN names its kubectl)"


def kubectl(*args, stdin=None):
    """Runs the stack's kubectl as admin and returns stdout; raises on failure."""
    done = subprocess.run([KUBECTL, *args], input=stdin, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise AssertionError(f"kubectl {' '.join(args)} failed: {done.stderr}")
    return done.stdout


def apply_mcp(namespace, name, spec):
    """Creates or updates the McpServer `name` in `namespace` with `spec`."""
    kubectl("apply", "-n", namespace, "-f", "-", stdin=json.dumps({
        "apiVersion": "kubernetes-mcp.io/v1alpha1", "kind": "McpServer", "metadata": {"name": name}, "spec": spec}))


@contextlib.contextmanager
def pod_runner(namespace, log_path, images=()):
    """e2e/stack/pod_runner.py running the pods of `namespace` (images: IMAGE=PATH mappings)."""
    args = [arg for image in images for arg in ("--image", image)]
    with open(log_path, "w") as log:
        runner = subprocess.Popen([sys.executable, str(STACK / "pod_runner.py"), "--namespace", namespace, *args],
                                  stderr=log, cwd=STACK)
        try:
            yield runner
        finally:
            runner.terminate()
            runner.wait(30)


def prometheus(query):
    """The result vector of an instant query to the stack's Prometheus."""
    answer = httpx.get(os.environ["PROMETHEUS_URL"] + "/api/v1/query", params={"query": query}, timeout=10).json()
    return answer["data"]["result"]


def scraped_pod(namespace):
    """A Pod `mcp` marked Running on a fresh pod IP (returned), its Service and a ServiceMonitor
    scraping /metrics every second: a server bound to that IP on port 8080 is what the stack's
    Prometheus scrapes as job `mcp`, through prometheus-operator and Kubernetes SD."""
    from kubelet import claim_pod_ip, mark_running

    kubectl("run", "mcp", "-n", namespace, "--image=registry.invalid/kubernetes-mcp-server:dev",
            "--labels=app=mcp", "--port=8080")
    kubectl("expose", "pod", "mcp", "-n", namespace, "--name=mcp", "--port=8080")
    kubectl("patch", "service", "mcp", "-n", namespace, "--type=merge",
            "-p", '{"spec":{"ports":[{"name":"http","port":8080,"targetPort":8080}]}}')
    kubectl("label", "service", "mcp", "-n", namespace, "app=mcp")
    ip = claim_pod_ip()
    mark_running(namespace, "mcp", ip)
    monitor = {"apiVersion": "monitoring.coreos.com/v1", "kind": "ServiceMonitor", "metadata": {"name": "mcp", "namespace": namespace},
               "spec": {"selector": {"matchLabels": {"app": "mcp"}}, "endpoints": [{"port": "http", "path": "/metrics", "interval": "1s"}]}}
    kubectl("apply", "-f", "-", stdin=json.dumps(monitor))
    return ip


def is_ready(obj):
    """Whether a Pod or an McpServer has the condition Ready=True."""
    return any(c["type"] == "Ready" and c["status"] == "True" for c in obj.get("status", {}).get("conditions", []))


def pid_of(pod):
    """The host pid of a pod's process, from the pod runner's containerID."""
    return int(pod["status"]["containerStatuses"][0]["containerID"].rsplit("/", 1)[1])
