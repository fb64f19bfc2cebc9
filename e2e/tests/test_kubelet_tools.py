"""The kubelet-backed tools succeed for real through the official MCP SDK: the apiserver proxies
pods/exec (WebSocket from the server, SPDY to the kubelet), pods/log and nodes/proxy to the stack's
kubelet API (e2e/stack/kubelet), which serves the pods the pod runner runs. Each answer is checked
against what the pod really did or what the node really holds. The pod is conftest's `talker`."""

import json
import os

import pytest

from support.server import session, text
from support.stack import kubectl

pytestmark = pytest.mark.anyio

STACK_DIR = os.environ["KMCP_STACK_DIR"]


async def test_pods_exec_returns_stdout_and_more_than_a_pipe_of_stderr(talker):
    namespace, name = talker
    # 64 KiB to stderr before a byte to stdout: a reader that drains stdout first deadlocks.
    command = ["sh", "-c", "head -c 65536 /dev/zero | tr '\\0' e >&2; echo stdout-after; hostname"]
    async with session("stdio") as s:
        got = await s.call_tool("pods_exec", {"name": name, "namespace": namespace, "command": command})
    out = text(got)
    assert not got.is_error, out[:500]
    assert "stdout-after" in out and out.count("e" * 1024) >= 64, out[:200]
    # It ran in the pod's own UTS namespace, where the hostname is the pod's name.
    assert "\ntalker" in out


async def test_pods_exec_reports_a_failing_commands_exit_status(talker):
    namespace, name = talker
    async with session("stdio") as s:
        got = await s.call_tool("pods_exec", {"name": name, "namespace": namespace,
                                              "command": ["sh", "-c", "echo partial; exit 3"]})
    # The kubelet's v4 status on the error stream, through the apiserver's translation to v5.
    assert got.is_error and "command terminated with exit code 3" in text(got) and "partial" in text(got), text(got)


async def test_pods_exec_output_over_the_limit_is_cut_with_a_note(talker):
    namespace, name = talker
    command = ["sh", "-c", "head -c 200000 /dev/zero | tr '\\0' x"]
    async with session("stdio", "--max-tool-response-bytes", "4096") as s:
        got = await s.call_tool("pods_exec", {"name": name, "namespace": namespace, "command": command})
    out = text(got)
    assert not got.is_error, out[:500]
    assert out.startswith("[output truncated at 4096 bytes (max_tool_response_bytes)"), out[:200]
    # The output itself survives the cut, not only the notes.
    assert len(out.encode()) <= 4096 and "x" * 3000 in out


async def test_pods_log_is_the_pods_real_output_and_honours_tail(talker):
    namespace, name = talker
    async with session("stdio") as s:
        everything = text(await s.call_tool("pods_log", {"name": name, "namespace": namespace}))
        last = text(await s.call_tool("pods_log", {"name": name, "namespace": namespace, "tail": 3}))
    assert everything.splitlines() == [f"line {i}" for i in range(1, 51)] + ["to stderr"]
    assert last.splitlines() == ["line 49", "line 50", "to stderr"]


async def test_pods_log_is_capped_at_max_log_tail_lines(talker):
    namespace, name = talker
    async with session("stdio", "--max-log-tail-lines", "2") as s:
        got = text(await s.call_tool("pods_log", {"name": name, "namespace": namespace, "tail": 0}))
    note, *lines = got.splitlines()
    assert "capped at its last 2 lines (max_log_tail_lines)" in note
    assert lines == ["line 50", "to stderr"]


async def test_nodes_log_asks_the_log_query_api_for_a_service_and_a_tail():
    node = kubectl("get", "nodes", "-o", "jsonpath={.items[0].metadata.name}")
    # A service the node logs to a file, as the kubelet finds it for `query=<service>`.
    with open(os.path.join(STACK_DIR, "logs", "e2e-service.log"), "w") as f:
        f.writelines(f"entry {i}\n" for i in range(1, 21))
    async with session("stdio") as s:
        tail = await s.call_tool("nodes_log", {"name": node, "query": "e2e-service", "tailLines": 4})
        kubelet = text(await s.call_tool("nodes_log", {"name": node, "query": "kubelet"}))
    assert not tail.is_error, text(tail)
    assert text(tail).splitlines() == ["entry 17", "entry 18", "entry 19", "entry 20"]
    # The kubelet's own log holds this very request: the query went as a query, not a path.
    assert "GET /logs?query=kubelet&tailLines=100" in kubelet, kubelet[-500:]
    async with session("stdio", "--max-log-tail-lines", "2") as s:
        capped = text(await s.call_tool("nodes_log", {"name": node, "query": "e2e-service", "tailLines": 0}))
    assert capped.splitlines() == ["[the log is capped at its last 2 lines (max_log_tail_lines)]", "entry 19", "entry 20"]


async def test_nodes_stats_summary_is_the_nodes_and_its_pods_usage(talker):
    namespace, name = talker
    node = kubectl("get", "nodes", "-o", "jsonpath={.items[0].metadata.name}")
    async with session("stdio") as s:
        got = await s.call_tool("nodes_stats_summary", {"name": node})
    assert not got.is_error, text(got)
    summary = json.loads(text(got))
    assert summary["node"]["nodeName"] == node
    assert summary["node"]["memory"]["workingSetBytes"] > 0
    assert summary["node"]["cpu"]["usageCoreNanoSeconds"] > 0
    ours = [p for p in summary["pods"] if p["podRef"] == {"name": name, "namespace": namespace,
                                                          "uid": kubectl("get", "pod", name, "-n", namespace,
                                                                         "-o", "jsonpath={.metadata.uid}")}]
    assert len(ours) == 1, summary["pods"]
    assert ours[0]["containers"][0]["name"] == "main"
    assert ours[0]["memory"]["rssBytes"] > 0
