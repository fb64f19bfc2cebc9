"""The floor under `reconcile_rate.py`: what the control plane alone needs to make N McpServers'
children ready, with no operator at all. The operator makes one McpServer's children first (a
template); then it is stopped, and this script applies N copies of those children itself, by
server-side apply from 16 threads (as many as the operator's reconciles at once), in the
operator's order, and times until every copy's Deployment is available. The same kubelet stand-in
as `reconcile_rate.py` marks the pods Running and Ready. If this alone takes longer than the
goal, no operator can meet it on the same machine.

BENCH_FLOOR=writes makes, besides, every other write the operator makes for a new McpServer, with
the bodies it wrote for the template: the McpServer itself (created, as `kubectl apply` does),
its cleanup finalizer, the children owned by it (so the garbage collector tracks them), its
status while rolling out and an Event, then, once its Deployment is available, its Ready status
and an Event. What `reconcile_rate.py` takes beyond that is the operator's reads (its watches,
the sweep's and the pods' lists), its second apply of the Deployment and its own CPU. Run inside
the stack:

  cargo build --release -p kubernetes-mcp-operator
  KMCP_KCM_QPS=1000 e2e/stack.sh run -- bash -c 'BENCH_MCPSERVERS=1000 "$KMCP_PYTHON" e2e/bench/children_floor.py'
  # BENCH_FLOOR=children (default) or writes
"""

import json
import os
import subprocess
import sys
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor

from reconcile_rate import (COUNT, KUBECTL, OPERATOR, Kubelet, api, cpu_seconds, fresh_namespace, kubectl, parts,
                            watch)

TEMPLATE = "floorprobe"
WRITES = os.environ.get("BENCH_FLOOR", "children") == "writes"
SERVERS = "/apis/kubernetes-mcp.io/v1alpha1"
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
            kept = ("name", "namespace", "labels") + (("ownerReferences",) if WRITES else ())
            item["metadata"] = {k: v for k, v in meta.items() if k in kept}
            item["apiVersion"], item["kind"] = api_version, listed["kind"].removesuffix("List")
            item.pop("status", None)
            for field in ("clusterIP", "clusterIPs"):
                item.get("spec", {}).pop(field, None)
            children.append((api_version, plural, json.dumps(item)))
    return children


def server_writes(client, namespace):
    """The template McpServer's uid, and the bodies of the operator's writes for it: its status
    while rolling out and once Ready (apply bodies), and its Events."""
    mcp = client.get(f"{SERVERS}/namespaces/{namespace}/mcpservers/{TEMPLATE}").json()
    ready = {"apiVersion": mcp["apiVersion"], "kind": mcp["kind"],
             "metadata": {"name": TEMPLATE, "namespace": namespace}, "status": mcp["status"]}
    rolling = json.loads(json.dumps(ready))
    flipped = {"Ready": "False", "Available": "False", "Reconciling": "True"}
    for c in rolling["status"]["conditions"]:
        c["status"] = flipped.get(c["type"], c["status"])
    # The Events of a first reconcile (Applied) and of the one that sees it Ready, as the
    # operator published them for the template (by reason: a Warning of a retried reconcile is
    # not one every McpServer gets).
    events = {}
    for e in client.get(f"/apis/events.k8s.io/v1/namespaces/{namespace}/events").json()["items"]:
        if e["regarding"]["name"] == TEMPLATE:
            e["metadata"] = {"name": e["metadata"]["name"], "namespace": namespace}
            events[e["reason"]] = json.dumps(e)
    print(f"the template's Events: {', '.join(sorted(events))}", flush=True)
    return (mcp["metadata"]["uid"], (json.dumps(rolling), [events["Applied"]]),
            (json.dumps(ready), [events["Ready"]]))


