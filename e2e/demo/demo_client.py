"""A few MCP calls from the official Python SDK, printed as a person would read them."""

import asyncio
import sys

from mcp import ClientSession
from mcp.client.streamable_http import streamable_http_client

MANIFEST = """apiVersion: v1
kind: ConfigMap
metadata: {name: greeting, namespace: demo}
data: {hello: world}
"""


async def main(url):
    async with streamable_http_client(url) as streams:
        async with ClientSession(streams[0], streams[1]) as session:
            info = await session.initialize()
            print(f"connected to {info.server_info.name} {info.server_info.version}")
            tools = (await session.list_tools()).tools
            print(f"{len(tools)} tools: {', '.join(t.name for t in tools)}\n")
            for name, args in [
                ("pods_list_in_namespace", {"namespace": "demo"}),
                ("resources_create_or_update", {"resource": MANIFEST}),
                ("resources_list", {"apiVersion": "v1", "kind": "ConfigMap", "namespace": "demo"}),
                # Least privilege: the McpServer's RBAC covers its own namespace only.
                ("pods_list_in_namespace", {"namespace": "kube-system"}),
            ]:
                result = await session.call_tool(name, args)
                body = "".join(c.text for c in result.content if c.type == "text")
                status = "error" if result.is_error else "ok"
                print(f"$ tools/call {name} {args if name != 'resources_create_or_update' else '{resource: ...}'} -> {status}")
                print("  " + "\n  ".join(body.strip().splitlines()[:8]) + "\n")


asyncio.run(main(sys.argv[1]))
