"""Ready means the server answers MCP: the operator (its MCP probe on, as shipped) calls an
McpServer Ready, with `status.url` and `status.tools`, only once one of its pods answers
`initialize` and `tools/list`; `status.tools` is the count the server lists to the official MCP
SDK. A pod that is ready by its probes but is no MCP server (a plain HTTP server) never gets
Ready=True, and the McpServer says why. Real operator, pods run by the pod runner."""

import json
import stat
import sys
import time

import pytest

from support.cluster import mcp_session
from support.stack import SERVER, apply_mcp, kubectl, pod_runner
from support.wait import eventually

IMPOSTOR = "registry.invalid/not-an-mcp-server:1"

# Answers 200 with a web page to every request on the MCP and metrics ports: ready by its probes.
PLAIN_HTTP = """
import http.server, threading

class Page(http.server.BaseHTTPRequestHandler):
    def answer(self):
        body = b"<html>hello</html>"
        self.send_response(200)
        self.send_header("content-type", "text/html")
        self.send_header("content-length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
    do_GET = do_POST = answer

servers = [http.server.ThreadingHTTPServer(("0.0.0.0", port), Page) for port in (8080, 9090)]
threading.Thread(target=servers[1].serve_forever, daemon=True).start()
servers[0].serve_forever()
"""


def mcp(namespace, name):
    return json.loads(kubectl("get", "mcpserver", name, "-n", namespace, "-o", "json"))


def ready(obj):
    return next((c for c in obj.get("status", {}).get("conditions", []) if c["type"] == "Ready"), None)


@pytest.mark.anyio
async def test_ready_only_once_a_pod_answers_mcp_with_the_tools_it_lists(operator, namespace, tmp_path):
    impostor = tmp_path / "plain-http"
    impostor.write_text(f"#!{sys.executable}\n{PLAIN_HTTP}")
    impostor.chmod(impostor.stat().st_mode | stat.S_IXUSR)
    with pod_runner(namespace, tmp_path / "pod-runner.log", [f"{IMPOSTOR}={impostor}"]):
        apply_mcp(namespace, "real", {})
        apply_mcp(namespace, "impostor", {"image": IMPOSTOR})

        served = eventually("real Ready", lambda: (m := mcp(namespace, "real")) and ready(m)
                            and ready(m)["status"] == "True" and m, seconds=90)
        assert served["status"]["url"] == f"http://real.{namespace}.svc:8080/mcp"
        pod = json.loads(kubectl("get", "pods", "-n", namespace, "-l", "app.kubernetes.io/instance=real",
                                 "-o", "json"))["items"][0]
        async with mcp_session(f"http://{pod['status']['podIP']}:8080") as session:
            listed = (await session.list_tools()).tools
        assert served["status"]["tools"] == len(listed) > 0

        # The impostor's pod is ready by its probes, yet the McpServer is not.
        eventually("the impostor's pod ready", lambda: "True" in kubectl(
            "get", "pods", "-n", namespace, "-l", "app.kubernetes.io/instance=impostor",
            "-o", "jsonpath={.items[*].status.conditions[?(@.type=='Ready')].status}"))
        refused = eventually("the impostor's handshake failure", lambda: (c := ready(mcp(namespace, "impostor")))
                             and c["reason"] == "McpHandshakeFailed" and c)
        assert refused["status"] == "False" and "initialize" in refused["message"], refused
        time.sleep(12)  # past the next check: still not Ready, still saying why
        again = mcp(namespace, "impostor")
        assert ready(again)["status"] == "False" and "url" not in again["status"]
        assert "tools" not in again["status"]
        reconciling = next(c for c in again["status"]["conditions"] if c["type"] == "Reconciling")
        assert reconciling["reason"] == "McpHandshakeFailed"
        kubectl("delete", "mcpservers", "--all", "-n", namespace, "--wait=true", "--timeout=60s")


# The real server with `helm_list` switched off by a drop-in: it answers MCP, but not with every
# tool of the helm toolset its spec asks for.
PARTIAL = """#!/bin/sh
exec {server} "$@" --config-dir {dropins}
"""


@pytest.mark.anyio
async def test_ready_needs_the_spec_toolsets_tools_and_a_secured_server_its_challenge(operator, namespace, tmp_path):
    dropins = tmp_path / "dropins"
    dropins.mkdir()
    (dropins / "10-no-helm-list.toml").write_text('disabled_tools = ["helm_list"]\n')
    partial = tmp_path / "partial"
    partial.write_text(PARTIAL.format(server=SERVER, dropins=dropins))
    partial.chmod(partial.stat().st_mode | stat.S_IXUSR)
    image = "registry.invalid/partial-server:1"
    with pod_runner(namespace, tmp_path / "pod-runner.log", [f"{image}={partial}"]):
        apply_mcp(namespace, "partial", {"image": image, "server": {"toolsets": ["core", "config", "helm"]}})
        apply_mcp(namespace, "secured", {"auth": {"required": True}})

        refused = eventually("partial says which tools are missing",
                             lambda: (c := ready(mcp(namespace, "partial"))) and c["reason"] == "McpToolsMissing" and c,
                             seconds=90)
        assert refused["status"] == "False" and "helm_list" in refused["message"], refused
        assert "helm_install" not in refused["message"], refused
        stalled = next(c for c in mcp(namespace, "partial")["status"]["conditions"] if c["type"] == "Stalled")
        assert stalled["status"] == "True" and stalled["reason"] == "McpToolsMissing", stalled
        assert "url" not in mcp(namespace, "partial")["status"]

        # Asked without a token, the secured server answers 401 with its RFC 9728 challenge: Ready.
        secured = eventually("secured Ready", lambda: (m := mcp(namespace, "secured")) and ready(m)
                             and ready(m)["status"] == "True" and m, seconds=90)
        assert "401" in ready(secured)["message"] and "RFC 9728" in ready(secured)["message"], ready(secured)
        assert secured["status"]["url"] == f"http://secured.{namespace}.svc:8080/mcp"
        assert "tools" not in secured["status"]
        kubectl("delete", "mcpservers", "--all", "-n", namespace, "--wait=true", "--timeout=60s")