def main():
    namespace, port = fresh_namespace("floor")
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
        if WRITES:
            template_uid, rolling, ready = server_writes(client, namespace)
    finally:
        operator.terminate()
        operator.wait(20)
    print(f"template: {len(children)} children of one McpServer "
          f"({', '.join(json.loads(body)['kind'] for _, _, body in children)})"
          + (", two status writes and two Events" if WRITES else ""), flush=True)
    uids = {}

    # each copy's Deployment name, to its McpServer's; the template's own is not one of them
    deployment = next(json.loads(body)["metadata"]["name"] for _, plural, body in children if plural == "deployments")
    server_of = {deployment.replace(TEMPLATE, f"f{i}"): f"f{i}" for i in range(COUNT)}
    available = set()

    def count_available():
        path = f"/apis/apps/v1/namespaces/{namespace}/deployments"
        for event in watch(api(), path):
            d = event["object"]
            name = d["metadata"]["name"]
            if name in server_of and name not in available and d.get("status", {}).get("availableReplicas", 0) >= 1:
                available.add(name)
                if WRITES:
                    done.submit(server_ready, server_of[name])

    threading.Thread(target=count_available, daemon=True).start()

    def apply(own, path, body):
        own.patch(path, content=body, params={"fieldManager": "floor", "force": "true"},
                  headers={"content-type": "application/apply-patch+yaml"}).raise_for_status()

    def create(own, path, body):
        own.post(path, content=body, headers={"content-type": "application/json"}).raise_for_status()

    def copy_of(body, name):
        """A template body for the copy `name`: its names, and the uid of its McpServer."""
        body = body.replace(TEMPLATE, name)
        return body.replace(template_uid, uids[name]) if WRITES else body

    def server_ready(name):
        """The second status write and Event of the McpServer whose Deployment is available."""
        with api() as own:
            status_and_events(own, name, *ready)

    def status_and_events(own, name, status, events):
        apply(own, f"{SERVERS}/namespaces/{namespace}/mcpservers/{name}/status", copy_of(status, name))
        for n, event in enumerate(events):
            body = json.loads(copy_of(event, name))
            body["metadata"]["name"] = f"{name}.{uuid.uuid4().hex[:12]}.{n}"
            create(own, f"/apis/events.k8s.io/v1/namespaces/{namespace}/events", json.dumps(body))

    def apply_copy(i):
        name = f"f{i}"
        with api() as own:
            if WRITES:
                path = f"{SERVERS}/namespaces/{namespace}/mcpservers"
                created = own.post(path, json={"apiVersion": "kubernetes-mcp.io/v1alpha1", "kind": "McpServer",
                                               "metadata": {"name": name, "namespace": namespace}, "spec": {}})
                uids[name] = created.raise_for_status().json()["metadata"]["uid"]
                own.patch(f"{path}/{name}", json={"metadata": {"finalizers": ["kubernetes-mcp.io/cleanup"]}},
                          headers={"content-type": "application/merge-patch+json"}).raise_for_status()
            for api_version, plural, body in children:
                body = copy_of(body, name)
                child = json.loads(body)["metadata"]["name"]
                apply(own, f"{base(api_version)}/namespaces/{namespace}/{plural}/{child}", body)
            if WRITES:
                status_and_events(own, name, *rolling)

    done = ThreadPoolExecutor(8)
    cpu, started = cpu_seconds(), time.perf_counter()
    with ThreadPoolExecutor(16) as pool:
        list(pool.map(apply_copy, range(COUNT)))
    applied_at = time.perf_counter() - started
    deadline = started + 600
    while len(available) < COUNT and time.perf_counter() < deadline:
        time.sleep(0.1)
    done.shutdown(wait=True)
    elapsed = time.perf_counter() - started
    print(f"all {COUNT} copies' children applied in {applied_at:.1f} s; {len(available)} of {COUNT} "
          f"Deployments available{' and every write made' if WRITES else ''} in {elapsed:.1f} s", flush=True)
    print(f"CPU meanwhile: {parts(cpu, cpu_seconds())}", flush=True)
    subprocess.run([KUBECTL, "delete", "namespace", namespace, "--wait=false"],
                   capture_output=True)
    return 0 if len(available) == COUNT else 1


if __name__ == "__main__":
    sys.exit(main())
