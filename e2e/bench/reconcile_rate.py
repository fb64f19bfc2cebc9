"""How the operator scales on the real apiserver: apply N McpServers at once (one `kubectl apply` of
a List), then time until every one has its children applied and its status written for its
generation, and until every one is Ready=True; count the reconciles per McpServer; measure the
operator's RSS, the CPU each part of the control plane used meanwhile, the operator's writes to the
apiserver at rest (from the apiserver's audit log: the operator runs as the stack's `audited`
user), and how long one edited McpServer among N takes to be reconciled.

No real pods: a thread of this script plays kubelet for the bench namespace without running
anything. It binds every new Pod to the node and reports it Running and Ready on an address of
10.245.0.0/16 that nothing listens on, so Deployments become available, and the operator runs
with --mcp-probe=false (Ready = Deployment available, no MCP handshake). Run inside the stack:

  cargo build --release -p kubernetes-mcp-operator
  e2e/stack.sh run -- bash -c '"$KMCP_PYTHON" e2e/bench/reconcile_rate.py'
  # BENCH_MCPSERVERS (default 100), BENCH_STEADY_SECONDS (default 300)
"""

import json
import os
import shutil
import socket
import ssl
import subprocess
import sys
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx2 as httpx

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "e2e" / "stack"))
from kubelet import CONDITIONS, binding, condition, now, pod_status  # noqa: E402

OPERATOR = os.environ.get("KMCP_OPERATOR_BIN", str(ROOT / "target" / "release" / "kubernetes-mcp-operator"))
COUNT = int(os.environ.get("BENCH_MCPSERVERS", "100"))
STEADY = float(os.environ.get("BENCH_STEADY_SECONDS", "300"))
KUBECTL = shutil.which("kubectl", path=os.environ["KMCP_BIN"])
PKI = Path(os.environ["KMCP_STACK_DIR"]) / "pki"
WRITES = {"create", "update", "patch", "delete", "deletecollection"}


def kubectl(*args, stdin=None):
    return subprocess.run([KUBECTL, *args], input=stdin, capture_output=True, text=True, check=True).stdout


def api():
    tls = ssl.create_default_context(cafile=str(PKI / "ca.crt"))
    tls.load_cert_chain(str(PKI / "admin.crt"), str(PKI / "admin.key"))
    return httpx.Client(base_url="https://127.0.0.1:6443", verify=tls, timeout=60)


def watch(client, path):
    """Every event of a watch on `path`, watched again (from a fresh list) whenever the apiserver
    closes it: it closes watchers that fall behind under load."""
    while True:
        with client.stream("GET", path, params={"watch": "1"}, timeout=None) as events:
            for line in events.iter_lines():
                yield json.loads(line)


class Kubelet(threading.Thread):
    """Marks every new Pod of `namespace` bound, Running and Ready, running nothing."""

    def __init__(self, namespace):
        super().__init__(daemon=True)
        self.namespace, self.marked = namespace, 0
        self.node = kubectl("get", "nodes", "-o", "jsonpath={.items[0].metadata.name}")

    def run(self):
        with api() as client, ThreadPoolExecutor(8) as pool:
            for event in watch(client, f"/api/v1/namespaces/{self.namespace}/pods"):
                pod = event["object"]
                if event["type"] == "ADDED" and not pod["spec"].get("nodeName"):
                    self.marked += 1
                    pool.submit(self.mark, client, pod["metadata"]["name"], self.marked)

    def mark(self, client, name, n):
        path = f"/api/v1/namespaces/{self.namespace}/pods/{name}"
        client.post(f"{path}/binding", json=binding(self.namespace, name, self.node)).raise_for_status()
        started = now()
        container = {"name": "server", "image": "none", "imageID": "", "ready": True, "restartCount": 0,
                     "started": True, "state": {"running": {"startedAt": started}}}
        status = pod_status("Running", f"10.245.{n // 250}.{n % 250 + 1}", started,
                            [condition(t, True, started) for t in CONDITIONS], container)
        client.patch(f"{path}/status", content=json.dumps({"status": status}),
                     headers={"content-type": "application/merge-patch+json"}).raise_for_status()


