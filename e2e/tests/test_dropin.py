"""The Go kubernetes-mcp-server v0.0.67 (npm binary) and ours given the same configs and flags:
a corpus of Go configs (e2e/tests/data/go-configs, written from the Go docs) must start in both
or be refused by both, and then list the same tools and prompts; each deliberate difference is
listed with its reason. The tools' `title`, `annotations.title` and `_meta` RBAC declaration
must equal the Go server's, with one and with two kubeconfig contexts. Both servers run over
stdio with the official MCP SDK against a kubeconfig whose apiserver is unreachable: listing
needs no cluster."""

import os
import subprocess
from pathlib import Path

import pytest
from mcp import ClientSession, StdioServerParameters
from mcp.client.stdio import stdio_client

from support.stack import SERVER

pytestmark = pytest.mark.anyio

GO_SERVER = Path(os.environ.get("KMCP_NODE_MODULES", "")) / "kubernetes-mcp-server-linux-amd64" / "bin" / "kubernetes-mcp-server-linux-amd64"
CORPUS = Path(__file__).parent / "data" / "go-configs"
# Configs Go v0.0.67 starts with and this server refuses on purpose, with the message it gives.
REFUSED_HERE = {
    "unsupported-toolset.toml": "kiali toolset is not supported by this server",
    # v0.0.67 ignores unknown keys; its next release refuses them, as this server does.
    "unknown-key.toml": "colour",
}
FLAG_SETS = [
    ["--read-only=false"],
    ["--read-only=true", "--stateless=true"],
    ["--disable-destructive=true", "--toolsets", "core,config,helm"],
    ["--require-oauth=false"],
    ["--cluster-provider", "disabled"],
    ["--disable-multi-cluster=true"],
    ["--toolsets", "core,foo"],
]


def kubeconfig(tmp_path, contexts):
    """A kubeconfig with `contexts` contexts on an apiserver nobody listens on."""
    path = tmp_path / f"kubeconfig-{contexts}"
    names = [f"ctx-{i}" for i in range(contexts)]
    path.write_text("apiVersion: v1\nkind: Config\nclusters:\n- name: dead\n  cluster: {server: 'https://127.0.0.1:1'}\n"
                    "users:\n- name: u\n  user: {token: x}\ncontexts:\n"
                    + "".join(f"- name: {n}\n  context: {{cluster: dead, user: u}}\n" for n in names)
                    + f"current-context: {names[0]}\n")
    return path


def env_for(config_path):
    return dict(os.environ, KUBECONFIG=str(config_path))


def start_up(command, args, env):
    """(exit code, stderr) of a server that refuses its config, or (0, "") when it is still
    serving stdio after 2 s (a refusal comes long before)."""
    server = subprocess.Popen([str(command), *args], stdin=subprocess.PIPE, stdout=subprocess.DEVNULL,
                              stderr=subprocess.PIPE, text=True, env=env)
    try:
        code = server.wait(timeout=2)
        return code, server.stderr.read()
    except subprocess.TimeoutExpired:
        server.kill()
        server.communicate()
        return 0, ""


async def listing(command, args, env):
    """What a client sees: the tools (by name) and the prompt names."""
    params = StdioServerParameters(command=str(command), args=list(args), env=env)
    async with stdio_client(params, errlog=open(os.devnull, "w")) as (read, write):
        async with ClientSession(read, write) as s:
            init = await s.initialize()
            tools = {t.name: t for t in (await s.list_tools()).tools}
            prompts = sorted(p.name for p in (await s.list_prompts()).prompts) if init.capabilities.prompts else []
            return init, tools, prompts


