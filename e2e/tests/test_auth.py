"""Authenticated, authorized and audited endpoints (issue 19, server side) against the stack's real
apiserver: the server runs as a real ServiceAccount (token from the TokenRequest API) with exactly
the RBAC each mode needs, and callers are real ServiceAccounts with TokenRequest tokens, through
the official Python MCP SDK and the MCP Inspector CLI over streamable HTTP and SSE.

Tokens refused with 401: none, garbage, wrong audience, a ServiceAccount's token after the
ServiceAccount was deleted, and a really expired one (TokenRequest will not mint one shorter than
10 minutes, so it is signed here with the stack's own ServiceAccount signing key, with `exp` in the
past; the same recipe with a future `exp` is admitted, so expiry is what refuses it)."""

import base64
import contextlib
import json
import os
import subprocess
import time
import uuid

import httpx2 as httpx
import pytest
import yaml
from mcp import ClientSession
from mcp.client.sse import sse_client
from mcp.client.streamable_http import streamable_http_client

from collector import spans_of
from support.server import HEADERS, INITIALIZE, HttpServer, bearer, text
from support.stack import SERVER, kubectl
from support.wait import eventually

pytestmark = pytest.mark.anyio

APISERVER_AUDIENCE = "https://kubernetes.default.svc.cluster.local"
ISSUER = "https://issuer.example.com"


def apply(manifest):
    kubectl("apply", "-f", "-", stdin=json.dumps(manifest))


def binding(kind, name, namespace, role_kind, role, subject_ns, subject):
    meta = {"name": name} | ({"namespace": namespace} if namespace else {})
    return {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": kind, "metadata": meta,
            "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": role_kind, "name": role},
            "subjects": [{"kind": "ServiceAccount", "name": subject, "namespace": subject_ns}]}


def token(namespace, account, *audiences):
    """A TokenRequest token for `account` (10 minutes, the shortest the API mints)."""
    args = [arg for audience in audiences for arg in ("--audience", audience)]
    return kubectl("create", "token", account, "-n", namespace, "--duration", "10m", *args).strip()


