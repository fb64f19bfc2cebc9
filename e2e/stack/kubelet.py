"""What a kubelet, a scheduler and a CNI would do for a pod, in the Python side of the tests: pod
IPs claimed on the stack's cluster network, the Binding a scheduler posts, the status a kubelet
reports, and `mark_running` for a pod whose process a test runs itself. The pod runner builds on
the same pieces; Rust tests have theirs in the harness's `kubelet.rs` and `pod_ip.rs`. The claims
do file I/O, `mark_running` runs kubectl."""

import contextlib
import json
import os
import shutil
import subprocess
import time

NODE_IP = os.environ.get("KMCP_NODE_IP", "10.244.0.1")
CONDITIONS = ("PodScheduled", "Initialized", "ContainersReady", "Ready")


def now():
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())


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


def binding(namespace, name, node):
    """The body a scheduler posts to `pods/binding`: the Pod onto `node`."""
    return {"apiVersion": "v1", "kind": "Binding", "metadata": {"name": name, "namespace": namespace},
            "target": {"apiVersion": "v1", "kind": "Node", "name": node}}


def condition(type_, ok, since):
    return {"type": type_, "status": "True" if ok else "False", "lastTransitionTime": since, "lastProbeTime": None}


def pod_status(phase, ip, started, conditions, container):
    """The Pod status a kubelet reports on this node: one container, the pod IP once it has one."""
    status = {"phase": phase, "hostIP": NODE_IP, "hostIPs": [{"ip": NODE_IP}], "startTime": started,
              "conditions": conditions, "containerStatuses": [container]}
    if ip:
        status.update(podIP=ip, podIPs=[{"ip": ip}])
    return status


def _kubectl(*args, stdin=None):
    kubectl = shutil.which("kubectl", path=os.environ.get("KMCP_BIN", ""))
    return subprocess.run([kubectl, *args], input=stdin, capture_output=True, text=True, check=True).stdout


def claim_pod_ip():
    """The next free 10.244.0.N, on the namespace's loopback for a process of the test itself."""
    ip = claim_address()
    subprocess.run(["ip", "addr", "add", f"{ip}/32", "dev", "lo"], check=True)
    return ip


def mark_running(namespace, name, ip):
    """What a kubelet reports: bound to the node, Running and Ready on its pod IP."""
    node = _kubectl("get", "nodes", "-o", "jsonpath={.items[0].metadata.name}")
    _kubectl("create", "-f", "-", stdin=json.dumps(binding(namespace, name, node)))
    started = now()
    container = {"name": name, "image": "registry.invalid/kubernetes-mcp-server:dev", "imageID": "", "ready": True,
                 "restartCount": 0, "started": True, "state": {"running": {"startedAt": started}}}
    status = pod_status("Running", ip, started, [condition(t, True, started) for t in CONDITIONS], container)
    _kubectl("patch", "pod", name, "-n", namespace, "--subresource=status", "--type=merge",
             "-p", json.dumps({"status": status}))
