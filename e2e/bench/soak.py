"""Soak: our server under a steady mix of tool calls for a bounded time, sampled for growth. Four
long-lived sessions (two over streamable HTTP, two over legacy SSE, official Python MCP SDK) call
a mix of tools (namespaces, pods, one ConfigMap, a list of ConfigMaps, events) at SOAK_RATE calls
per second in all; every SOAK_ABANDON_EVERY seconds a new session is opened, makes one call and is
abandoned (streamable HTTP: dropped without its DELETE, so the server keeps it until its idle
timeout, SOAK_IDLE_TIMEOUT seconds (the server's session_idle_timeout_seconds, default 300); SSE:
the stream cut). Every SOAK_SAMPLE seconds it prints the server's RSS, open fds, threads, open
sockets, /stats counts and open sessions by transport; at the end, the growth after warm-up (the
first fifth). The server's stderr is never read after its first line (a server that blocked on
an undrained stderr would stall here).
Exit code 1 if any call failed. Bounded: SOAK_SECONDS (default 600). Run inside the stack:

  cargo build --locked --features stack -p kubernetes-mcp-server
  e2e/stack.sh run -- bash -c '$KMCP_PYTHON e2e/bench/soak.py'

KMCP_SERVER_BIN overrides the binary (default target/release/kubernetes-mcp-server if built,
else target/debug/kubernetes-mcp-server).
"""

import asyncio
import json
import os
import re
import shutil
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

from mcp import ClientSession
from mcp.client.sse import sse_client
from mcp.client.streamable_http import streamable_http_client

ROOT = Path(__file__).resolve().parents[2]
RELEASE, DEBUG = ROOT / "target" / "release" / "kubernetes-mcp-server", ROOT / "target" / "debug" / "kubernetes-mcp-server"
SERVER = os.environ.get("KMCP_SERVER_BIN") or str(RELEASE if RELEASE.exists() else DEBUG)
SECONDS = int(os.environ.get("SOAK_SECONDS", "600"))
RATE = float(os.environ.get("SOAK_RATE", "10"))
SAMPLE = int(os.environ.get("SOAK_SAMPLE", "30"))
ABANDON_EVERY = float(os.environ.get("SOAK_ABANDON_EVERY", "2"))
IDLE_TIMEOUT = int(os.environ.get("SOAK_IDLE_TIMEOUT", "300"))
NAMESPACE = "soak"
CALLS = [
    ("namespaces_list", {}),
    ("pods_list_in_namespace", {"namespace": NAMESPACE}),
    ("resources_get", {"apiVersion": "v1", "kind": "ConfigMap", "namespace": NAMESPACE, "name": "cm-0"}),
    ("resources_list", {"apiVersion": "v1", "kind": "ConfigMap", "namespace": NAMESPACE}),
    ("events_list", {"namespace": NAMESPACE}),
]


def kubectl(*args, stdin=None):
    binary = shutil.which("kubectl", path=os.environ["KMCP_BIN"])
    return subprocess.run([binary, *args], input=stdin, capture_output=True, text=True, check=True).stdout


def prepare():
    items = [{"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": NAMESPACE}}] + [{"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": f"cm-{i}", "namespace": NAMESPACE},
              "data": {"key": "v" * 200}} for i in range(20)]
    kubectl("apply", "-f", "-", stdin=json.dumps({"apiVersion": "v1", "kind": "List", "items": items}))


class Tally:
    def __init__(self):
        self.calls = self.failures = self.abandoned = 0
        self.errors = []

    def record(self, result):
        self.calls += 1
        if result.is_error:
            self.failures += 1
            self.errors.append("".join(getattr(b, "text", "") for b in result.content)[:200])


def opener(url, transport):
    if transport == "http":
        return streamable_http_client(url + "/mcp", terminate_on_close=False)
    return sse_client(url + "/sse")


async def worker(url, transport, index, interval, deadline, tally):
    async with opener(url, transport) as streams, ClientSession(streams[0], streams[1]) as s:
        await s.initialize()
        n = index
        while time.monotonic() < deadline:
            started = time.monotonic()
            tool, arguments = CALLS[n % len(CALLS)]
            n += 1
            tally.record(await s.call_tool(tool, arguments))
            await asyncio.sleep(max(0.0, interval - (time.monotonic() - started)))


async def abandoner(url, deadline, tally):
    n = 0
    while time.monotonic() < deadline:
        transport = "http" if n % 2 == 0 else "sse"
        n += 1
        async with opener(url, transport) as streams, ClientSession(streams[0], streams[1]) as s:
            await s.initialize()
            tally.record(await s.call_tool("namespaces_list", {}))
        tally.abandoned += 1
        await asyncio.sleep(min(ABANDON_EVERY, max(0.0, deadline - time.monotonic())))