async def compare(args, env, refused_here=None):
    go_code, _ = start_up(GO_SERVER, args, env)
    our_code, our_err = start_up(SERVER, args, env)
    if refused_here:
        assert go_code == 0, "the Go server starts with it"
        assert our_code != 0 and refused_here in our_err, our_err
        return
    assert (go_code == 0) == (our_code == 0), f"Go exit {go_code}, ours {our_code}: {our_err}"
    if go_code != 0:
        return
    go_init, go_tools, go_prompts = await listing(GO_SERVER, args, env)
    init, tools, prompts = await listing(SERVER, args, env)
    assert sorted(tools) == sorted(go_tools)
    assert prompts == go_prompts
    # Both promise `list_changed` notifications, except when stateless.
    assert init.capabilities.tools.list_changed == go_init.capabilities.tools.list_changed
    # Go sends no instructions unless configured; ours then sends its own.
    assert init.instructions == go_init.instructions or not go_init.instructions
    return go_tools, tools


@pytest.mark.parametrize("name", sorted(p.name for p in CORPUS.glob("*.toml")))
async def test_go_configs_start_and_list_alike(name, tmp_path):
    env = env_for(kubeconfig(tmp_path, 2))
    result = await compare(["--config", str(CORPUS / name)], env, REFUSED_HERE.get(name))
    if name == "tool-overrides.toml":
        go_tools, tools = result
        for tool in ("pods_list", "resources_get"):
            assert tools[tool].description == go_tools[tool].description


async def test_an_unknown_toolset_gets_the_go_servers_message(tmp_path):
    env = env_for(kubeconfig(tmp_path, 1))
    message = "invalid toolset name: foo, valid names are: config, core, helm, kcp, kiali, kubevirt, netobserv, tekton"
    for command in (GO_SERVER, SERVER):
        code, err = start_up(command, ["--toolsets", "core,foo"], env)
        assert code != 0 and message in err, (command, err)


@pytest.mark.parametrize("flags", FLAG_SETS, ids=" ".join)
async def test_go_flags_start_and_list_alike(flags, tmp_path):
    await compare(flags, env_for(kubeconfig(tmp_path, 2)))


def metadata(tool):
    dumped = tool.model_dump(by_alias=True, exclude_none=True)
    return {"title": dumped.get("title"), "annotations.title": dumped.get("annotations", {}).get("title"),
            "_meta": dumped.get("_meta")}


@pytest.mark.parametrize("contexts", [1, 2])
async def test_tool_titles_and_rbac_declarations_match_the_go_server(contexts, tmp_path):
    env = env_for(kubeconfig(tmp_path, contexts))
    args = ["--toolsets", "core,config,helm"]
    _, go_tools, _ = await listing(GO_SERVER, args, env)
    _, tools, _ = await listing(SERVER, args, env)
    assert sorted(tools) == sorted(go_tools)
    for name, tool in go_tools.items():
        assert metadata(tools[name]) == metadata(tool), name
    assert all(metadata(t)["_meta"]["io.kubernetes-mcp-server/rbac"]["version"] == "v1alpha1" for t in tools.values())


async def test_prompts_match_the_go_server(tmp_path):
    env = env_for(kubeconfig(tmp_path, 1))
    args = ["--config", str(CORPUS / "prompts.toml")]
    declared = []
    for command in (GO_SERVER, SERVER):
        params = StdioServerParameters(command=str(command), args=args, env=env)
        async with stdio_client(params, errlog=open(os.devnull, "w")) as (read, write):
            async with ClientSession(read, write) as s:
                await s.initialize()
                listed = {p.name: p for p in (await s.list_prompts()).prompts}
                health = listed["cluster-health-check"]
                declared.append(health.model_dump(by_alias=True, exclude_none=True))
                assert [a.name for a in health.arguments] == ["namespace", "check_events"]
                got = await s.get_prompt("check-pod-logs", {"pod_name": "web", "namespace": "team"})
                assert [(m.role, m.content.text) for m in got.messages] == [
                    ("user", "Show me the logs for pod web in team"),
                    ("assistant", "I'll retrieve and analyze the logs for you."),
                ], command
                report = await s.get_prompt("cluster-health-check", {})
                assert report.messages[0].content.text.startswith("# Cluster Health Check Diagnostic Data"), command
    assert declared[1] == declared[0]
