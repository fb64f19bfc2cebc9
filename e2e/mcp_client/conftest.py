"""Fixtures for driving kubernetes-mcp-server through the official Python MCP SDK (a client we
did not write) against the test stack's real apiserver. Run inside the stack:
`e2e/stack.sh exec -- $KMCP_PYTHON -m pytest e2e/mcp_client`."""

import contextlib
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import uuid
from pathlib import Path

import pytest
from mcp import ClientSession, StdioServerParameters
from mcp.client.sse import sse_client
from mcp.client.stdio import stdio_client
from mcp.client.streamable_http import streamable_http_client

ROOT = Path(__file__).resolve().parents[2]
SERVER = Path(os.environ.get("KMCP_SERVER_BIN", ROOT / "target" / "debug" / "kubernetes-mcp-server"))
KUBECTL = shutil.which("kubectl", path=os.environ.get("KMCP_BIN", ""))
assert KUBECTL, "run inside the stack: e2e/stack.sh exec -- ... (KMCP_BIN names its kubectl)"
TRANSPORTS = ["stdio", "http", "sse"]


def kubectl(*args, stdin=None):
    """Runs the stack's kubectl as admin and returns stdout; raises on failure."""
    done = subprocess.run([KUBECTL, *args], input=stdin, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise AssertionError(f"kubectl {' '.join(args)} failed: {done.stderr}")
    return done.stdout


@pytest.fixture
def anyio_backend():
    return "asyncio"


@pytest.fixture(scope="session")
def crds():
    """The McpServer CRD, installed from crds/ and established."""
    kubectl("apply", "--server-side", "--force-conflicts", "-f", str(ROOT / "crds"))
    kubectl("wait", "--for=condition=Established", "crd/mcpservers.kubernetes-mcp.io")


@contextlib.contextmanager
def pod_runner(namespace, log_path, images=()):
    """e2e/stack/pod_runner.py running the pods of `namespace` (images: IMAGE=PATH mappings)."""
    stack = ROOT / "e2e" / "stack"
    args = [arg for image in images for arg in ("--image", image)]
    with open(log_path, "w") as log:
        runner = subprocess.Popen([sys.executable, str(stack / "pod_runner.py"), "--namespace", namespace, *args],
                                  stderr=log, cwd=stack)
        try:
            yield runner
        finally:
            runner.terminate()
            runner.wait(30)


@pytest.fixture
def namespace():
    name = f"mcp-{uuid.uuid4().hex[:8]}"
    kubectl("create", "namespace", name)
    yield name
    kubectl("delete", "namespace", name, "--wait=false")


class HttpServer:
    """The server binary in HTTP mode on a free loopback port; SIGTERM on exit."""

    def __init__(self, *args, env=None, bind="127.0.0.1", port=0):
        self.args = ["--port", str(port), "--bind-address", bind, *args]
        self.env = env
        self.url = None
        self.process = None
        self.stderr_lines = []

    def __enter__(self):
        self.process = subprocess.Popen(
            [str(SERVER), *self.args],
            stderr=subprocess.PIPE,
            stdout=subprocess.DEVNULL,
            text=True,
            env=self.env or dict(os.environ),
        )
        for line in self.process.stderr:
            self.stderr_lines.append(line)
            match = re.search(r"listening on (https?://\S+)", line)
            if match:
                self.url = match.group(1)
                break
        if self.url is None:
            self.process.wait(5)
            raise AssertionError("server did not start:\n" + "".join(self.stderr_lines))
        return self

    def stop(self):
        self.process.send_signal(signal.SIGTERM)
        return self.process.wait(15)

    def __exit__(self, *exc):
        if self.process.poll() is None:
            self.stop()


@contextlib.asynccontextmanager
async def session(transport, *args, env=None):
    """An initialized ClientSession to a fresh server started with `args`."""
    env = env or dict(os.environ)
    if transport == "stdio":
        params = StdioServerParameters(command=str(SERVER), args=list(args), env=env)
        async with stdio_client(params, errlog=tempfile.TemporaryFile(mode="w+")) as (read, write):
            async with ClientSession(read, write) as s:
                await s.initialize()
                yield s
        return
    with HttpServer(*args, env=env) as server:
        opener = streamable_http_client(server.url + "/mcp") if transport == "http" else sse_client(server.url + "/sse")
        async with opener as streams:
            async with ClientSession(streams[0], streams[1]) as s:
                await s.initialize()
                yield s


def text(result):
    """The text of a CallToolResult."""
    return "".join(block.text for block in result.content if getattr(block, "type", "") == "text")