def sample(pid, url):
    status = Path(f"/proc/{pid}/status").read_text()
    rss = int(re.search(r"VmRSS:\s+(\d+)", status).group(1))
    threads = int(re.search(r"Threads:\s+(\d+)", status).group(1))
    fds = os.listdir(f"/proc/{pid}/fd")
    sockets = sum(1 for fd in fds if os.readlink(f"/proc/{pid}/fd/{fd}").startswith("socket:"))
    with urllib.request.urlopen(url + "/stats", timeout=10) as answer:
        stats = json.load(answer)
    return {"rss_kib": rss, "fds": len(fds), "threads": threads, "sockets": sockets,
            "tool_calls": stats["total_tool_calls"], "tool_errors": stats["tool_call_errors"],
            "http_sessions": stats["open_sessions"]["streamable_http"], "sse_sessions": stats["open_sessions"]["sse"]}


def show(row):
    print(f"{row['t']:>6} {row['rss_kib']:>9} {row['fds']:>5} {row['threads']:>7} {row['sockets']:>7} "
          f"{row['tool_calls']:>7} {row['tool_errors']:>6} {row['abandoned']:>9} {row['http_sessions']:>9} "
          f"{row['sse_sessions']:>8}", flush=True)


async def soak(pid, url):
    tally = Tally()
    start = time.monotonic()
    deadline = start + SECONDS
    workers = [("http", 0), ("http", 1), ("sse", 2), ("sse", 3)]
    interval = len(workers) / RATE
    tasks = [asyncio.create_task(worker(url, t, i, interval, deadline, tally)) for t, i in workers]
    tasks.append(asyncio.create_task(abandoner(url, deadline, tally)))
    rows = []
    print(f"{'t (s)':>6} {'RSS KiB':>9} {'fds':>5} {'threads':>7} {'sockets':>7} {'calls':>7} {'errors':>6} "
          f"{'abandoned':>9} {'HTTP sess':>9} {'SSE sess':>8}", flush=True)
    while time.monotonic() < deadline:
        row = sample(pid, url) | {"t": round(time.monotonic() - start), "abandoned": tally.abandoned}
        rows.append(row)
        show(row)
        await asyncio.sleep(min(SAMPLE, max(0.0, deadline - time.monotonic())))
    await asyncio.gather(*tasks)
    await asyncio.sleep(2)
    rows.append(sample(pid, url) | {"t": round(time.monotonic() - start), "abandoned": tally.abandoned})
    show(rows[-1])
    return tally, rows


def main():
    prepare()
    config = Path(os.environ.get("TMPDIR", "/tmp")) / f"soak-{os.getpid()}.toml"
    config.write_text(f"session_idle_timeout_seconds = {IDLE_TIMEOUT}\n")
    process = subprocess.Popen([SERVER, "--port", "0", "--bind-address", "127.0.0.1", "--config", str(config)],
                               stderr=subprocess.PIPE, stdout=subprocess.DEVNULL, text=True)
    url = None
    for line in process.stderr:
        if match := re.search(r"listening on (http://\S+)", line):
            url = match.group(1)
            break
    assert url, "the server did not start"
    print(f"soak: {SERVER}, {SECONDS} s, {RATE} calls/s over 2 HTTP + 2 SSE sessions, "
          f"one abandoned session every {ABANDON_EVERY} s (idle timeout {IDLE_TIMEOUT} s), sampled every {SAMPLE} s",
          flush=True)
    try:
        tally, rows = asyncio.run(soak(process.pid, url))
    finally:
        process.terminate()
        process.wait(30)
        config.unlink()
    warm = next((r for r in rows if r["t"] >= SECONDS / 5), rows[0])
    last = rows[-1]
    minutes = max((last["t"] - warm["t"]) / 60, 1e-9)
    print(f"\ncalls {tally.calls}, failed {tally.failures}, sessions abandoned {tally.abandoned}")
    print(f"after warm-up (t={warm['t']} s -> {last['t']} s): RSS {warm['rss_kib']} -> {last['rss_kib']} KiB "
          f"({(last['rss_kib'] - warm['rss_kib']) / minutes:+.0f} KiB/min), fds {warm['fds']} -> {last['fds']}, "
          f"threads {warm['threads']} -> {last['threads']}, sockets {warm['sockets']} -> {last['sockets']}, "
          f"open sessions (HTTP, SSE) ({warm['http_sessions']}, {warm['sse_sessions']}) -> "
          f"({last['http_sessions']}, {last['sse_sessions']}), peak HTTP {max(r['http_sessions'] for r in rows)}")
    for error in tally.errors[:5]:
        print("error:", error)
    sys.exit(1 if tally.failures else 0)


if __name__ == "__main__":
    main()
