"""`confirmation_rules` through MCP elicitation, as in the Go server, with the official Python SDK
as the client on the real apiserver: a tool-level rule (`tool = "pods_delete"`) and a kube-level
one (`verb = "delete"`, `kind = "ConfigMap"`, asked before the apiserver request) put their
message to a client with an `elicitation_callback`; accept runs the call, decline answers
isError and leaves the object in place. A client without the capability gets
`confirmation_fallback`: deny refuses, allow runs. Runs the server binary."""

import pytest
from mcp import ClientSession, types
from mcp.client.streamable_http import streamable_http_client

from support.server import HttpServer, text
from support.stack import kubectl

pytestmark = pytest.mark.anyio

RULES = """
[[confirmation_rules]]
tool = "pods_delete"
message = "Delete this pod?"

[[confirmation_rules]]
verb = "delete"
kind = "ConfigMap"
message = "Delete a ConfigMap?"
"""


def server(tmp_path, fallback):
    config = tmp_path / f"config-{fallback}.toml"
    config.write_text(f'confirmation_fallback = "{fallback}"\n' + RULES)
    return HttpServer("--config", str(config), drain=True)


async def call(url, tool, arguments, answer=None):
    """Calls `tool` from a session that answers elicitations with `answer` (None: a client
    without the capability); returns the result and the questions asked."""
    asked = []

    async def elicit(context, params):
        asked.append(params.message)
        return types.ElicitResult(action=answer, content={} if answer == "accept" else None)

    async with streamable_http_client(url + "/mcp") as streams:
        async with ClientSession(streams[0], streams[1], elicitation_callback=elicit if answer else None) as s:
            await s.initialize()
            return await s.call_tool(tool, arguments), asked


def objects(namespace, kind):
    return kubectl("get", kind, "-n", namespace, "-o", "name").split()


async def test_accept_runs_decline_refuses_before_the_apiserver_call(namespace, tmp_path):
    for name in ("p1", "p2"):
        kubectl("run", name, "-n", namespace, "--image=busybox", "--restart=Never")
    for name in ("c1", "c2"):
        kubectl("create", "configmap", name, "-n", namespace)
    with server(tmp_path, "deny") as srv:
        result, asked = await call(srv.url, "pods_delete", {"namespace": namespace, "name": "p1"}, "decline")
        assert result.is_error and "action requires confirmation" in text(result), text(result)
        assert asked == ["Delete this pod?"]
        assert "pod/p1" in objects(namespace, "pods")

        result, asked = await call(srv.url, "pods_delete", {"namespace": namespace, "name": "p1"}, "accept")
        assert not result.is_error, text(result)
        assert asked == ["Delete this pod?"]

        cm = {"apiVersion": "v1", "kind": "ConfigMap", "namespace": namespace, "name": "c1"}
        result, asked = await call(srv.url, "resources_delete", cm, "decline")
        assert result.is_error and "action requires confirmation" in text(result), text(result)
        assert asked == ["Delete a ConfigMap?"]
        assert "configmap/c1" in objects(namespace, "configmaps")
        result, asked = await call(srv.url, "resources_delete", cm, "accept")
        assert not result.is_error and asked == ["Delete a ConfigMap?"], text(result)
        assert "configmap/c1" not in objects(namespace, "configmaps")

        # No rule matches reading a ConfigMap: nobody is asked.
        result, asked = await call(srv.url, "resources_get", {**cm, "name": "c2"}, "decline")
        assert not result.is_error and asked == []

        # A client that cannot be asked: the fallback denies.
        result, _ = await call(srv.url, "pods_delete", {"namespace": namespace, "name": "p2"})
        assert result.is_error and "action requires confirmation" in text(result), text(result)
        result, _ = await call(srv.url, "resources_delete", {**cm, "name": "c2"})
        assert result.is_error and "configmap/c2" in objects(namespace, "configmaps")

    with server(tmp_path, "allow") as srv:
        result, _ = await call(srv.url, "pods_delete", {"namespace": namespace, "name": "p2"})
        assert not result.is_error, text(result)
        assert any("does not support elicitation" in line for line in srv.stderr_lines)
