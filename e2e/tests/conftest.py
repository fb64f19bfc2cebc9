"""Fixtures for the Python suite: real clients (the official MCP SDK, the MCP Inspector CLI) and
the real binaries against the test stack's apiserver, collector and Prometheus. Run inside the
stack: `e2e/stack.sh exec -- $KMCP_PYTHON -m pytest e2e/tests`. Helpers other than fixtures are
in support/."""

import json
import uuid

import pytest

from support import metrics
from support.cluster import IMAGE, Cluster
from support.operator import Operator
from support.stack import ROOT, is_ready, kubectl, pod_runner
from support.wait import eventually


@pytest.fixture
def anyio_backend():
    return "asyncio"


@pytest.fixture(scope="session")
def crds():
    """The McpServer CRD, installed from crds/ and established; the ClusterRoles McpServers are
    bound to and the admission policy on who may ask for them (config/rbac, config/admission)."""
    kubectl("apply", "--server-side", "--force-conflicts", "-f", str(ROOT / "crds"),
            "-f", str(ROOT / "config" / "rbac"), "-f", str(ROOT / "config" / "admission"))
    kubectl("wait", "--for=condition=Established", "crd/mcpservers.kubernetes-mcp.io")


@pytest.fixture
def metrics_api():
    """metrics.k8s.io served: the stack's metrics-server registered and Available (support/metrics.py)."""
    metrics.wait_available()


@pytest.fixture
def namespace():
    """A fresh namespace, deleted (without waiting) after the test."""
    name = f"mcp-{uuid.uuid4().hex[:8]}"
    kubectl("create", "namespace", name)
    yield name
    kubectl("delete", "namespace", name, "--wait=false")


@pytest.fixture(scope="module")
def operator(crds, tmp_path_factory):
    """The operator binary watching every namespace (the end-to-end suites)."""
    with Operator(tmp_path_factory.mktemp("operator"), "--default-image", IMAGE) as process:
        yield process


@pytest.fixture
def cluster(operator, namespace, tmp_path):
    with pod_runner(namespace, tmp_path / "pod-runner.log"):
        try:
            yield Cluster(namespace, tmp_path)
        finally:
            kubectl("delete", "mcpservers", "--all", "-n", namespace, "--wait=true", "--timeout=60s")


@pytest.fixture
def ns(namespace, tmp_path):
    """A fresh namespace whose pods the pod runner runs."""
    with pod_runner(namespace, tmp_path / "pod-runner.log"):
        try:
            yield namespace
        finally:
            kubectl("delete", "pods", "--all", "-n", namespace, "--wait=true", "--timeout=60s")


# Fifty numbered lines, then it keeps running so that it can be exec'd into.
TALKER_SCRIPT = 'for i in $(seq 1 50); do echo "line $i"; done; echo "to stderr" >&2; exec sleep 3600'


@pytest.fixture
def talker(namespace, tmp_path):
    """The pod `talker` of a fresh namespace, run by the pod runner and Ready: (namespace, name)."""
    with pod_runner(namespace, tmp_path / "pod-runner.log"):
        kubectl("apply", "-f", "-", stdin=json.dumps({
            "apiVersion": "v1", "kind": "Pod", "metadata": {"name": "talker", "namespace": namespace},
            "spec": {"containers": [{"name": "main", "image": "registry.invalid/shell:1",
                                     "command": ["sh", "-c", TALKER_SCRIPT]}]}}))
        eventually("talker is Ready", lambda: is_ready(json.loads(
            kubectl("get", "pod", "talker", "-n", namespace, "-o", "json"))))
        # Ready once started: wait until its first output is written too.
        eventually("talker has written its lines", lambda: "to stderr" in kubectl("logs", "talker", "-n", namespace))
        try:
            yield namespace, "talker"
        finally:
            kubectl("delete", "pods", "--all", "-n", namespace, "--wait=true", "--timeout=60s")
