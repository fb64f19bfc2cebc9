"""Side-by-side throughput of our server and the Go kubernetes-mcp-server (npm binary) on the same
real apiserver, through the same real client (official Python MCP SDK over stdio): sequential
tool calls for a fixed time each, then the ratio. Run inside the stack:

  e2e/stack.sh exec -- bash -c '$KMCP_PYTHON e2e/bench/compare.py'
"""

import asyncio
import os
import sys
import time
from pathlib import Path

from mcp import ClientSession, StdioServerParameters
from mcp.client.stdio import stdio_client

ROOT = Path(__file__).resolve().parents[2]
OURS = os.environ.get("KMCP_SERVER_BIN", str(ROOT / "target" / "release" / "kubernetes-mcp-server"))
GO = str(Path(os.environ["KMCP_NODE_MODULES"]) / "kubernetes-mcp-server-linux-amd64" / "bin" / "kubernetes-mcp-server-linux-amd64")
SECONDS = float(os.environ.get("BENCH_SECONDS", "10"))
CALLS = [("namespaces_list", {}), ("resources_get", {"apiVersion": "v1", "kind": "Namespace", "name": "default"})]


async def measure(command, tool, args, env=None):
    """calls/s, median ms and p99 ms of sequential calls for SECONDS (env: the server's, default ours)."""
    params = StdioServerParameters(command=command, args=[], env=dict(env or os.environ))
    async with stdio_client(params, errlog=open(os.devnull, "w")) as (read, write):
        async with ClientSession(read, write) as session:
            await session.initialize()
            for _ in range(3):
                await session.call_tool(tool, args)
            latencies = []
            deadline = time.perf_counter() + SECONDS
            while time.perf_counter() < deadline:
                started = time.perf_counter()
                result = await session.call_tool(tool, args)
                latencies.append(time.perf_counter() - started)
                assert not result.is_error, result
    latencies.sort()
    return len(latencies) / sum(latencies), latencies[len(latencies) // 2] * 1000, latencies[int(len(latencies) * 0.99)] * 1000


async def main():
    print(f"sequential tool calls over stdio, {SECONDS:.0f} s per server and tool")
    print(f"{'tool':<16} {'server':<6} {'calls/s':>9} {'median ms':>10} {'p99 ms':>8}")
    for tool, args in CALLS:
        rates = {}
        for name, command in (("rust", OURS), ("go", GO)):
            rate, median, p99 = await measure(command, tool, args)
            rates[name] = rate
            print(f"{tool:<16} {name:<6} {rate:>9.1f} {median:>10.2f} {p99:>8.2f}")
        print(f"{tool:<16} ratio  {rates['rust'] / rates['go']:>8.1f}x")


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