class World:
    """Namespace `ns` holds the McpServer `srv` (only as an RBAC resource name), the server's
    ServiceAccount `server` and the callers `agent` (may use srv, reads pods in ns only) and
    `stranger` (may not use srv). The server reads pods in ns and in `elsewhere`."""

    def __init__(self, tmp_path):
        self.ns = f"auth-{uuid.uuid4().hex[:6]}"
        self.elsewhere = f"{self.ns}-else"
        self.audience = f"kubernetes-mcp.io/{self.ns}/srv"
        self.cluster_objects = []
        for ns in (self.ns, self.elsewhere):
            kubectl("create", "namespace", ns)
        for account in ("server", "agent", "stranger", "ghost", "unprivileged"):
            kubectl("create", "serviceaccount", account, "-n", self.ns)
        self.grant_server()
        apply({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "Role",
               "metadata": {"name": "mcp-users", "namespace": self.ns},
               "rules": [{"apiGroups": ["kubernetes-mcp.io"], "resources": ["mcpservers"],
                          "resourceNames": ["srv"], "verbs": ["use"]}]})
        apply(binding("RoleBinding", "mcp-users", self.ns, "Role", "mcp-users", self.ns, "agent"))
        apply(binding("RoleBinding", "agent-view", self.ns, "ClusterRole", "view", self.ns, "agent"))
        self.kubeconfig = self.kubeconfig_of("server", tmp_path)
        self.agent = f"system:serviceaccount:{self.ns}:agent"

    def kubeconfig_of(self, account, tmp_path):
        """A kubeconfig that authenticates as `account` with a TokenRequest token."""
        with open(os.environ["KUBECONFIG"]) as f:
            config = yaml.safe_load(f)
        config["users"] = [{"name": account, "user": {"token": token(self.ns, account)}}]
        config["contexts"][0]["context"].update(user=account, namespace=self.ns)
        path = tmp_path / f"{account}.kubeconfig"
        path.write_text(yaml.safe_dump(config))
        return path

    def grant_server(self):
        """What the operator must grant the server's ServiceAccount: reviews (system:auth-delegator)
        and impersonation, plus its own read rights in both namespaces."""
        impersonator = f"{self.ns}-impersonator"
        apply({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRole", "metadata": {"name": impersonator},
               "rules": [{"apiGroups": [""], "resources": ["users", "groups", "serviceaccounts"], "verbs": ["impersonate"]},
                         {"apiGroups": ["authentication.k8s.io"], "resources": ["*"], "verbs": ["impersonate"]}]})
        apply(binding("ClusterRoleBinding", impersonator, None, "ClusterRole", impersonator, self.ns, "server"))
        apply(binding("ClusterRoleBinding", f"{self.ns}-reviews", None, "ClusterRole", "system:auth-delegator",
                      self.ns, "server"))
        self.cluster_objects = [f"clusterrole/{impersonator}", f"clusterrolebinding/{impersonator}",
                                f"clusterrolebinding/{self.ns}-reviews"]
        for ns in (self.ns, self.elsewhere):
            apply(binding("RoleBinding", "server-view", ns, "ClusterRole", "view", self.ns, "server"))

    def config(self, tmp_path, mode="kubeconfig", authorization=True, extra=""):
        path = tmp_path / f"{mode}-{uuid.uuid4().hex[:4]}.toml"
        rule = f'[authorization]\nresource_name = "srv"\nresource_namespace = "{self.ns}"\n' if authorization else ""
        path.write_text(f'require_oauth = true\noauth_audience = "{self.audience}"\nauthorization_url = "{ISSUER}"\n'
                        f'cluster_auth_mode = "{mode}"\n{extra}\n{rule}')
        return path

    def server(self, tmp_path, *args, mode="kubeconfig", env=None, drain=False, **config):
        return HttpServer("--config", str(self.config(tmp_path, mode, **config)), "--kubeconfig", str(self.kubeconfig),
                          *args, env=env, drain=drain)

    def delete(self):
        for ns in (self.ns, self.elsewhere):
            kubectl("delete", "namespace", ns, "--wait=false")
        kubectl("delete", *self.cluster_objects, "--ignore-not-found")


@pytest.fixture
def world(tmp_path):
    w = World(tmp_path)
    yield w
    w.delete()


def b64url(data):
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def signed_token(real_token, expires_in):
    """The claims of `real_token`, re-signed with the stack's ServiceAccount key with `exp` moved
    to now + `expires_in` seconds (negative: already expired)."""
    header, payload, _ = real_token.split(".")
    claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    now = int(time.time())
    claims.update(iat=now - 3600, nbf=now - 3600, exp=now + expires_in)
    signing_input = f"{header}.{b64url(json.dumps(claims).encode())}"
    key = os.path.join(os.environ["KMCP_STACK_DIR"], "pki", "sa.key")
    signature = subprocess.run(["openssl", "dgst", "-sha256", "-sign", key], input=signing_input.encode(),
                               capture_output=True, check=True).stdout
    return f"{signing_input}.{b64url(signature)}"


def initialize(url, headers):
    return httpx.post(url + "/mcp", json=INITIALIZE, headers=HEADERS | headers, timeout=30)


def refusals(url, headers):
    """Status, WWW-Authenticate and JSON body of an initialize POST to /mcp and of GET /sse, for
    requests that must be refused (an admitted GET /sse would stream forever)."""
    with httpx.Client(base_url=url, headers=HEADERS | headers, timeout=30) as http:
        answers = [http.post("/mcp", json=INITIALIZE), http.get("/sse")]
    return [(r.status_code, r.headers.get("www-authenticate"), r.json()) for r in answers]