def cpu_seconds():
    """CPU seconds used so far by each part of the stack (and this script), by process name."""
    ticks = os.sysconf("SC_CLK_TCK")
    used = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            text = stat.read_text()
        except OSError:
            continue
        name = text[text.index("(") + 1:text.rindex(")")]
        fields = text[text.rindex(")") + 2:].split()
        used[name] = used.get(name, 0) + (int(fields[11]) + int(fields[12])) / ticks
    return used


def rss_mb(pid):
    status = Path(f"/proc/{pid}/status").read_text()
    return {k: int(line.split()[1]) / 1024 for line in status.splitlines()
            for k in ("VmRSS", "VmHWM") if line.startswith(k + ":")}


def metric(port, name):
    text = httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=5).text
    return next(float(line.rsplit(" ", 1)[1]) for line in text.splitlines() if line.startswith(name + " "))


def reconciles(port):
    return metric(port, "kubernetes_mcp_operator_reconcile_duration_seconds_count")


class Servers(threading.Thread):
    """The McpServers of `namespace` as a watch shows them (a watch, not a poll of the whole list,
    so that measuring costs the apiserver little): (generation, observed generation, Ready) by name."""

    def __init__(self, namespace):
        super().__init__(daemon=True)
        self.namespace, self.seen = namespace, {}

    def run(self):
        with api() as client:
            path = f"/apis/kubernetes-mcp.io/v1alpha1/namespaces/{self.namespace}/mcpservers"
            for event in watch(client, path):
                m = event["object"]
                status = m.get("status", {})
                ready = any(c["type"] == "Ready" and c["status"] == "True" for c in status.get("conditions", []))
                self.seen[m["metadata"]["name"]] = (m["metadata"]["generation"], status.get("observedGeneration"), ready)

    def counts(self):
        """(McpServers whose status is written for their generation, of those how many are Ready)."""
        current = [ready for generation, observed, ready in list(self.seen.values()) if observed == generation]
        return len(current), sum(current)


def operator_requests(since, key=lambda event: event["verb"]):
    """The operator's requests to the apiserver since `since` (an ISO timestamp), counted by
    `key` of each audit event (by default its verb)."""
    counts = {}
    for line in Path(os.environ["KMCP_AUDIT_LOG"]).read_text().splitlines():
        event = json.loads(line)
        if event["user"]["username"] == "audited" and event["requestReceivedTimestamp"] >= since:
            counted = key(event)
            counts[counted] = counts.get(counted, 0) + 1
    return counts


def what(event):
    """An audit event's verb and resource, e.g. `patch mcpservers/status`."""
    ref = event.get("objectRef", {})
    sub = f"/{ref['subresource']}" if ref.get("subresource") else ""
    return f"{event['verb']} {ref.get('resource', event['requestURI'])}{sub}"


def parts(before, after):
    moved = {name: after.get(name, 0) - before.get(name, 0) for name in after}
    names = ("kube-apiserver", "etcd", "kube-controller", "kubernetes-mcp-", "python")
    return ", ".join(f"{n.rstrip('-')} {moved.get(n, 0):.1f} s" for n in names)


def fresh_namespace(prefix):
    """The CRDs installed, a new namespace named from `prefix`, and a free loopback port for the
    operator's metrics."""
    namespace = f"{prefix}-{uuid.uuid4().hex[:6]}"
    kubectl("apply", "--server-side", "--force-conflicts", "-f", str(ROOT / "crds"))
    kubectl("create", "namespace", namespace)
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return namespace, probe.getsockname()[1]


