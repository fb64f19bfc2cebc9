"""The RBAC each tool declares in `_meta["io.kubernetes-mcp-server/rbac"]` (the Go server's
declarations) is true of our tools on the real apiserver: a ServiceAccount granted exactly the
declared rules (verbs, resources, resource names, namespace) can call the tool, and one granted
nothing is refused with the apiserver's message. The rules are built from the server's own
tools/list, so a declaration and a tool that drift apart fail here."""

import asyncio
import json
import os

import pytest

from support.identity import ServiceAccountUser
from support.server import session, text
from support.stack import kubectl

pytestmark = pytest.mark.anyio

RBAC = "io.kubernetes-mcp-server/rbac"


def rules_for(declaration, arguments):
    """The RBAC rules a declaration asks for, with the call's arguments filled in, and whether
    they all apply in the namespace of the call (else they are granted cluster-wide)."""
    rules, namespaced = [], True
    for requirement in declaration["bounded"]["requirements"]:
        target = requirement["target"]["resource"]
        resource = target["resource"] + (f"/{target['subresource']}" if "subresource" in target else "")
        rule = {"apiGroups": [target.get("apiGroup", "")], "resources": [resource], "verbs": requirement["verbs"]}
        if "resourceName" in requirement:
            rule["resourceNames"] = [arguments[requirement["resourceName"]["argument"]]]
        namespaced &= "argument" in requirement.get("namespace", {})
        rules.append(rule)
    return rules, namespaced


def grant(namespace, account, name, rules, namespaced):
    """A ClusterRole with exactly `rules`, bound to the account in `namespace` or cluster-wide."""
    kubectl("apply", "-f", "-", stdin=json.dumps(
        {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRole", "metadata": {"name": name}, "rules": rules}))
    subject = f"--serviceaccount={namespace}:{account}"
    if namespaced:
        kubectl("create", "rolebinding", name, "-n", namespace, f"--clusterrole={name}", subject)
    else:
        kubectl("create", "clusterrolebinding", name, f"--clusterrole={name}", subject)


def cleanup(name):
    kubectl("delete", "clusterrole,clusterrolebinding", name, "--ignore-not-found")


def env_with(kubeconfig):
    return dict(os.environ, KUBECONFIG=str(kubeconfig))


async def call_once_granted(s, tool, arguments):
    """The tool's result once the new binding is in the apiserver's RBAC cache (a few tries)."""
    for _ in range(20):
        result = await s.call_tool(tool, arguments)
        if not (result.is_error and "forbidden" in text(result).lower()):
            return result
        await asyncio.sleep(0.25)
    return result


CASES = {
    "pods_get": lambda ns: {"namespace": ns, "name": "solo"},
    "pods_list_in_namespace": lambda ns: {"namespace": ns},
    "events_list": lambda ns: {"namespace": ns},
    "pods_delete": lambda ns: {"namespace": ns, "name": "victim"},
    "namespaces_list": lambda ns: {},
    "pods_list": lambda ns: {},
    "helm_list": lambda ns: {"all_namespaces": True},
}


@pytest.mark.parametrize("tool", sorted(CASES))
async def test_the_declared_rbac_is_enough_and_needed(tool, namespace, tmp_path):
    for pod in ("solo", "victim"):
        kubectl("run", pod, "-n", namespace, "--image=registry.invalid/solo:1")
    arguments = CASES[tool](namespace)
    granted = ServiceAccountUser(tmp_path, namespace, "granted")
    bare = ServiceAccountUser(tmp_path, namespace, "bare")
    async with session("stdio", "--toolsets", "core,config,helm", env=env_with(granted.kubeconfig)) as s:
        declaration = {t.name: t.meta[RBAC] for t in (await s.list_tools()).tools}[tool]
        rules, namespaced = rules_for(declaration, arguments)
        name = f"{namespace}-{tool.replace('_', '-')}"
        grant(namespace, "granted", name, rules, namespaced)
        try:
            result = await call_once_granted(s, tool, arguments)
            assert not result.is_error, f"{tool} with {rules}: {text(result)}"
        finally:
            cleanup(name)
    async with session("stdio", "--toolsets", "core,config,helm", env=env_with(bare.kubeconfig)) as s:
        result = await s.call_tool(tool, arguments)
        assert result.is_error and "forbidden" in text(result).lower(), text(result)