def bad_tokens(world):
    real = token(world.ns, "agent", world.audience)
    ghost = token(world.ns, "ghost", world.audience)
    kubectl("delete", "serviceaccount", "ghost", "-n", world.ns)
    return real, {"missing": None, "garbage": "not-a-token", "wrong audience": token(world.ns, "agent", "someone-else"),
                  "deleted ServiceAccount": ghost, "expired": signed_token(real, -60)}


async def test_tokens_that_are_missing_garbage_expired_deleted_or_for_another_audience_get_401(world, tmp_path):
    real, refused = bad_tokens(world)
    with world.server(tmp_path) as server:
        metadata_url = f"{server.url}/.well-known/oauth-protected-resource"
        for what, value in refused.items():
            for status, challenge, body in refusals(server.url, bearer(value) if value else {}):
                assert status == 401, (what, body)
                assert challenge.startswith(f'Bearer resource_metadata="{metadata_url}"'), challenge
                assert ('error="invalid_token"' in challenge) == (value is not None)
                assert body["error"]["code"] == -32001 and body["jsonrpc"] == "2.0"
        assert "expired" in initialize(server.url, bearer(refused["expired"])).json()["error"]["message"]
        # Signed the same way but not yet expired: admitted, so expiry is what refused it above.
        assert initialize(server.url, bearer(signed_token(real, 600))).status_code == 200
        with httpx.Client(base_url=server.url, timeout=10) as http:
            document = http.get(metadata_url).json()
            assert document == http.get("/.well-known/oauth-protected-resource/mcp").json()
            assert document["resource"] == f"{server.url}/mcp" and document["authorization_servers"] == [ISSUER]
            for open_path in ("/healthz", "/metrics", "/stats"):
                assert http.get(open_path).status_code == 200, open_path
        # The SDK surfaces the refusal as an error, never as a session.
        with pytest.raises(Exception) as refused_by_sdk:
            async with httpx.AsyncClient(headers=bearer("not-a-token"), timeout=30) as http:
                async with streamable_http_client(server.url + "/mcp", http_client=http) as streams:
                    async with ClientSession(streams[0], streams[1]) as s:
                        await s.initialize()
        assert "401" in repr(refused_by_sdk.value) or "Unauthorized" in repr(refused_by_sdk.value)


async def test_a_caller_without_the_use_permission_gets_403_naming_it(world, tmp_path):
    with world.server(tmp_path) as server:
        for status, _, body in refusals(server.url, bearer(token(world.ns, "stranger", world.audience))):
            assert status == 403 and body["error"]["code"] == -32003
            message = body["error"]["message"]
            assert f"system:serviceaccount:{world.ns}:stranger" in message
            assert f'use mcpservers.kubernetes-mcp.io "srv" in namespace "{world.ns}"' in message


async def test_without_an_access_rule_every_authenticated_caller_is_admitted_and_the_log_says_so(world, tmp_path):
    with world.server(tmp_path, authorization=False, drain=True) as server:
        # Log lines go out through a queue: the warning may follow "listening on".
        eventually("the warning", lambda: "every caller the apiserver authenticates" in "".join(server.stderr_lines),
                   seconds=10)
        assert initialize(server.url, bearer(token(world.ns, "stranger", world.audience))).status_code == 200


async def test_a_server_that_may_not_review_tokens_answers_503_naming_the_review(world, tmp_path):
    """Without system:auth-delegator the server cannot ask; the caller is not blamed (no 401)."""
    unprivileged = world.kubeconfig_of("unprivileged", tmp_path)
    config = world.config(tmp_path)
    with HttpServer("--config", str(config), "--kubeconfig", str(unprivileged)) as server:
        answer = initialize(server.url, bearer(token(world.ns, "agent", world.audience)))
    assert answer.status_code == 503, answer.text
    assert "cannot create tokenreviews.authentication.k8s.io" in answer.json()["error"]["message"]


