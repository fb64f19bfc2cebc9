"""docs/clients.md stays true: every snippet is valid JSON; every stdio entry names our binary
and, started by the official MCP SDK with exactly its arguments, lists tools; every URL has the
shape the operator writes to an McpServer's status.url."""

import json
import re

import pytest

from support.server import session
from support.stack import ROOT

pytestmark = pytest.mark.anyio

DOC = ROOT / "docs" / "clients.md"
# operator/src/controller/status.rs: http://NAME.NAMESPACE.svc:8080/mcp
STATUS_URL = re.compile(r"^http://[a-z0-9-]+\.[a-z0-9-]+\.svc:8080/mcp$")


def snippets():
    return [json.loads(block) for block in re.findall(r"```json\n(.*?)```", DOC.read_text(), re.S)]


def entries():
    """Every server entry of every snippet: `mcpServers` (Claude), `servers` (VS Code's
    mcp.json) or `mcp.servers` (VS Code's settings.json)."""
    found = []
    for snippet in snippets():
        servers = snippet.get("mcpServers") or snippet.get("servers") or snippet["mcp"]["servers"]
        found.extend(servers.values())
    return found


def test_every_snippet_is_json_with_servers():
    assert len(snippets()) == 5
    assert len(entries()) == 6


async def test_every_stdio_entry_starts_and_lists_tools():
    stdio = [e for e in entries() if "command" in e]
    assert len(stdio) == 4
    for entry in stdio:
        assert entry["command"] == "kubernetes-mcp-server"
        assert entry.get("type", "stdio") == "stdio"
        async with session("stdio", *entry["args"]) as s:
            tools = {tool.name for tool in (await s.list_tools()).tools}
        assert "pods_list" in tools, entry
        if "--read-only" in entry["args"] or "--disable-destructive" in entry["args"]:
            assert "resources_delete" not in tools, entry


def test_every_url_is_what_the_operator_reports():
    urls = [e for e in entries() if "url" in e]
    assert len(urls) == 2
    for entry in urls:
        assert entry["type"] == "http"
        assert STATUS_URL.match(entry["url"]), entry
