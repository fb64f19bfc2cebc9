"""A/B of release builds of our server (e.g. one commit at opt-level 3, "s" and "z"): the raw
apiserver and each build, in rounds that rotate their order, for http_load.py's GET and LIST at
1 and 8 connections over streamable HTTP (one session, wrk closed loop). Prints per build the
median calls/s, p50, p99 and the server's own CPU per call over the rounds, with their ratio to
the raw apiserver of the same rounds, then idle RSS, peak RSS under load, start -> first /healthz
and the binary's size: what `[profile.release]` is chosen by (BENCHMARKS.md). Builds nothing.
Run inside the stack, at a raised priority if the machine is busy (the stack keeps it):

  e2e/stack.sh run -- bash -c '$KMCP_PYTHON e2e/bench/profile_ab.py o3=target/release/kubernetes-mcp-server s=...'

BENCH_ROUNDS (default 3) and BENCH_SECONDS (default 8, per wrk run) set its length.
"""

import os
import statistics
import sys
import tempfile
from pathlib import Path

import http_load

ROUNDS = int(os.environ.get("BENCH_ROUNDS", "3"))


def cpu_seconds(pid):
    """User + system CPU seconds of a process so far (/proc/PID/stat, clock ticks)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def measure(name, command, env, results, memory, cpu):
    """One round of one target: every call at every connection count, appended to `results`;
    the server's own CPU per call (µs) to `cpu`."""
    with http_load.Server(command, env) as server:
        memory.setdefault(f"{name} idle", []).append(server.memory_kib("VmRSS"))
        for op, (tool, args, _) in http_load.CALLS.items():
            server.check(tool, args)
            for c in http_load.CONNECTIONS:
                body = http_load.call_body(tool, args)
                before = cpu_seconds(server.process.pid)
                result = http_load.wrk(server.url, c, server.headers(), body)
                used = cpu_seconds(server.process.pid) - before
                results.setdefault((name, op, c), []).append(result)
                cpu.setdefault((name, op, c), []).append(used / (result[0] * http_load.SECONDS) * 1e6)
        memory.setdefault(f"{name} peak", []).append(server.memory_kib("VmHWM"))


def main(argv):
    builds = dict(arg.split("=", 1) for arg in argv)
    assert builds, "usage: profile_ab.py NAME=BINARY [NAME=BINARY ...]"
    for path in builds.values():
        assert os.access(path, os.X_OK), f"{path} is not an executable"
    token = http_load.prepare()
    results, memory, cpu = {}, {}, {}
    with tempfile.TemporaryDirectory() as directory:
        kubeconfig, apiserver = http_load.token_kubeconfig(token, directory)
        env = dict(os.environ, KUBECONFIG=str(kubeconfig), OTEL_SDK_DISABLED="true")
        raw_headers = {"Authorization": f"Bearer {token}", "Accept": "application/json"}
        names = list(builds)
        for round_number in range(ROUNDS):
            for op, (_, _, path) in http_load.CALLS.items():
                for c in http_load.CONNECTIONS:
                    results.setdefault(("raw apiserver", op, c), []).append(
                        http_load.wrk(apiserver + path, c, raw_headers))
            shift = round_number % len(names)
            for name in names[shift:] + names[:shift]:
                measure(name, [builds[name]], env, results, memory, cpu)
        starts = {name: http_load.start_times([path], env) for name, path in builds.items()}
    print(f"# {ROUNDS} rounds of {http_load.SECONDS} s per wrk run; medians over the rounds")
    print("| build | call | conns | calls/s | p50 ms | p99 ms | calls/s vs raw | p50 − raw ms | p99 − raw ms "
          "| server CPU µs/call |")
    print("|---|---|---:|---:|---:|---:|---:|---:|---:|---:|")
    for (name, op, c), runs in results.items():
        rate, p50, p99 = (statistics.median(column) for column in zip(*runs))
        r_rate, r_p50, r_p99 = (statistics.median(column) for column in zip(*results[("raw apiserver", op, c)]))
        per_call = f"{statistics.median(cpu[(name, op, c)]):.0f}" if (name, op, c) in cpu else "—"
        print(f"| {name} | {op} | {c} | {rate:,.0f} | {p50:.2f} | {p99:.2f} | {rate / r_rate:.0%} "
              f"| {p50 - r_p50:+.2f} | {p99 - r_p99:+.2f} | {per_call} |")
    print("RSS KiB (median): " + ", ".join(f"{k} {statistics.median(v):,.0f}" for k, v in memory.items()))
    print("start -> first /healthz 200, ms (median, max): "
          + ", ".join(f"{k} {m:.1f}, {x:.1f}" for k, (m, x) in starts.items()))
    print("binary bytes: " + ", ".join(f"{name} {os.path.getsize(path):,}" for name, path in builds.items()))


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