@contextlib.asynccontextmanager
async def mcp_session(url, transport, headers):
    """An initialized SDK session with `headers` on every HTTP request."""
    async with contextlib.AsyncExitStack() as stack:
        if transport == "http":
            http = await stack.enter_async_context(httpx.AsyncClient(headers=headers, timeout=30))
            streams = await stack.enter_async_context(streamable_http_client(url + "/mcp", http_client=http))
        else:
            streams = await stack.enter_async_context(sse_client(url + "/sse", headers=headers))
        s = await stack.enter_async_context(ClientSession(streams[0], streams[1]))
        await s.initialize()
        yield s


async def pods_in(s, namespace):
    return await s.call_tool("pods_list_in_namespace", {"namespace": namespace})


@pytest.mark.parametrize("transport", ["http", "sse"])
async def test_a_granted_caller_works_and_kubeconfig_mode_acts_as_the_server(world, tmp_path, transport):
    headers = bearer(token(world.ns, "agent", world.audience))
    with world.server(tmp_path) as server:
        async with mcp_session(server.url, transport, headers) as s:
            assert not (await pods_in(s, world.ns)).is_error
            # The server's own rights: the agent itself may not read pods there.
            assert not (await pods_in(s, world.elsewhere)).is_error


def test_stateless_http_and_the_inspector_cli_with_a_bearer_header(world, tmp_path):
    agent = token(world.ns, "agent", world.audience)
    inspector = os.path.join(os.environ["KMCP_NODE_MODULES"], ".bin", "mcp-inspector")
    with world.server(tmp_path, "--stateless") as server:
        base = [inspector, "--cli", server.url + "/mcp", "--transport", "http"]
        kubectl("create", "configmap", "marker", "-n", world.ns)
        called = subprocess.run([*base, "--header", f"Authorization: Bearer {agent}", "--method", "tools/call",
                                 "--tool-name", "resources_list", "--tool-arg", "apiVersion=v1", "kind=ConfigMap",
                                 f"namespace={world.ns}"], capture_output=True, text=True, timeout=60)
        assert called.returncode == 0, called.stdout + called.stderr
        assert "marker" in json.loads(called.stdout)["content"][0]["text"]
        refused = subprocess.run([*base, "--method", "tools/list"], capture_output=True, text=True, timeout=60)
        # The Inspector reads the 401's challenge and asks for an OAuth login.
        assert refused.returncode != 0 and "auth_required" in refused.stdout + refused.stderr


@pytest.mark.parametrize("transport", ["http", "sse"])
@pytest.mark.parametrize("mode", ["impersonate", "passthrough"])
async def test_acting_as_the_caller_applies_the_callers_rbac(world, tmp_path, mode, transport):
    # In passthrough the token goes on to the apiserver, so it must be valid for it too.
    audiences = [world.audience] + ([APISERVER_AUDIENCE] if mode == "passthrough" else [])
    headers = bearer(token(world.ns, "agent", *audiences))
    with world.server(tmp_path, mode=mode) as server:
        async with mcp_session(server.url, transport, headers) as s:
            own = await pods_in(s, world.ns)
            assert not own.is_error, text(own)
            # The server could read pods there; the agent cannot, and the apiserver says who asked.
            refused = await pods_in(s, world.elsewhere)
            assert refused.is_error and "forbidden" in text(refused).lower()
            assert world.agent in text(refused), text(refused)


async def test_read_only_and_denied_resources_hold_when_impersonating(world, tmp_path):
    kubectl("create", "secret", "generic", "token", "-n", world.ns, "--from-literal=t=s3cr3t")
    denied = 'denied_resources = [{group = "", version = "v1", kind = "Secret"}]'
    headers = bearer(token(world.ns, "agent", world.audience))
    with world.server(tmp_path, "--read-only", mode="impersonate", extra=denied) as server:
        async with mcp_session(server.url, "http", headers) as s:
            assert len((await s.list_tools()).tools) == 14
            got = await s.call_tool("resources_get", {"apiVersion": "v1", "kind": "Secret", "namespace": world.ns,
                                                      "name": "token"})
    assert got.is_error and "not allowed by the server configuration" in text(got) and "s3cr3t" not in text(got)


