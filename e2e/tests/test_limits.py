"""Response limits ([response_limits]) against the real apiserver through the official MCP SDK: a
namespace of 2,000 ConfigMaps is listed one page at a time and the answer says how many were
left; answers the SDK could not read (over its 1 MiB SSE event) are cut with a note; a gzip bomb
stored as a Helm release is refused without inflating it (the server's peak memory stays small)."""

import base64
import gzip
import json
import re
import subprocess
import zlib

import pytest
import yaml

from support.server import HttpServer, session, text
from support.stack import KUBECTL, kubectl

pytestmark = pytest.mark.anyio


def create_configmaps(namespace, count, size=1, batches=4):
    """`count` ConfigMaps of `size` bytes each, created by a few kubectl processes at once."""
    names = [f"cm-{i:04d}" for i in range(count)]
    running = []
    for b in range(batches):
        items = [{"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": n, "labels": {"batch": "limits"}},
                  "data": {"v": "x" * size}} for n in names[b::batches]]
        p = subprocess.Popen([KUBECTL, "create", "-n", namespace, "-f", "-", "-o", "name"], stdin=subprocess.PIPE,
                             stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        p.stdin.write(json.dumps({"apiVersion": "v1", "kind": "List", "items": items}))
        p.stdin.close()
        running.append(p)
    for p in running:
        assert p.wait(300) == 0, p.stderr.read()


def configmaps_in(namespace):
    return len(kubectl("get", "configmaps", "-n", namespace, "-o", "name").split())


NOTE = re.compile(r'\[list truncated at max_list_page_size: the cluster has (\d+) more\. For the next page call this tool '
                  r'again with the same arguments and "continue": "([^"]+)"; or narrow the list with a namespace, a '
                  r'labelSelector or a fieldSelector\]')


async def test_a_list_of_2000_objects_is_one_page_that_says_how_many_are_left(namespace):
    create_configmaps(namespace, 2000)
    total = configmaps_in(namespace)
    args = {"apiVersion": "v1", "kind": "ConfigMap", "namespace": namespace}
    async with session("http") as s:
        out = text(await s.call_tool("resources_list", args))
    note, table = out.split("\n", 1)
    more = NOTE.fullmatch(note)
    assert more, note
    assert 200 + int(more.group(1)) == total
    assert len(table.strip().splitlines()) == 1 + 200  # header + one page

    # A flag changes the page, and a selector that fits in one page gets no note.
    async with session("stdio", "--max-list-page-size", "50") as s:
        out = text(await s.call_tool("resources_list", args))
        assert NOTE.fullmatch(out.split("\n", 1)[0]) and len(out.strip().splitlines()) == 1 + 1 + 50
        one = text(await s.call_tool("resources_list", {**args, "fieldSelector": "metadata.name=cm-0007"}))
        assert not one.startswith("[list truncated") and "cm-0007" in one


async def walk(s, tool, args, names_of):
    """Every page of a list tool, following its continue tokens: (names in order, pages)."""
    names, pages, token = [], 0, None
    while True:
        result = await s.call_tool(tool, {**args, **({"continue": token} if token else {})})
        assert not result.is_error, text(result)
        out, pages = text(result), pages + 1
        more = NOTE.fullmatch(out.split("\n", 1)[0])
        names += names_of(out.split("\n", 1)[1] if more else out)
        if not more:
            return names, pages
        token = more.group(2)


def table_names(out):
    lines = out.strip().splitlines()
    column = re.split(r"\s{2,}|\t", lines[0].strip()).index("NAME")
    return [re.split(r"\s{2,}|\t", line.strip())[column] for line in lines[1:]]


def yaml_names(out):
    return [o["metadata"]["name"] for o in yaml.safe_load(out)]


async def test_walking_the_continue_tokens_yields_every_object_exactly_once(namespace):
    create_configmaps(namespace, 450)
    expected = sorted(n.split("/", 1)[1] for n in kubectl("get", "configmaps", "-n", namespace, "-o", "name").split())
    args = {"apiVersion": "v1", "kind": "ConfigMap", "namespace": namespace}
    async with session("http") as s:
        names, pages = await walk(s, "resources_list", args, table_names)
    assert pages == 3  # 200 + 200 + the rest (450 and kube-root-ca.crt)
    assert sorted(names) == expected and len(names) == len(set(names))

    # YAML pages of 100 from another list tool, through the same tokens.
    async with session("stdio", "--list-output", "yaml", "--max-list-page-size", "100") as s:
        names, pages = await walk(s, "resources_list", args, yaml_names)
        assert pages == 5 and sorted(names) == expected and len(names) == len(set(names))
        # A token that is not one is the apiserver's error, as a tool error.
        bad = await s.call_tool("resources_list", {**args, "continue": "not-a-token"})
        assert bad.is_error and "continue" in text(bad), text(bad)


async def test_an_answer_over_the_sdks_limit_is_cut_and_says_so(namespace):
    # Four 700 KB ConfigMaps as YAML: 2.8 MB, which the SDK's streamable HTTP client refuses whole.
    create_configmaps(namespace, 4, size=700_000, batches=1)
    async with session("http", "--list-output", "yaml") as s:
        result = await s.call_tool("resources_list", {"apiVersion": "v1", "kind": "ConfigMap", "namespace": namespace})
    out = text(result)
    assert not result.is_error
    assert len(json.dumps(out)) <= 1_000_000
    assert re.search(r"\[output truncated at \d+ of \d+ bytes \(max_tool_response_bytes = 1000000\): narrow", out)

    async with session("stdio", "--list-output", "yaml", "--max-tool-response-bytes", "0") as s:
        whole = text(await s.call_tool("resources_list", {"apiVersion": "v1", "kind": "ConfigMap", "namespace": namespace}))
    assert len(whole) > 2_800_000 and "output truncated" not in whole


def gzip_bomb(mib):
    """gzip of a JSON opening and `mib` MiB of zeros (about 1/1000 of that size)."""
    packer = zlib.compressobj(9, zlib.DEFLATED, 31)
    parts = [packer.compress(b'{"name": "')]
    zeros = b"0" * (1 << 20)
    parts += [packer.compress(zeros) for _ in range(mib)]
    parts.append(packer.flush())
    return b"".join(parts)


def release_secret(namespace, name, stored):
    return {"apiVersion": "v1", "kind": "Secret", "type": "helm.sh/release.v1",
            "metadata": {"name": f"sh.helm.release.v1.{name}.v1", "namespace": namespace,
                         "labels": {"owner": "helm", "name": name, "status": "deployed", "version": "1"}},
            "data": {"release": base64.b64encode(base64.b64encode(stored)).decode()}}


def peak_rss_kib(pid):
    with open(f"/proc/{pid}/status") as status:
        return int(re.search(r"VmHWM:\s+(\d+) kB", status.read()).group(1))


async def test_a_gzip_bomb_in_a_helm_release_is_refused_without_inflating_it(namespace):
    from mcp import ClientSession
    from mcp.client.streamable_http import streamable_http_client

    bomb = gzip_bomb(512)
    kubectl("create", "-f", "-", stdin=json.dumps(release_secret(namespace, "bomb", bomb)))
    good = {"name": "good", "namespace": namespace, "version": 1, "info": {"status": "deployed"},
            "chart": {"metadata": {"name": "c", "version": "1.0.0"}}, "manifest": ""}
    kubectl("create", "-f", "-", stdin=json.dumps(release_secret(namespace, "good", gzip.compress(json.dumps(good).encode()))))
    with HttpServer("--toolsets", "helm") as server:
        async with streamable_http_client(server.url + "/mcp") as streams:
            async with ClientSession(streams[0], streams[1]) as s:
                await s.initialize()
                out = text(await s.call_tool("helm_list", {"namespace": namespace}))
        peak = peak_rss_kib(server.process.pid)
    assert f"# Secret {namespace}/sh.helm.release.v1.bomb.v1 was skipped: its release decompresses to more than 32 MiB" in out
    assert [r["name"] for r in yaml.safe_load(out)] == ["good"]
    # 512 MiB inflated would show here; the limit allows 32 MiB of it.
    assert peak < 200 * 1024, f"peak RSS {peak} KiB"
