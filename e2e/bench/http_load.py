"""Per-call speed with real load generators (closed loop), in one run on one apiserver: the raw
apiserver (GET one ConfigMap, LIST 30 pods, bearer token), our server and the Go
kubernetes-mcp-server (npm binary; default, and tuned with KUBE_CLIENT_QPS/BURST) calling
`resources_get` on that ConfigMap and `pods_list_in_namespace` on those pods, at 1 and 8
connections (or calls in flight). Streamable HTTP with wrk (one MCP session opened first, every
JSON-RPC id unique): ours with sessions, `--stateless`, and with tracing on (always_on, the stack's
live collector; spans dropped read from /metrics), both Go servers. Legacy SSE (ours) and stdio
(ours, Go tuned) with pipe_load.py, whose own CPU per call is printed. Then the "real client"
rows (official Python SDK over stdio, compare.py's loop), one table with ratios to the raw
apiserver, RSS (idle, peak under load), the peak RSS of one LIST of 1,000 ConfigMaps (table,
and a ~5 MB YAML answer), start -> first /healthz and binary sizes. Builds nothing: our server
is the release binary. Loopback only; stops by itself (each row lasts BENCH_SECONDS, default
8 s; the whole run ~8 min). Run inside the stack (wrk from Debian, installed by
e2e/stack/install.sh):

  cargo build --release -p kubernetes-mcp-server
  e2e/stack.sh run -- bash -c '$KMCP_PYTHON e2e/bench/http_load.py'

KMCP_SERVER_BIN overrides our binary (default target/release/kubernetes-mcp-server).
"""

import asyncio
import json
import os
import re
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path

import compare
import pipe_load

ROOT = Path(__file__).resolve().parents[2]
OURS = os.environ.get("KMCP_SERVER_BIN", str(ROOT / "target" / "release" / "kubernetes-mcp-server"))
GO = compare.GO
KUBECTL = shutil.which("kubectl", path=os.environ["KMCP_BIN"])
WRK = shutil.which("wrk")
SECONDS = int(os.environ.get("BENCH_SECONDS", "8"))
NAMESPACE = "bench-http"
PODS = 30
CONNECTIONS = [1, 8]
STARTS = 7
BIG = 1000
TUNED = {"KUBE_CLIENT_QPS": "100000", "KUBE_CLIENT_BURST": "100000"}
# Every span sampled and batch-exported over OTLP gRPC to the stack's live collector.
TRACED = {"OTEL_TRACES_SAMPLER": "always_on", "OTEL_METRICS_EXPORTER": "none"}
INITIALIZE = json.dumps({"jsonrpc": "2.0", "id": 0, "method": "initialize", "params": {
    "protocolVersion": "2024-11-05", "capabilities": {}, "clientInfo": {"name": "http_load", "version": "1"}}})
# op -> (tool, arguments, the apiserver path the tool reads)
CALLS = {
    "GET": (
        "resources_get",
        {"apiVersion": "v1", "kind": "ConfigMap", "namespace": NAMESPACE, "name": "shared"},
        f"/api/v1/namespaces/{NAMESPACE}/configmaps/shared",
    ),
    "LIST": ("pods_list_in_namespace", {"namespace": NAMESPACE}, f"/api/v1/namespaces/{NAMESPACE}/pods"),
}
# Each wrk thread numbers its requests from its own base, so JSON-RPC ids never repeat.
LUA = """
local threads = 0
function setup(thread) threads = threads + 1; thread:set("base", threads * 100000000) end
function init(args) n = base end
function request()
  n = n + 1
  return wrk.format("POST", nil, nil, string.format(BODY, n))
end
"""


def kubectl(*args, stdin=None):
    return subprocess.run([KUBECTL, *args], input=stdin, capture_output=True, text=True, check=True).stdout


def prepare():
    """A namespace with one ConfigMap and 30 Pods, and a ServiceAccount that may read them."""
    kubectl("create", "namespace", NAMESPACE)
    kubectl("-n", NAMESPACE, "create", "configmap", "shared", "--from-literal=key=value")
    pods = [{"apiVersion": "v1", "kind": "Pod", "metadata": {"name": f"pod-{i}", "namespace": NAMESPACE},
             "spec": {"containers": [{"name": "c", "image": "example.invalid/none"}]}} for i in range(PODS)]
    kubectl("apply", "-f", "-", stdin=json.dumps({"apiVersion": "v1", "kind": "List", "items": pods}))
    kubectl("-n", NAMESPACE, "create", "serviceaccount", "reader")
    kubectl("-n", NAMESPACE, "create", "rolebinding", "reader", "--clusterrole=view",
            f"--serviceaccount={NAMESPACE}:reader")
    return kubectl("-n", NAMESPACE, "create", "token", "reader", "--duration=1h").strip()


