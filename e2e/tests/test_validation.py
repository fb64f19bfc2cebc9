"""`validation_enabled`, with the Go server's meaning, on the real apiserver through the official
MCP SDK, the server acting as a ServiceAccount that may read and write ConfigMaps but not delete
them: a verb RBAC forbids is refused by the SelfSubjectAccessReview pre-check with Go's
PERMISSION_DENIED message before the request is sent, and a manifest with a field the schema
does not have is refused with nothing written — with validation on or off, since server-side
apply checks the schema itself. Runs the server binary."""

import json
import os

import pytest

from support.identity import ServiceAccountUser
from support.server import HttpServer, text
from support.stack import kubectl

from mcp import ClientSession
from mcp.client.streamable_http import streamable_http_client

pytestmark = pytest.mark.anyio


async def call(url, tool, arguments):
    async with streamable_http_client(url + "/mcp") as streams:
        async with ClientSession(streams[0], streams[1]) as s:
            await s.initialize()
            return await s.call_tool(tool, arguments)


def manifest(namespace, name):
    """A ConfigMap with a misspelt `data`."""
    return json.dumps({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": name, "namespace": namespace},
                       "dataa": {"k": "v"}})


def configmaps(namespace):
    return kubectl("get", "configmaps", "-n", namespace, "-o", "name").split()


async def refused_unknown_field(url, namespace, name):
    result = await call(url, "resources_create_or_update", {"resource": manifest(namespace, name)})
    assert result.is_error and "dataa" in text(result), text(result)
    assert f"configmap/{name}" not in configmaps(namespace)


async def test_an_invalid_manifest_and_a_forbidden_verb_are_refused_before_the_write(namespace, tmp_path):
    user = ServiceAccountUser(tmp_path, namespace, "writer")
    kubectl("create", "role", "writer", "-n", namespace, "--resource=configmaps",
            "--verb=get,list,create,update,patch")
    kubectl("create", "rolebinding", "writer", "-n", namespace, "--role=writer", f"--serviceaccount={namespace}:writer")
    kubectl("create", "configmap", "keep", "-n", namespace)
    env = dict(os.environ, KUBECONFIG=str(user.kubeconfig))
    keep = {"apiVersion": "v1", "kind": "ConfigMap", "namespace": namespace, "name": "keep"}
    on = tmp_path / "on.toml"
    on.write_text("validation_enabled = true\n")
    off = tmp_path / "off.toml"
    off.write_text("validation_enabled = false\n")

    with HttpServer("--config", str(on), env=env, drain=True) as server:
        await refused_unknown_field(server.url, namespace, "bad")

        result = await call(server.url, "resources_delete", keep)
        assert result.is_error, text(result)
        assert f'Validation Error [PERMISSION_DENIED]: Cannot delete configmaps in namespace "{namespace}"' in text(result), text(result)
        assert "configmap/keep" in configmaps(namespace)

        # What is allowed and valid still goes through.
        good = json.dumps({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "good", "namespace": namespace},
                           "data": {"k": "v"}})
        result = await call(server.url, "resources_create_or_update", {"resource": good})
        assert not result.is_error, text(result)
        assert "configmap/good" in configmaps(namespace)

    # Without validation a forbidden delete gets the apiserver's own refusal, and server-side
    # apply still refuses the unknown field.
    with HttpServer("--config", str(off), env=env, drain=True) as server:
        await refused_unknown_field(server.url, namespace, "lax")
        result = await call(server.url, "resources_delete", keep)
        assert result.is_error and "PERMISSION_DENIED" not in text(result), text(result)