def audit_lines(path):
    with open(path) as f:
        return [json.loads(line) for line in f if line.strip()]


def env_for(service):
    return dict(os.environ, OTEL_SERVICE_NAME=service, OTEL_BSP_SCHEDULE_DELAY="50",
                OTEL_EXPORTER_OTLP_ENDPOINT=os.environ["OTLP_GRPC_ENDPOINT"], OTEL_METRICS_EXPORTER="none")


async def test_audit_lines_and_tool_spans_name_the_caller(world, tmp_path):
    service = f"auth-{uuid.uuid4().hex[:8]}"
    audit = tmp_path / "audit.jsonl"
    secret_token = token(world.ns, "agent", world.audience)
    with world.server(tmp_path, "--audit-log", str(audit), mode="impersonate", env=env_for(service)) as server:
        for transport in ("http", "sse"):
            async with mcp_session(server.url, transport, bearer(secret_token)) as s:
                await s.call_tool("resources_get", {"apiVersion": "v1", "kind": "ConfigMap", "namespace": world.ns,
                                                    "name": "kube-root-ca.crt"})
                await pods_in(s, world.elsewhere)
    lines = audit_lines(audit)
    assert len(lines) == 4, lines
    assert secret_token not in audit.read_text()
    for line in lines:
        assert line["user"]["username"] == world.agent and line["user"]["uid"]
        assert f"system:serviceaccounts:{world.ns}" in line["user"]["groups"]
        assert line["auth_mode"] == "impersonate" and line["duration_ms"] >= 0
        assert line["time"].endswith("Z") and isinstance(line["jsonrpc_id"], int)
        assert len(line["trace_id"]) == 32
    get, refused = lines[0], lines[1]
    assert get["tool"] == "resources_get" and get["outcome"] == "ok"
    assert get["target"] == {"apiVersion": "v1", "kind": "ConfigMap", "namespace": world.ns, "name": "kube-root-ca.crt"}
    assert refused["tool"] == "pods_list_in_namespace" and refused["outcome"] == "tool_error"
    assert refused["target"] == {"namespace": world.elsewhere}
    deadline = time.time() + 15
    while time.time() < deadline:
        spans = {s["traceId"]: s for s in spans_of(service) if s["name"].startswith("tools/call")}
        if len(spans) >= 4:
            break
        time.sleep(0.2)
    for line in lines:
        assert spans[line["trace_id"]]["attrs"]["enduser.id"] == world.agent


async def test_the_audit_trail_goes_to_stderr_by_default(world, tmp_path):
    with world.server(tmp_path) as server:
        async with mcp_session(server.url, "http", bearer(token(world.ns, "agent", world.audience))) as s:
            await s.call_tool("namespaces_list", {})
        server.stop()
        rest = server.process.stderr.read()
    [line] = [json.loads(l) for l in rest.splitlines() if l.startswith("{")]
    assert line["tool"] == "namespaces_list" and line["user"]["username"] == world.agent
    assert line["auth_mode"] == "kubeconfig" and line["target"] is None and line["trace_id"] is None


@pytest.mark.parametrize("config, named", [
    ("port = 1\nrequire_oauth = true", "oauth_audience"),
    ('port = 1\nrequire_oauth = true\noauth_audience = "a"\ncluster_auth_mode = "sudo"', "sudo"),
    ('port = 1\ncluster_auth_mode = "impersonate"', "require_oauth"),
    ('port = 1\ncluster_auth_mode = "passthrough"', "require_oauth"),
    ('port = 1\nrequire_oauth = true\noauth_audience = "a"\n[authorization]\nresource_name = "srv"', "resource_namespace"),
])
def test_bad_auth_config_fails_at_start_naming_the_key(tmp_path, config, named):
    path = tmp_path / "auth.toml"
    path.write_text(config + "\n")
    done = subprocess.run([str(SERVER), "--config", str(path)], capture_output=True, text=True, timeout=10)
    assert done.returncode != 0 and named in done.stderr, done.stderr
