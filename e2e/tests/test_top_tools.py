"""pods_top and nodes_top succeed for real through the official MCP SDK: the apiserver's
aggregation layer proxies metrics.k8s.io to the stack's metrics-server, which scrapes the stack's
kubelet API (/metrics/resource, measured from /proc). Each figure is checked against the metrics
API and against /proc; without metrics-server (its APIService removed) both tools fail."""

import json
import os
import sys

import pytest

from support import metrics
from support.server import session, text
from support.stack import is_ready, kubectl, pod_runner
from support.wait import eventually

pytestmark = pytest.mark.anyio

HELD_MIB = 48
# Holds HELD_MIB MiB (every page written, so resident) and spends ~1 ms of CPU every 50 ms.
BURNER = f"""
import time
held = b"x" * ({HELD_MIB} << 20)
while True:
    sum(range(30000))
    time.sleep(0.05)
"""


@pytest.fixture
def burner(namespace, tmp_path):
    """The pod `burner` of a fresh namespace, Ready: (namespace, name)."""
    with pod_runner(namespace, tmp_path / "pod-runner.log"):
        kubectl("run", "burner", "-n", namespace, "--image=registry.invalid/python:1", "--restart=Never",
                "--command", "--", sys.executable, "-c", BURNER)
        eventually("burner is Ready", lambda: is_ready(json.loads(
            kubectl("get", "pod", "burner", "-n", namespace, "-o", "json"))))
        try:
            yield namespace, "burner"
        finally:
            kubectl("delete", "pods", "--all", "-n", namespace, "--wait=true", "--timeout=60s")


def rows(table):
    """The rows of a tool's tab-separated table, without its header."""
    return [line.split("\t") for line in table.splitlines()[1:]]


async def steady(path, read):
    """`await read()` and the metrics API's object at `path` from one scrape: retried until the
    API answers the same before and after (a scrape every 10 s may land in between)."""
    for _ in range(5):
        before = metrics.raw(path)
        got = await read()
        if metrics.raw(path)["timestamp"] == before["timestamp"]:
            return got, before
    raise AssertionError(f"the metrics at {path} kept changing")


async def test_pods_top_is_the_containers_real_usage(metrics_api, burner):
    namespace, name = burner
    path = f"/namespaces/{namespace}/pods/{name}"
    # metrics-server drops a container whose CPU counter is still 0, and serves a rate of two scrapes.
    metrics.figures(path)
    async with session("stdio") as s:
        async def top():
            got = await s.call_tool("pods_top", {"namespace": namespace, "name": name})
            assert not got.is_error, text(got)
            return text(got)
        table, api = await steady(path, top)
    [[ns, pod, container, cpu, memory]] = rows(table)
    assert (ns, pod, container) == (namespace, name, name)  # kubectl run names the container after the pod
    # The tool prints what the metrics API serves.
    assert [cpu, memory] == [api["containers"][0]["usage"]["cpu"], api["containers"][0]["usage"]["memory"]]
    # The figures are the pod's processes': what it holds, and CPU it really spent.
    pid = metrics.pod_pid(namespace, name)
    resident = metrics.tree_rss_bytes(pid)
    assert HELD_MIB << 20 <= metrics.quantity(memory) <= resident * 1.2, (memory, resident)
    window = metrics.quantity(api["window"].rstrip("s"))
    assert 0 < metrics.quantity(cpu) < 0.5, cpu
    assert metrics.quantity(cpu) * window <= metrics.tree_cpu_seconds(pid) + 0.05, (cpu, window)


async def test_nodes_top_is_the_nodes_real_usage(metrics_api):
    node = os.environ["KMCP_NODE_NAME"]
    path = f"/nodes/{node}"
    metrics.figures(path)
    async with session("stdio") as s:
        async def top():
            got = await s.call_tool("nodes_top", {"name": node})
            assert not got.is_error, text(got)
            return text(got)
        table, api = await steady(path, top)
        everyone = text(await s.call_tool("nodes_top", {}))
    [[name, cpu, memory]] = rows(table)
    assert name == node and [cpu, memory] == [api["usage"]["cpu"], api["usage"]["memory"]]
    assert [row[0] for row in rows(everyone)] == [node]
    # The node is this machine: its CPUs are busy with the stack, its memory is /proc/meminfo's
    # (as of the last scrape, up to 10 s ago, on a machine that builds in parallel: roughly).
    # A saturated machine reads as all its CPUs, give or take the ticks at the window's edges.
    assert 0 < metrics.quantity(cpu) <= os.cpu_count() * 1.05, cpu
    working_set, total = metrics.node_memory_bytes()
    assert 0 < metrics.quantity(memory) < total and abs(metrics.quantity(memory) - working_set) < working_set / 2


async def test_without_metrics_server_both_tools_say_to_install_it(metrics_api):
    with metrics.absent():
        async with session("stdio") as s:
            for tool in ("nodes_top", "pods_top"):
                top = await s.call_tool(tool, {})
                assert top.is_error and "metrics API (metrics.k8s.io) is not available" in text(top), text(top)