def token_kubeconfig(token, directory):
    """The admin kubeconfig's cluster with the ServiceAccount token as the user."""
    admin = json.loads(kubectl("config", "view", "--raw", "-o", "json"))
    cluster = admin["clusters"][0]
    config = {"apiVersion": "v1", "kind": "Config", "clusters": [cluster],
              "users": [{"name": "reader", "user": {"token": token}}],
              "contexts": [{"name": "bench", "context": {"cluster": cluster["name"], "user": "reader",
                                                         "namespace": NAMESPACE}}],
              "current-context": "bench"}
    path = Path(directory) / "kubeconfig.json"
    path.write_text(json.dumps(config))
    return path, cluster["cluster"]["server"]


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Server:
    """An MCP server on a free loopback port: started, one session initialized, stopped on exit."""

    def __init__(self, command, env):
        self.command, self.env, self.session = command, env, None

    def start(self):
        """Starts the process; returns the seconds until its /healthz first answered 200."""
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}/mcp"
        started = time.perf_counter()
        self.process = subprocess.Popen([*self.command, "--port", str(self.port)], env=self.env,
                                        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        while True:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{self.port}/healthz", timeout=5) as response:
                    if response.status == 200:
                        return time.perf_counter() - started
            except (urllib.error.URLError, ConnectionError):
                if time.perf_counter() - started > 30 or self.process.poll() is not None:
                    raise
            time.sleep(0.0005)

    def stop(self):
        self.process.terminate()
        self.process.wait(15)

    def __enter__(self):
        self.start()
        self.session = self.post({"jsonrpc": "2.0", "id": 0, "method": "initialize", "params": {
            "protocolVersion": "2025-06-18", "capabilities": {},
            "clientInfo": {"name": "http_load", "version": "1"}}})[0]
        self.post({"jsonrpc": "2.0", "method": "notifications/initialized"})
        return self

    def __exit__(self, *exc):
        self.stop()

    def headers(self):
        headers = {"Content-Type": "application/json", "Accept": "application/json, text/event-stream"}
        if self.session:
            headers["Mcp-Session-Id"] = self.session
        return headers

    def post(self, message):
        request = urllib.request.Request(self.url, data=json.dumps(message).encode(), headers=self.headers())
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.headers.get("Mcp-Session-Id"), response.read().decode()

    def check(self, tool, args):
        call = {"jsonrpc": "2.0", "id": 1, "method": "tools/call", "params": {"name": tool, "arguments": args}}
        _, body = self.post(call)
        assert '"isError":true' not in body.replace(" ", "") and "result" in body, f"{tool}: {body[:300]}"

    def spans_dropped(self):
        """k8s_mcp_spans_dropped_total from /metrics."""
        with urllib.request.urlopen(f"http://127.0.0.1:{self.port}/metrics", timeout=10) as response:
            text = response.read().decode()
        return float(re.search(r"^k8s_mcp_spans_dropped_total (\S+)$", text, re.M).group(1))

    def memory_kib(self, field):
        """VmRSS (now) or VmHWM (peak since start) of the process, KiB."""
        status = Path(f"/proc/{self.process.pid}/status").read_text()
        return int(re.search(rf"{field}:\s+(\d+)", status).group(1))


def wrk(url, connections, headers, body=None, failures=None):
    """calls/s, p50 ms, p99 ms of one closed-loop wrk run. Any error fails the run, except that
    with a `failures` list the count of non-2xx answers is appended to it (the Go server's default
    client rate limiter makes some calls fail: they are reported, not hidden)."""
    with tempfile.NamedTemporaryFile("w", suffix=".lua") as script:
        if body is not None:
            script.write(f"BODY = {json.dumps(body)}\n" + LUA)
        script.flush()
        args = [WRK, f"-t{min(connections, 2)}", f"-c{connections}", f"-d{SECONDS}s", "--timeout", "10s",
                "--latency", "-s", script.name]
        for key, value in headers.items():
            args += ["-H", f"{key}: {value}"]
        out = subprocess.run([*args, url], capture_output=True, text=True, check=True, timeout=SECONDS + 30).stdout

    def millis(label):
        value, unit = re.search(rf"^\s+{label}%\s+([\d.]+)(us|ms|s)\s*$", out, re.M).groups()
        return float(value) * {"us": 0.001, "ms": 1.0, "s": 1000.0}[unit]

    assert "Socket errors" not in out, out
    non_2xx = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", out)
    if failures is None:
        assert non_2xx is None, out
    else:
        failures.append(int(non_2xx.group(1)) if non_2xx else 0)
    return float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1)), millis("50"), millis("99")