def main():
    namespace, port = fresh_namespace("bench")
    print(f"load average {os.getloadavg()[0]:.2f} {os.getloadavg()[1]:.2f}; {COUNT} McpServers", flush=True)
    # Without the admission policy installed: the opt-out, so that every reconcile applies.
    operator = subprocess.Popen([OPERATOR, "--namespace", namespace, "--leader-elect=false",
                                 "--require-admission-policy=false", "--mcp-probe=false",
                                 "--metrics-bind-address", f"127.0.0.1:{port}"],
                                env=os.environ | {"KUBECONFIG": os.environ["KMCP_AUDITED_KUBECONFIG"]},
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        while True:
            try:
                httpx.get(f"http://127.0.0.1:{port}/readyz", timeout=1).raise_for_status()
                break
            except httpx.HTTPError:
                time.sleep(0.05)
        Kubelet(namespace).start()
        servers = Servers(namespace)
        servers.start()
        items = [{"apiVersion": "kubernetes-mcp.io/v1alpha1", "kind": "McpServer",
                  "metadata": {"name": f"m{i}", "namespace": namespace}, "spec": {}} for i in range(COUNT)]
        client = api()
        cpu, started = cpu_seconds(), time.perf_counter()
        applied_since = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime())
        kubectl("apply", "-f", "-", stdin=json.dumps({"apiVersion": "v1", "kind": "List", "items": items}))
        observed_at = None
        while True:
            current, ready = servers.counts()
            if observed_at is None and current == COUNT:
                observed_at = time.perf_counter() - started
            if ready == COUNT:
                break
            time.sleep(0.1)
        elapsed = time.perf_counter() - started
        at_ready, cpu_ready = reconciles(port), cpu_seconds()
        print(f"children applied and status written for all {COUNT} in {observed_at:.1f} s; "
              f"all Ready in {elapsed:.1f} s; {at_ready / COUNT:.2f} reconciles per McpServer by then", flush=True)
        print(f"CPU meanwhile: {parts(cpu, cpu_ready)}", flush=True)
        requests = sorted(operator_requests(applied_since, what).items(), key=lambda kv: -kv[1])
        print("the operator's requests by then: " + ", ".join(f"{k} {n}" for k, n in requests), flush=True)
        time.sleep(15)
        settled = reconciles(port)
        print(f"{settled / COUNT:.2f} reconciles per McpServer 15 s later; operator RSS "
              + ", ".join(f"{k} {v:.1f} MB" for k, v in rss_mb(operator.pid).items()), flush=True)

        since = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime())
        time.sleep(STEADY)
        verbs = operator_requests(since)
        writes = sum(n for verb, n in verbs.items() if verb in WRITES)
        print(f"at rest for {STEADY:.0f} s: {writes} writes by the operator (requests by verb: {verbs}), "
              f"{reconciles(port) - settled:.0f} reconciles; RSS "
              + ", ".join(f"{k} {v:.1f} MB" for k, v in rss_mb(operator.pid).items()), flush=True)

        name = f"m{COUNT // 2}"
        path = f"/apis/kubernetes-mcp.io/v1alpha1/namespaces/{namespace}/mcpservers/{name}"
        edited = time.perf_counter()
        generation = client.patch(path, content=json.dumps({"spec": {"server": {"readOnly": True}}}),
                                  headers={"content-type": "application/merge-patch+json"}).json()["metadata"]["generation"]
        while servers.seen[name][1] != generation:
            time.sleep(0.005)
        print(f"one edited McpServer among {COUNT} reconciled (status written for its generation) "
              f"in {time.perf_counter() - edited:.2f} s", flush=True)
    finally:
        # The finalizers need the operator: delete the McpServers before stopping it.
        subprocess.run([KUBECTL, "delete", "mcpservers", "--all", "-n", namespace, "--wait=true", "--timeout=600s"],
                       capture_output=True)
        operator.terminate()
        operator.wait(20)
        subprocess.run([KUBECTL, "delete", "namespace", namespace, "--wait=false"], capture_output=True)


if __name__ == "__main__":
    sys.exit(main())
