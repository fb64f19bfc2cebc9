"""Pods run their image: the pod runner pulls the image from the stack's registry (pushed there by
e2e/images.sh --debug --push) and runs what it holds, so the pod's root is the image's filesystem
(no shell in ours), the process runs as the image's USER (65532) and cannot write a read-only
root; runAsNonRoot refuses an image whose user is root with the kubelet's reason, and an image
the registry does not hold gives ErrImagePull / ImagePullBackOff. Real operator, real registry."""

import errno
import json
import os
import re
import subprocess

import pytest

from support.cluster import IMAGE
from support.images import derive
from support.stack import KUBECTL, is_ready, kubectl, pid_of
from support.wait import eventually

SERVER_IMAGE = IMAGE.split("/", 1)[1]  # NAME:TAG in the registry


def run_pod(namespace, name, image, pod_context=None, **container):
    kubectl("apply", "-f", "-", stdin=json.dumps({
        "apiVersion": "v1", "kind": "Pod", "metadata": {"name": name, "namespace": namespace},
        "spec": {"securityContext": pod_context or {},
                 "containers": [{"name": "main", "image": image, **container}]}}))


def pod(namespace, name):
    return json.loads(kubectl("get", "pod", name, "-n", namespace, "-o", "json"))


def waiting(namespace, name, reasons):
    """The container's waiting state once its reason is one of `reasons`."""
    def check():
        statuses = pod(namespace, name).get("status", {}).get("containerStatuses") or [{}]
        state = (statuses[0].get("state") or {}).get("waiting") or {}
        return state if state.get("reason") in reasons else None
    return eventually(f"{name} waiting with {reasons}", check, seconds=60)


def uid_of(pid):
    with open(f"/proc/{pid}/status") as f:
        return int(re.search(r"^Uid:\s+(\d+)", f.read(), re.M).group(1))


def test_the_mcp_servers_pod_is_the_image_run_as_its_user_on_a_read_only_root(cluster):
    cluster.apply("imaged", {})
    cluster.ready("imaged")
    p = cluster.ready_pods("imaged", 1)[0]
    assert p["spec"]["containers"][0]["image"] == IMAGE
    # The digest pulled, as a kubelet reports it.
    assert re.fullmatch(re.escape(IMAGE.rsplit(":", 1)[0]) + r"@sha256:[0-9a-f]{64}",
                        p["status"]["containerStatuses"][0]["imageID"])
    pid = pid_of(p)
    root = f"/proc/{pid}/root"
    # The image's filesystem, not the host's: its binary is there, and no shell.
    assert os.path.isfile(f"{root}/usr/local/bin/kubernetes-mcp-server")
    assert not os.path.exists(f"{root}/bin/sh") and not os.path.exists(f"{root}/usr/bin/python3")
    assert os.path.isfile(f"{root}/etc/kubernetes-mcp/config.toml"), "the ConfigMap volume is mounted into it"
    assert uid_of(pid) == 65532, "the image's USER, not root"
    # readOnlyRootFilesystem: even root cannot write the pod's root.
    with pytest.raises(OSError) as refused:
        open(f"{root}/written-by-the-test", "w").close()
    assert refused.value.errno == errno.EROFS
    # No shell to exec into: the kubelet API's exec runs in the pod's root.
    shell = subprocess.run([KUBECTL, "exec", "-n", cluster.ns, p["metadata"]["name"], "--", "sh", "-c", "true"],
                           capture_output=True, text=True, check=False)
    assert shell.returncode != 0, shell.stdout


def test_a_root_image_is_refused_under_run_as_non_root_and_runs_as_root_without(ns):
    as_root = derive(SERVER_IMAGE, "kubernetes-mcp-server-as-root:1", User="0")
    no_user = derive(SERVER_IMAGE, "kubernetes-mcp-server-no-user:1", User="")
    run_pod(ns, "refused", as_root, {"runAsNonRoot": True}, args=["--port", "8080"])
    run_pod(ns, "unset", no_user, {"runAsNonRoot": True}, args=["--port", "8080"])
    run_pod(ns, "overridden", no_user, {"runAsNonRoot": True, "runAsUser": 0}, args=["--port", "8080"])
    for name in ("refused", "unset"):
        state = waiting(ns, name, {"CreateContainerConfigError"})
        uid = pod(ns, name)["metadata"]["uid"]
        assert state["message"] == (f'container has runAsNonRoot and image will run as root '
                                    f'(pod: "{name}_{ns}({uid})", container: main)')
    state = waiting(ns, "overridden", {"CreateContainerConfigError"})
    assert state["message"].startswith("container's runAsUser breaks non-root policy")
    # Without runAsNonRoot the same image runs, as its USER: root.
    run_pod(ns, "allowed", as_root, args=["--port", "8080"])
    allowed = eventually("allowed running", lambda: (p := pod(ns, "allowed")) and is_ready(p) and p)
    assert uid_of(pid_of(allowed)) == 0


def test_an_image_the_registry_does_not_hold_is_an_image_pull_error(ns):
    missing = IMAGE.rsplit(":", 1)[0] + "-never-pushed:1"
    run_pod(ns, "missing", missing)
    state = waiting(ns, "missing", {"ErrImagePull", "ImagePullBackOff"})
    assert missing in state["message"]
    state = waiting(ns, "missing", {"ImagePullBackOff"})
    assert state["message"] == f'Back-off pulling image "{missing}"'
    assert not pod(ns, "missing")["status"]["containerStatuses"][0]["ready"]
