"""SIGHUP reload, as in the Go server: a running HTTP server re-reads its TOML and drop-in
directory. Through the official MCP SDK a new session lists the tools of the new filters, a
resource the new config denies is refused on the real apiserver, a key that needs a restart is
named in a warning, a broken drop-in keeps the running config, and sessions already open (streamable
HTTP and legacy SSE) are told of the changed tool list. Runs the server binary."""

import contextlib
import signal

import anyio
import pytest
from mcp import ClientSession
from mcp.client.sse import sse_client
from mcp.client.streamable_http import streamable_http_client

from support.server import HttpServer, text
from support.stack import kubectl
from support.wait import eventually

pytestmark = pytest.mark.anyio


async def tools_and_configmaps(url, namespace):
    """The tool names a new session lists, and its answer to listing ConfigMaps."""
    async with streamable_http_client(url + "/mcp") as streams:
        async with ClientSession(streams[0], streams[1]) as s:
            await s.initialize()
            tools = {t.name for t in (await s.list_tools()).tools}
            answer = await s.call_tool("resources_list", {"apiVersion": "v1", "kind": "ConfigMap", "namespace": namespace})
            return tools, answer


def hangup(server, line):
    """SIGHUP, then wait for the log line saying how the reload went."""
    seen = len(server.stderr_lines)
    server.process.send_signal(signal.SIGHUP)
    return eventually(line, lambda: next((l for l in server.stderr_lines[seen:] if line in l), None), seconds=20)


async def test_sighup_reloads_filters_and_denials_and_a_broken_file_keeps_the_running_config(namespace, tmp_path):
    kubectl("create", "configmap", "probe", "-n", namespace, "--from-literal=k=v")
    main = tmp_path / "config.toml"
    main.write_text('log_level = 1\ntoolsets = ["core"]\n')
    drop_ins = tmp_path / "conf.d"
    drop_ins.mkdir()
    (drop_ins / "10-base.toml").write_text("read_only = false\n")
    with HttpServer("--config", str(main), "--config-dir", str(drop_ins), drain=True) as server:
        tools, answer = await tools_and_configmaps(server.url, namespace)
        assert "pods_delete" in tools and "helm_list" not in tools
        assert not answer.is_error and "probe" in text(answer)

        (drop_ins / "20-tighten.toml").write_text(
            'disabled_tools = ["pods_delete"]\ntoolsets = ["core", "helm"]\nstateless = true\n'
            'denied_resources = [{version = "v1", kind = "ConfigMap"}]\n')
        warning = hangup(server, "needs a restart")
        assert "stateless" in warning
        hangup(server, "configuration reloaded")
        tools, answer = await tools_and_configmaps(server.url, namespace)
        assert "pods_delete" not in tools and "helm_list" in tools
        assert answer.is_error and "denied_resources" in text(answer), text(answer)

        # Broken: the tightening drop-in is gone, but an unknown key makes the whole new config
        # invalid, so the running (tightened) one stays.
        (drop_ins / "20-tighten.toml").unlink()
        (drop_ins / "30-broken.toml").write_text("colour = 1\n")
        error = hangup(server, "the running one stays")
        assert "30-broken.toml" in error and "colour" in error, error
        tools, answer = await tools_and_configmaps(server.url, namespace)
        assert "pods_delete" not in tools and answer.is_error

        (drop_ins / "30-broken.toml").unlink()
        hangup(server, "configuration reloaded")
        tools, answer = await tools_and_configmaps(server.url, namespace)
        assert "pods_delete" in tools and not answer.is_error


async def test_open_sessions_hear_that_the_tool_list_changed(tmp_path):
    config = tmp_path / "config.toml"
    config.write_text('log_level = 1\ntoolsets = ["core"]\n')
    heard = {"http": [], "sse": []}

    def recorder(transport):
        async def record(message):
            if not isinstance(message, Exception):
                heard[transport].append(type(message).__name__)
        return record

    with HttpServer("--config", str(config), drain=True) as server:
        async with contextlib.AsyncExitStack() as stack:
            sessions = {}
            for transport, connect in (("http", lambda: streamable_http_client(server.url + "/mcp")),
                                       ("sse", lambda: sse_client(server.url + "/sse"))):
                streams = await stack.enter_async_context(connect())
                session = await stack.enter_async_context(
                    ClientSession(streams[0], streams[1], message_handler=recorder(transport)))
                init = await session.initialize()
                assert init.capabilities.tools.list_changed is True
                # A round trip: the client's `initialized` notification has reached the server.
                await session.list_tools()
                sessions[transport] = session
            # Unchanged lists: a reload tells nobody anything. (The wait for the log line runs
            # in a thread so that the sessions keep reading meanwhile.)
            await anyio.to_thread.run_sync(hangup, server, "configuration reloaded")
            config.write_text('log_level = 1\ntoolsets = ["core", "helm"]\n')
            await anyio.to_thread.run_sync(hangup, server, "configuration reloaded")
            for transport, session in sessions.items():
                for _ in range(100):
                    if heard[transport]:
                        break
                    await anyio.sleep(0.1)
                assert heard[transport] == ["ToolListChangedNotification"], (transport, heard)
                tools = {t.name for t in (await session.list_tools()).tools}
                assert "helm_list" in tools, transport
