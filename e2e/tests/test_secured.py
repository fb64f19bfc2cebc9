"""A secured endpoint end to end through the operator (issue 19): an McpServer with
`spec.auth.required` reconciled by the real operator, its pod run by the pod runner with the
operator's RBAC, an agent ServiceAccount whose tokens come from the TokenRequest API, and the
official Python MCP SDK (its HTTP client carrying the Authorization header) through the Service.
The agent is refused until a platform engineer grants `use` with plain RBAC; in impersonate mode
it reads only what it may read itself, the apiserver naming it; the audit lines in the container
log and the spans in the collector name it. Switching to kubeconfig mode sweeps the
impersonation binding and the server acts with its own rights again."""

import json
import os
import uuid

import httpx2 as httpx
import pytest
from mcp import ClientSession
from mcp.client.streamable_http import streamable_http_client

from collector import spans_of
from support.cluster import FAST_EXPORT, mcp_session, telemetry
from support.server import HEADERS, INITIALIZE, bearer, text
from support.stack import kubectl
from support.wait import eventually

pytestmark = pytest.mark.anyio

NAME = "secured"


def initialize_status(url, headers):
    """The HTTP status and JSON body of an initialize POST to /mcp."""
    answer = httpx.post(url + "/mcp", json=INITIALIZE, headers=HEADERS | headers, timeout=30)
    return answer.status_code, answer.json() if answer.status_code >= 400 else None


def audit_lines(pod):
    """The audit lines (JSON with a `tool`) the server wrote to its container log."""
    meta = pod["metadata"]
    path = os.path.join(os.environ["KMCP_STACK_DIR"], "pods", f"{meta['namespace']}_{meta['name']}_{meta['uid']}",
                        "container.log")
    with open(path) as f:
        lines = [json.loads(line) for line in f if line.startswith("{")]
    return [line for line in lines if "tool" in line and "auth_mode" in line]


def cluster_bindings(namespace):
    prefix = f"clusterrolebinding.rbac.authorization.k8s.io/kubernetes-mcp-{namespace}-{NAME}:"
    names = kubectl("get", "clusterrolebindings", "-o", "name", "-l", f"app.kubernetes.io/instance={NAME}").split()
    return sorted(n.removeprefix(prefix) for n in names if n.startswith(prefix))


async def test_a_secured_server_admits_only_granted_agents_and_acts_as_them(cluster):
    ns, elsewhere = cluster.ns, f"{cluster.ns}-else"
    kubectl("create", "namespace", elsewhere)
    try:
        await check_secured(cluster, ns, elsewhere)
    finally:
        kubectl("delete", "namespace", elsewhere, "--wait=false")


