"""The metrics API as the top tests see it: the stack's metrics-server (e2e/stack.sh) registered
as the APIService v1beta1.metrics.k8s.io, the figures it serves, the same figures measured from
/proc, and a cluster without it (the APIService removed, then put back). Does I/O against the
apiserver and reads /proc of the stack's namespace."""

import contextlib
import json
import os
import re
import subprocess

from support.stack import KUBECTL, kubectl
from support.wait import eventually

APISERVICE = "v1beta1.metrics.k8s.io"
API = "/apis/metrics.k8s.io/v1beta1"
SUFFIXES = {"n": 1e-9, "u": 1e-6, "m": 1e-3, "": 1.0, "k": 1e3, "M": 1e6, "G": 1e9,
            "Ki": 2**10, "Mi": 2**20, "Gi": 2**30, "Ti": 2**40}


def quantity(text):
    """A Kubernetes quantity as a number: '12345678n' is 0.0123..., '60420Ki' is 61870080."""
    number, suffix = re.fullmatch(r"([0-9.]+)([a-zA-Z]*)", text).groups()
    return float(number) * SUFFIXES[suffix]


def available():
    """Whether the aggregator reports the metrics APIService Available."""
    service = json.loads(kubectl("get", "apiservice", APISERVICE, "-o", "json"))
    return any(c["type"] == "Available" and c["status"] == "True" for c in service["status"].get("conditions", []))


def wait_available():
    eventually("the metrics APIService is Available", available, seconds=60)


def raw(path):
    """The metrics API's answer at `path` (under /apis/metrics.k8s.io/v1beta1), as JSON."""
    return json.loads(kubectl("get", "--raw", API + path))


def figures(path):
    """The metrics API's object at `path` once it holds usage: metrics-server needs two scrapes
    (10 s apart) of a pod or node before it serves any."""
    return eventually(f"metrics at {path}", lambda: raw(path), seconds=60, interval=1)


@contextlib.contextmanager
def absent():
    """A cluster without metrics-server, as the API sees it: the APIService deleted (the
    aggregator stops serving metrics.k8s.io), then created again and Available."""
    service = json.loads(kubectl("get", "apiservice", APISERVICE, "-o", "json"))
    kubectl("delete", "apiservice", APISERVICE)

    def gone():
        done = subprocess.run([KUBECTL, "get", "--raw", API], capture_output=True, text=True, check=False)
        return done.returncode != 0 and "NotFound" in done.stderr

    try:
        eventually("metrics.k8s.io is no longer served", gone, seconds=30)
        yield
    finally:
        kubectl("create", "-f", "-", stdin=json.dumps(
            {"apiVersion": service["apiVersion"], "kind": "APIService", "metadata": {"name": APISERVICE,
             "labels": service["metadata"].get("labels", {})}, "spec": service["spec"]}))
        wait_available()


def pod_pid(namespace, name):
    """The host pid of a pod runner pod's process (its pid file, e2e/stack/pod_runner.py)."""
    uid = kubectl("get", "pod", name, "-n", namespace, "-o", "jsonpath={.metadata.uid}")
    with open(os.path.join(os.environ["KMCP_STACK_DIR"], "pods", f"{namespace}_{name}_{uid}", "pid")) as f:
        return int(f.read())


def process_tree(root):
    """`root` and its descendants as (pid, fields of /proc/<pid>/stat after the command name)."""
    stats = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat", "rb") as f:
                    stats[int(entry)] = f.read().rsplit(b")", 1)[1].split()
            except OSError:
                continue  # ended while we read
    tree, queue = [], [root]
    while queue:
        pid = queue.pop()
        tree.append((pid, stats[pid]))
        queue += [child for child, fields in stats.items() if int(fields[1]) == pid]
    return tree


def tree_rss_bytes(root):
    """Resident memory of a process and its descendants, as /proc/<pid>/stat counts it."""
    return sum(int(fields[21]) for _, fields in process_tree(root)) * os.sysconf("SC_PAGE_SIZE")


def tree_cpu_seconds(root):
    """CPU time a process and its descendants used (and the children they reaped), in seconds."""
    ticks = sum(sum(int(fields[i]) for i in (11, 12, 13, 14)) for _, fields in process_tree(root))
    return ticks / os.sysconf("SC_CLK_TCK")


def node_memory_bytes():
    """The node's memory as the kubelet counts it: (working set, MemTotal - MemAvailable; total)."""
    with open("/proc/meminfo") as f:
        info = {line.split(":")[0]: int(line.split()[1]) * 1024 for line in f}
    return info["MemTotal"] - info["MemAvailable"], info["MemTotal"]
