"""Flags and modes, and bad input, through real clients: read-only and destructive filters,
denied resources, multi-cluster contexts, an unreachable cluster, stateless HTTP, graceful
shutdown, and malformed requests."""

import os
import signal
import ssl
import subprocess
import time

import httpx2 as httpx
import pytest
import yaml
from mcp.shared.exceptions import MCPError

from support.net import make_certificate
from support.server import HttpServer, inspector, session, text
from support.stack import SERVER, kubectl

pytestmark = pytest.mark.anyio

HEADERS = {"content-type": "application/json", "accept": "application/json, text/event-stream"}
INITIALIZE = {"jsonrpc": "2.0", "id": 1, "method": "initialize",
              "params": {"protocolVersion": "2025-06-18", "capabilities": {}, "clientInfo": {"name": "t", "version": "1"}}}


async def test_read_only_registers_only_read_only_tools(namespace):
    async with session("stdio", "--read-only") as s:
        tools = (await s.list_tools()).tools
        assert len(tools) == 14
        assert all(t.annotations.read_only_hint for t in tools)
        with pytest.raises(MCPError, match="unknown tool: pods_delete"):
            await s.call_tool("pods_delete", {"name": "x", "namespace": namespace})


async def test_disable_destructive_keeps_additive_tools():
    async with session("stdio", "--disable-destructive") as s:
        names = {t.name for t in (await s.list_tools()).tools}
    assert "pods_run" in names and "pods_delete" not in names and "resources_create_or_update" not in names


async def test_denied_resources_are_refused(namespace, tmp_path):
    kubectl("create", "secret", "generic", "token", "-n", namespace, "--from-literal=t=s3cr3t")
    config = tmp_path / "config.toml"
    config.write_text('denied_resources = [{group = "", version = "v1", kind = "Secret"}]\n')
    async with session("http", "--config", str(config)) as s:
        got = await s.call_tool("resources_get", {"apiVersion": "v1", "kind": "Secret", "namespace": namespace, "name": "token"})
        listed = await s.call_tool("resources_list", {"apiVersion": "v1", "kind": "Secret", "namespace": namespace})
        allowed = await s.call_tool("resources_list", {"apiVersion": "v1", "kind": "ConfigMap", "namespace": namespace})
    for refused in (got, listed):
        assert refused.is_error and "not allowed by the server configuration" in text(refused)
        assert "s3cr3t" not in text(refused)
    assert not allowed.is_error


async def test_wrong_argument_types_and_unknown_tools_are_clear_errors():
    async with session("stdio") as s:
        wrong = await s.call_tool("pods_get", {"name": 42})
        assert wrong.is_error and "invalid arguments" in text(wrong)
        missing = await s.call_tool("resources_get", {"kind": "Pod"})
        assert missing.is_error and "apiVersion" in text(missing)
        with pytest.raises(MCPError, match="unknown tool: no_such_tool"):
            await s.call_tool("no_such_tool", {})
        # The session still works after every error.
        assert not (await s.call_tool("namespaces_list", {})).is_error


async def test_unreachable_cluster_is_a_per_call_error(tmp_path):
    with open(os.environ["KUBECONFIG"]) as f:
        config = yaml.safe_load(f)
    config["clusters"][0]["cluster"]["server"] = "https://127.0.0.1:1"
    dead = tmp_path / "dead.kubeconfig"
    dead.write_text(yaml.safe_dump(config))
    async with session("stdio", "--kubeconfig", str(dead)) as s:
        first = await s.call_tool("namespaces_list", {})
        second = await s.call_tool("pods_list", {})
    assert first.is_error and "failed to list namespaces" in text(first)
    assert second.is_error


async def test_a_kubeconfig_that_does_not_parse_is_reported_per_call(tmp_path):
    broken = tmp_path / "broken.kubeconfig"
    broken.write_text("clusters: [this is: not, a kubeconfig")
    async with session("stdio", "--kubeconfig", str(broken)) as s:
        result = await s.call_tool("namespaces_list", {})
    assert result.is_error and "cannot use the kubeconfig" in text(result)


async def test_several_contexts_add_a_context_argument(tmp_path, namespace):
    with open(os.environ["KUBECONFIG"]) as f:
        config = yaml.safe_load(f)
    other = dict(config["contexts"][0], name="other")
    other["context"] = dict(other["context"], namespace=namespace)
    config["contexts"].append(other)
    path = tmp_path / "two.kubeconfig"
    path.write_text(yaml.safe_dump(config))
    kubectl("create", "configmap", "marker", "-n", namespace)
    async with session("stdio", "--kubeconfig", str(path)) as s:
        tools = {t.name: t for t in (await s.list_tools()).tools}
        assert "context" in tools["resources_list"].input_schema["properties"]
        contexts = text(await s.call_tool("configuration_contexts_list", {}))
        assert "*e2e -> https://127.0.0.1:6443" in contexts and " other -> " in contexts
        # The context's own default namespace is used when the call names none.
        got = await s.call_tool("resources_get", {"apiVersion": "v1", "kind": "ConfigMap", "name": "marker", "context": "other"})
        assert not got.is_error, text(got)
        unknown = await s.call_tool("namespaces_list", {"context": "nope"})
        assert unknown.is_error and "nope" in text(unknown)
    async with session("stdio", "--kubeconfig", str(path), "--disable-multi-cluster") as s:
        tools = {t.name: t for t in (await s.list_tools()).tools}
    assert "configuration_contexts_list" not in tools
    assert "context" not in tools["resources_list"].input_schema["properties"]