async def check_secured(cluster, ns, elsewhere):
    service = f"e2e-secured-{uuid.uuid4().hex[:6]}"
    # The server's own ServiceAccount reads pods in both namespaces; the agent only in ns.
    cluster.apply(NAME, {"auth": {"required": True, "mode": "impersonate"},
                         "access": {"namespaces": [ns, elsewhere]},
                         "telemetry": telemetry(service), "env": FAST_EXPORT})
    mcp = cluster.ready(NAME)
    audience = f"kubernetes-mcp.io/{ns}/{NAME}"
    assert mcp["status"]["auth"] == {"state": "required (impersonate)", "audience": audience}
    assert "required (impersonate)" in kubectl("get", "kmcps", NAME, "-n", ns)
    assert cluster_bindings(ns) == ["kubernetes-mcp-impersonate", "system:auth-delegator"]
    [pod] = cluster.ready_pods(NAME, 1)

    kubectl("create", "serviceaccount", "agent", "-n", ns)
    kubectl("create", "rolebinding", "agent-view", "-n", ns, "--clusterrole=view", f"--serviceaccount={ns}:agent")
    agent = f"system:serviceaccount:{ns}:agent"
    right = kubectl("create", "token", "agent", "-n", ns, f"--audience={audience}").strip()
    wrong = kubectl("create", "token", "agent", "-n", ns, "--audience=someone-else").strip()

    with cluster.service(NAME) as url:
        assert initialize_status(url, {})[0] == 401
        assert initialize_status(url, bearer(wrong))[0] == 401
        status, body = initialize_status(url, bearer(right))
        assert status == 403, body
        assert agent in body["error"]["message"]
        assert f'use mcpservers.kubernetes-mcp.io "{NAME}" in namespace "{ns}"' in body["error"]["message"]
        # The SDK surfaces a refusal as an error, never as a session.
        with pytest.raises(Exception) as refused_by_sdk:  # noqa: PT011 - an ExceptionGroup around the 401
            async with httpx.AsyncClient(timeout=30) as http:
                async with streamable_http_client(url + "/mcp", http_client=http) as streams:
                    async with ClientSession(streams[0], streams[1]) as s:
                        await s.initialize()
        assert "401" in repr(refused_by_sdk.value) or "Unauthorized" in repr(refused_by_sdk.value)

        # A platform engineer grants `use` with plain RBAC (a denial is cached for up to 10 s).
        # A manifest: `kubectl create role --verb=use` allows `use` only on podsecuritypolicies.
        kubectl("apply", "-n", ns, "-f", "-", stdin=json.dumps({
            "apiVersion": "rbac.authorization.k8s.io/v1", "kind": "Role", "metadata": {"name": "mcp-users"},
            "rules": [{"apiGroups": ["kubernetes-mcp.io"], "resources": ["mcpservers"], "resourceNames": [NAME],
                       "verbs": ["use"]}]}))
        kubectl("create", "rolebinding", "mcp-users", "-n", ns, "--role=mcp-users", f"--serviceaccount={ns}:agent")
        eventually("the agent admitted", lambda: initialize_status(url, bearer(right))[0] == 200, seconds=30)
        async with mcp_session(url, headers=bearer(right)) as s:
            own = await s.call_tool("pods_list_in_namespace", {"namespace": ns})
            assert not own.is_error and pod["metadata"]["name"] in text(own), text(own)
            # The server could read there; the agent may not, and the apiserver names it.
            refused = await s.call_tool("pods_list_in_namespace", {"namespace": elsewhere})
            assert refused.is_error and "forbidden" in text(refused).lower(), text(refused)
            assert agent in text(refused), text(refused)

        lines = eventually("two audit lines", lambda: audit_lines(pod) if len(audit_lines(pod)) == 2 else None)
        assert right not in json.dumps(lines)
        assert [(line["tool"], line["outcome"]) for line in lines] == [
            ("pods_list_in_namespace", "ok"), ("pods_list_in_namespace", "tool_error")]
        for line in lines:
            assert line["user"]["username"] == agent and line["auth_mode"] == "impersonate", line
        def tool_spans():
            found = [sp for sp in spans_of(service) if sp["name"].startswith("tools/call")]
            return found if len(found) == 2 else None
        spans = eventually("the two tool spans", tool_spans, seconds=20)
        assert {sp["attrs"].get("enduser.id") for sp in spans} == {agent}
        assert {sp["traceId"] for sp in spans} == {line["trace_id"] for line in lines}

        # kubeconfig mode: the impersonation binding is swept, the pods roll, and the agent (still
        # checked) acts with the server's rights.
        cluster.apply(NAME, {"auth": {"required": True}, "access": {"namespaces": [ns, elsewhere]},
                             "telemetry": telemetry(service), "env": FAST_EXPORT})
        eventually("impersonation unbound", lambda: cluster_bindings(ns) == ["system:auth-delegator"])
        assert cluster.ready(NAME)["status"]["auth"]["state"] == "required (kubeconfig)"
        eventually("the pod rolled", lambda: [p for p in cluster.ready_pods(NAME, 1)
                                              if p["metadata"]["name"] != pod["metadata"]["name"]] or None)
        assert initialize_status(url, bearer(wrong))[0] == 401
        async with mcp_session(url, headers=bearer(right)) as s:
            served = await s.call_tool("pods_list_in_namespace", {"namespace": elsewhere})
            assert not served.is_error, text(served)

    kubectl("delete", "mcpserver", NAME, "-n", ns, "--wait=true", "--timeout=60s")
    assert cluster_bindings(ns) == []
