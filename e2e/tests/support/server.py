"""The server binary under test and clients to it: the binary in HTTP mode on a free port, an
initialized MCP SDK session over stdio, streamable HTTP or SSE, and the MCP Inspector CLI (a
second client we did not write). Runs processes."""

import contextlib
import json
import os
import re
import signal
import subprocess
import tempfile
import threading

from mcp import ClientSession, StdioServerParameters
from mcp.client.sse import sse_client
from mcp.client.stdio import stdio_client
from mcp.client.streamable_http import streamable_http_client

from support.stack import SERVER

TRANSPORTS = ["stdio", "http", "sse"]


# A raw streamable-HTTP initialize, for what the SDK does not show (status codes, headers).
HEADERS = {"content-type": "application/json", "accept": "application/json, text/event-stream"}
INITIALIZE = {"jsonrpc": "2.0", "id": 1, "method": "initialize",
              "params": {"protocolVersion": "2025-06-18", "capabilities": {}, "clientInfo": {"name": "t", "version": "1"}}}


def bearer(value):
    return {"authorization": f"Bearer {value}"}


class HttpServer:
    """The server binary in HTTP mode on a free loopback port; SIGTERM on exit. With `drain`,
    its stderr is read into `stderr_lines` all along (a test that makes it log much, e.g. with
    the apiserver gone, would otherwise fill the pipe and stall the server on a write)."""

    def __init__(self, *args, env=None, bind="127.0.0.1", port=0, drain=False):
        self.args = ["--port", str(port), "--bind-address", bind, *args]
        self.env = env
        self.drain = drain
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
        if self.drain:
            threading.Thread(target=self.stderr_lines.extend, args=(self.process.stderr,), daemon=True).start()
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


def inspector(url, *args):
    """The MCP Inspector CLI's JSON answer for `args` against the server at `url` (streamable HTTP)."""
    binary = os.path.join(os.environ["KMCP_NODE_MODULES"], ".bin", "mcp-inspector")
    done = subprocess.run([binary, "--cli", url + "/mcp", "--transport", "http", *args],
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)