def start_times(command, env):
    """Median and maximum ms from exec to the first 200 of /healthz, over STARTS starts."""
    times = []
    for _ in range(STARTS):
        server = Server(command, env)
        times.append(server.start() * 1000)
        server.stop()
    return statistics.median(times), max(times)


def real_client_rows(env):
    """compare.py's loop (official Python SDK over stdio, sequential) for the GET."""
    tool, args, _ = CALLS["GET"]
    rows = []
    for name, command, extra in (("ours, Python SDK stdio", OURS, {}), ("Go tuned, Python SDK stdio", GO, TUNED)):
        rate, p50, p99 = asyncio.run(compare.measure(command, tool, args, dict(env, **extra)))
        rows.append((name, "GET", 1, (rate, p50, p99)))
    return rows


def print_table(rows):
    raw = {(op, c): result for name, op, c, result in rows if name == "raw apiserver"}
    print(f"# {time.strftime('%Y-%m-%d')}, wrk closed loop, {SECONDS} s per row")
    print("| target | call | conns | calls/s | p50 ms | p99 ms | calls/s vs raw | p50 − raw ms | p99 − raw ms |")
    print("|---|---|---:|---:|---:|---:|---:|---:|---:|")
    for name, op, c, (rate, p50, p99) in rows:
        r_rate, r_p50, r_p99 = raw[(op, c)]
        print(f"| {name} | {op} | {c} | {rate:,.0f} | {p50:.2f} | {p99:.2f} | {rate / r_rate:.0%} "
              f"| {p50 - r_p50:+.2f} | {p99 - r_p99:+.2f} |")
    by = {(name, op, c): result for name, op, c, result in rows}
    print("\nours / Go tuned: " + ", ".join(
        f"{op} c{c} {by[('ours', op, c)][0] / by[('Go tuned', op, c)][0]:.2f}x calls/s, "
        f"p99 {by[('ours', op, c)][2]:.2f} vs {by[('Go tuned', op, c)][2]:.2f} ms"
        for op in CALLS for c in CONNECTIONS))


def call_body(tool, args):
    """A tools/call with `%d` where its id goes."""
    call = {"jsonrpc": "2.0", "id": 999, "method": "tools/call", "params": {"name": tool, "arguments": args}}
    return json.dumps(call).replace('"id": 999', '"id": %d')


def pipe_rows(name, run, client_cpu):
    """Rows of a transport driven by pipe_load: `run(body, inflight)`; the client's CPU per
    call goes to `client_cpu`."""
    rows = []
    for op, (tool, args, _) in CALLS.items():
        for c in CONNECTIONS:
            rate, p50, p99, cpu = run(call_body(tool, args).encode(), c)
            rows.append((name, op, c, (rate, p50, p99)))
            client_cpu[(name, op, c)] = cpu
    return rows


def big_answers(env):
    """Peak RSS of a fresh server (ours) answering one LIST of BIG ConfigMaps of 5 KB each,
    as a table and as YAML (a ~5 MB answer), no page or response bound."""
    config_maps = [{"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": f"big-{i}", "namespace": NAMESPACE},
                    "data": {"blob": f"{i:05d}" * 1000}} for i in range(BIG)]
    kubectl("create", "-f", "-", stdin=json.dumps({"apiVersion": "v1", "kind": "List", "items": config_maps}))
    call = {"jsonrpc": "2.0", "id": 1, "method": "tools/call", "params": {
        "name": "resources_list", "arguments": {"apiVersion": "v1", "kind": "ConfigMap", "namespace": NAMESPACE}}}
    found = {}
    for label, flags in (("table", []), ("YAML", ["--list-output", "yaml"])):
        command = [OURS, "--max-list-page-size", "0", "--max-tool-response-bytes", "0", *flags]
        with Server(command, env) as server:
            idle = server.memory_kib("VmHWM")
            _, body = server.post(call)
            assert "big-999" in body, body[:300]
            found[label] = (len(body), idle, server.memory_kib("VmHWM"))
    return found


