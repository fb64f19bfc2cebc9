"""What a kubelet and a CNI would do for a pod whose process we run ourselves: a pod IP on the
stack's namespace loopback, and the Pod bound to the node and reported Running and Ready. Used by
the MCP client tests and the demo (the Rust harness has the same in `kubelet.rs`)."""

import contextlib
import json
import os
import shutil
import subprocess
import time


def _kubectl(*args, stdin=None):
    kubectl = shutil.which("kubectl", path=os.environ.get("KMCP_BIN", ""))
    return subprocess.run([kubectl, *args], input=stdin, capture_output=True, text=True, check=True).stdout


def claim_address():
    """Claims the next free 10.244.0.N (N = 2..254) in the stack's cluster network: a file created
    exclusively in $KMCP_STACK_DIR/pod-ips, the scheme the Rust harness uses too."""
    claims = os.path.join(os.environ["KMCP_STACK_DIR"], "pod-ips")
    os.makedirs(claims, exist_ok=True)
    for n in range(2, 255):
        ip = f"10.244.0.{n}"
        try:
            os.close(os.open(os.path.join(claims, ip), os.O_CREAT | os.O_EXCL))
        except FileExistsError:
            continue
        return ip
    raise RuntimeError("no free pod IP left in 10.244.0.0/24")


def release_address(ip):
    with contextlib.suppress(FileNotFoundError):
        os.remove(os.path.join(os.environ["KMCP_STACK_DIR"], "pod-ips", ip))


def claim_pod_ip():
    """The next free 10.244.0.N, on the namespace's loopback for a process of the test itself."""
    ip = claim_address()
    subprocess.run(["ip", "addr", "add", f"{ip}/32", "dev", "lo"], check=True)
    return ip


def mark_running(namespace, name, ip):
    """What a kubelet reports: bound to the node, Running and Ready on its pod IP."""
    node = _kubectl("get", "nodes", "-o", "jsonpath={.items[0].metadata.name}")
    binding = {"apiVersion": "v1", "kind": "Binding", "metadata": {"name": name, "namespace": namespace},
               "target": {"apiVersion": "v1", "kind": "Node", "name": node}}
    _kubectl("create", "-f", "-", stdin=json.dumps(binding))
    now = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    conditions = [{"type": t, "status": "True", "lastTransitionTime": now} for t in ("PodScheduled", "Initialized", "ContainersReady", "Ready")]
    status = {"status": {"phase": "Running", "podIP": ip, "podIPs": [{"ip": ip}], "hostIP": "10.244.0.1", "startTime": now,
                         "conditions": conditions,
                         "containerStatuses": [{"name": name, "image": "registry.invalid/kubernetes-mcp-server:dev", "imageID": "", "ready": True,
                                                "restartCount": 0, "started": True, "state": {"running": {"startedAt": now}}}]}}
    _kubectl("patch", "pod", name, "-n", namespace, "--subresource=status", "--type=merge", "-p", json.dumps(status))