def test_malformed_requests_get_json_rpc_errors():
    with HttpServer() as server, httpx.Client(base_url=server.url, headers=HEADERS) as http:
        not_json = http.post("/mcp", content=b"{not json")
        assert not_json.status_code == 400 and not_json.json()["error"]["code"] == -32700
        not_rpc = http.post("/mcp", json={"id": 7, "hello": "world"})
        assert not_rpc.status_code == 400 and not_rpc.json() == {
            "jsonrpc": "2.0", "id": 7, "error": {"code": -32600, "message": not_rpc.json()["error"]["message"]}}
        too_big = http.post("/mcp", content=b"[" + b" " * (5 * 1024 * 1024) + b"]")
        assert too_big.status_code == 413 and too_big.json()["error"]["code"] == -32600
        sse_not_json = http.post("/message?sessionId=whatever", content=b"{oops")
        assert sse_not_json.status_code == 400 and sse_not_json.json()["error"]["code"] == -32700
        unknown_session = http.post("/message?sessionId=whatever", json={"jsonrpc": "2.0", "method": "ping", "id": 1})
        assert unknown_session.status_code == 404
        # Still serving after all of that.
        assert http.post("/mcp", json=INITIALIZE).status_code == 200
        assert http.get("/healthz").text == "ok"


def test_stateless_mode_answers_without_a_session():
    with HttpServer("--stateless") as server, httpx.Client(base_url=server.url, headers=HEADERS) as http:
        init = http.post("/mcp", json=INITIALIZE)
        assert init.status_code == 200 and "mcp-session-id" not in init.headers
        listed = http.post("/mcp", json={"jsonrpc": "2.0", "id": 2, "method": "tools/list"},
                           headers={"mcp-protocol-version": "2025-06-18"})
        assert listed.status_code == 200, listed.text
        assert len(listed.json()["result"]["tools"]) == 20


def test_sigterm_stops_the_http_server_cleanly():
    server = HttpServer().__enter__()
    assert server.stop() == 0


def test_sighup_leaves_the_server_running_and_says_why():
    with HttpServer("--log-level", "2") as server:
        server.process.send_signal(signal.SIGHUP)
        deadline = time.monotonic() + 10
        while not any("SIGHUP" in line for line in server.stderr_lines) and time.monotonic() < deadline:
            server.stderr_lines.append(server.process.stderr.readline())
        # Go's rule: without --config or --config-dir there is nothing to reload (test_reload.py
        # reloads one).
        assert any("SIGHUP ignored: the server was started without --config or --config-dir" in line
                   for line in server.stderr_lines), server.stderr_lines
        assert server.process.poll() is None
        assert httpx.get(server.url + "/healthz").status_code == 200
        assert server.stop() == 0


def test_unknown_config_key_fails_at_start_naming_it(tmp_path):
    config = tmp_path / "bad.toml"
    config.write_text("read_onyl = true\n")
    done = subprocess.run([str(SERVER), "--config", str(config)], capture_output=True, text=True, timeout=10)
    assert done.returncode != 0 and "read_onyl" in done.stderr and "bad.toml" in done.stderr


def test_mcp_inspector_cli_lists_and_calls_tools():
    """The MCP Inspector CLI (npm) as a second client we did not write."""
    with HttpServer() as server:
        assert len(inspector(server.url, "--method", "tools/list")["tools"]) == 20
        called = inspector(server.url, "--method", "tools/call", "--tool-name", "namespaces_list")
        assert "kube-system" in called["content"][0]["text"]


def test_tls_serves_mcp_with_the_given_certificate(tmp_path):
    ca, cert, key = make_certificate(tmp_path, "127.0.0.1")
    with HttpServer("--tls-cert", str(cert), "--tls-key", str(key), "--require-tls") as server:
        assert server.url.startswith("https://")
        with httpx.Client(base_url=server.url, headers=HEADERS, verify=ssl.create_default_context(cafile=str(ca))) as https:
            assert https.get("/healthz").text == "ok"
            assert https.post("/mcp", json=INITIALIZE).status_code == 200
        with pytest.raises(httpx.HTTPError):
            httpx.get(server.url.replace("https://", "http://") + "/healthz", timeout=2)


def test_require_tls_without_a_certificate_refuses_to_start():
    done = subprocess.run([str(SERVER), "--port", "0", "--require-tls"], capture_output=True, text=True, timeout=10)
    assert done.returncode != 0 and "require_tls" in done.stderr