def main():
    assert WRK, "wrk is missing: e2e/stack/install.sh installs it"
    assert os.access(OURS, os.X_OK), f"{OURS} is missing: cargo build --release -p kubernetes-mcp-server"
    token = prepare()
    with tempfile.TemporaryDirectory() as directory:
        kubeconfig, apiserver = token_kubeconfig(token, directory)
        env = dict(os.environ, KUBECONFIG=str(kubeconfig), OTEL_SDK_DISABLED="true")
        traced = {k: v for k, v in env.items() if k != "OTEL_SDK_DISABLED"}
        traced.update(TRACED, OTEL_EXPORTER_OTLP_ENDPOINT=os.environ["OTLP_GRPC_ENDPOINT"])
        tuned = dict(env, **TUNED)
        rows, memory, client_cpu, dropped, go_failures = [], {}, {}, None, {}
        raw_headers = {"Authorization": f"Bearer {token}", "Accept": "application/json"}
        for op, (_, _, path) in CALLS.items():
            for c in CONNECTIONS:
                rows.append(("raw apiserver", op, c, wrk(apiserver + path, c, raw_headers)))
        # name, command, env, then whether SSE and stdio rows follow (v0.0.67 of the Go server
        # serves no legacy SSE)
        targets = (("ours", [OURS], env, True, True), ("ours --stateless", [OURS, "--stateless"], env, False, False),
                   ("ours, tracing on", [OURS], traced, False, False), ("Go default", [GO], env, False, False),
                   ("Go tuned", [GO], tuned, False, True))
        for name, command, server_env, sse, stdio in targets:
            with Server(command, server_env) as server:
                memory[f"{name} idle"] = server.memory_kib("VmRSS")
                for op, (tool, args, _) in CALLS.items():
                    server.check(tool, args)
                    for c in CONNECTIONS:
                        failed = [] if name.startswith("Go") else None
                        rows.append((name, op, c, wrk(server.url, c, server.headers(), call_body(tool, args), failed)))
                        if failed:
                            go_failures[(name, op, c)] = failed[0]
                if sse:
                    rows += pipe_rows(f"{name}, SSE", lambda body, c: pipe_load.sse(
                        server.port, INITIALIZE.encode(), body, c, SECONDS), client_cpu)
                memory[f"{name} peak under load"] = server.memory_kib("VmHWM")
                if server_env is traced:
                    dropped = server.spans_dropped()
            if stdio:
                rows += pipe_rows(f"{name}, stdio", lambda body, c: pipe_load.stdio(
                    command, server_env, INITIALIZE.encode(), body, c, SECONDS), client_cpu)
        rows += real_client_rows(env)
        starts = {"ours": start_times([OURS], env), "Go": start_times([GO], env)}
        big = big_answers(env)
    print_table(rows)
    print("pipe_load client CPU per call, µs: " + ", ".join(f"{n} {op} {c}: {v:.0f}" for (n, op, c), v in client_cpu.items()))
    print("non-2xx answers of the Go server: " + (", ".join(
        f"{n} {op} {c}: {v:,}" for (n, op, c), v in go_failures.items()) or "none"))
    print(f"spans dropped with tracing on (k8s_mcp_spans_dropped_total): {dropped}")
    print("RSS KiB: " + ", ".join(f"{k} {v:,}" for k, v in memory.items()))
    print(f"one LIST of {BIG:,} ConfigMaps (5 KB each), fresh server, no page or response bound: " + ", ".join(
        f"{label} answer {size:,} B, VmHWM {idle:,} -> {peak:,} KiB" for label, (size, idle, peak) in big.items()))
    print(f"start -> first /healthz 200, ms (median, max of {STARTS}): "
          + ", ".join(f"{k} {m:.1f}, {x:.1f}" for k, (m, x) in starts.items()))
    print(f"binary bytes: ours {os.path.getsize(OURS):,}, Go {os.path.getsize(GO):,}")


if __name__ == "__main__":
    sys.exit(main())
