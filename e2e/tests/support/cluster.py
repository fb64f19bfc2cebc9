"""The end-to-end scene shared by the suites that run McpServers through the real operator: a
namespace whose pods the pod runner runs (`Cluster`), the samples, telemetry towards the stack's
collector, and an MCP SDK session through a Service. Runs processes (kubectl, the service proxy)."""

import contextlib
import json
import os
import subprocess
import sys

import httpx2 as httpx
import yaml
from mcp import ClientSession
from mcp.client.sse import sse_client
from mcp.client.streamable_http import streamable_http_client

from support.stack import NODE_IP, ROOT, STACK, apply_mcp, is_ready, kubectl
from support.wait import eventually

# The server's image as e2e/images.sh --debug --push put it in the stack's registry: the pod
# runner pulls it and runs what it holds.
IMAGE = f"{os.environ.get('KMCP_REGISTRY', '127.0.0.1:5000')}/kubernetes-mcp-server:dev"


class Cluster:
    """A namespace whose pods the pod runner runs, and what the tests need around it."""

    def __init__(self, namespace, tmp_path):
        self.ns, self.tmp = namespace, tmp_path

    def apply(self, name, spec):
        apply_mcp(self.ns, name, spec)

    def get(self, kind, name=None, selector=None):
        args = ["get", kind, "-n", self.ns, "-o", "json"] + ([name] if name else []) + (["-l", selector] if selector else [])
        return json.loads(kubectl(*args))

    def ready(self, name):
        """The McpServer once kstatus calls it current: Ready=True for its latest generation."""
        def check():
            mcp = self.get("mcpserver", name)
            current = mcp.get("status", {}).get("observedGeneration") == mcp["metadata"]["generation"]
            return mcp if is_ready(mcp) and current else None
        return eventually(f"McpServer {name} Ready", check)

    def pods(self, name):
        """The running, non-terminating pods of McpServer `name`."""
        items = self.get("pods", selector=f"app.kubernetes.io/instance={name}")["items"]
        return [p for p in items if not p["metadata"].get("deletionTimestamp")]

    def ready_pods(self, name, count):
        def check():
            pods = self.pods(name)
            ready = [p for p in pods if is_ready(p)]
            return ready if len(ready) == count == len(pods) else None
        return eventually(f"{count} ready pod(s) of {name}", check)

    @contextlib.contextmanager
    def service(self, name, port=8080):
        """The Service reachable at its ClusterIP through the service proxy: yields its base URL."""
        process = subprocess.Popen([sys.executable, str(STACK / "service_proxy.py"), self.ns, name, str(port)],
                                   stdout=subprocess.PIPE, text=True, cwd=STACK)
        try:
            line = process.stdout.readline()
            assert line.startswith("ready "), f"service proxy: {line!r}"
            yield f"http://{line.split()[1]}"
        finally:
            process.terminate()
            process.wait(10)


def sample(name):
    with open(ROOT / "config" / "samples" / name) as f:
        return yaml.safe_load(f)


def telemetry(service, **extra):
    """Telemetry towards the stack's collector, exporting fast enough for a test."""
    return {"endpoint": f"http://{NODE_IP}:4317", "serviceName": service, **extra}


FAST_EXPORT = [{"name": "OTEL_BSP_SCHEDULE_DELAY", "value": "100"}]


@contextlib.asynccontextmanager
async def mcp_session(url, transport="http", headers=None):
    if transport == "http":
        async with httpx.AsyncClient(headers=headers or {}, timeout=30) as http:
            async with streamable_http_client(url + "/mcp", http_client=http) as streams:
                async with ClientSession(streams[0], streams[1]) as s:
                    await s.initialize()
                    yield s
    else:
        async with sse_client(url + "/sse") as streams:
            async with ClientSession(streams[0], streams[1]) as s:
                await s.initialize()
                yield s
