"""Secrets stay out of tool answers and `denied_resources` holds for every tool, against the real
apiserver: a Secret written with `kubectl apply` (so its last-applied annotation holds the value
too) read back through resources_get, resources_list (table and YAML) and the echo of
resources_create_or_update; `redact_secrets = false` as the only way to see values; Node and
Service in `denied_resources` refusing the nodes_* tools and the Services of pods_run and
pods_delete."""

import base64
import json
import uuid

import pytest
import yaml

from support.server import session, text
from support.stack import kubectl

pytestmark = pytest.mark.anyio

REFUSED = "not allowed by the server configuration"


def secret_manifest(namespace, name, value):
    return json.dumps({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": name, "namespace": namespace},
                       "stringData": {"password": value}})


def leaks(answer, value):
    """Whether `answer` holds `value` in clear or base64-encoded."""
    return value in answer or base64.b64encode(value.encode()).decode() in answer


@pytest.fixture
def secret(namespace):
    """A Secret `db` with key `password`, applied client-side so the annotation holds the value."""
    value = f"pl41n-{uuid.uuid4().hex}"
    kubectl("apply", "-f", "-", stdin=secret_manifest(namespace, "db", value))
    assert "last-applied-configuration" in kubectl("get", "secret", "db", "-n", namespace, "-o", "yaml")
    return value


def config_file(tmp_path, body):
    path = tmp_path / "config.toml"
    path.write_text(body)
    return str(path)


async def test_secret_values_never_reach_the_model(namespace, secret):
    get = {"apiVersion": "v1", "kind": "Secret", "namespace": namespace, "name": "db"}
    listing = {"apiVersion": "v1", "kind": "Secret", "namespace": namespace}
    new_value = f"n3w-{uuid.uuid4().hex}"
    answers = {}
    async with session("stdio") as s:
        answers["get"] = await s.call_tool("resources_get", get)
        answers["table"] = await s.call_tool("resources_list", listing)
        answers["applied"] = await s.call_tool(
            "resources_create_or_update", {"resource": secret_manifest(namespace, "db", new_value)})
    async with session("stdio", "--list-output", "yaml") as s:
        answers["yaml"] = await s.call_tool("resources_list", listing)
    for what, answer in answers.items():
        assert not answer.is_error, (what, text(answer))
        assert not leaks(text(answer), secret), (what, text(answer))
        assert not leaks(text(answer), new_value), (what, text(answer))
        assert "db" in text(answer), what
    # The keys are kept, their values masked, and the annotation that repeats them is gone.
    objects = {"get": yaml.safe_load(text(answers["get"]))}
    for what in ("yaml", "applied"):
        [objects[what]] = yaml.safe_load(text(answers[what]))
    for what, shown in objects.items():
        assert shown["data"] == {"password": "***"}, (what, shown)
        assert "kubectl.kubernetes.io/last-applied-configuration" not in shown["metadata"].get("annotations", {}), what
    # The apply really happened: only the answer was masked.
    stored = kubectl("get", "secret", "db", "-n", namespace, "-o", "jsonpath={.data.password}")
    assert base64.b64decode(stored).decode() == new_value


async def test_redact_secrets_false_returns_the_values(namespace, secret, tmp_path):
    async with session("stdio", "--config", config_file(tmp_path, "redact_secrets = false\n")) as s:
        got = await s.call_tool("resources_get", {"apiVersion": "v1", "kind": "Secret", "namespace": namespace, "name": "db"})
    assert not got.is_error and leaks(text(got), secret), text(got)


async def test_denied_node_refuses_every_node_tool(tmp_path):
    node = kubectl("get", "nodes", "-o", "jsonpath={.items[0].metadata.name}")
    denied = config_file(tmp_path, 'denied_resources = [{group = "", version = "v1", kind = "Node"}]\n')
    async with session("stdio", "--config", denied) as s:
        calls = {
            "nodes_log": {"name": node, "query": "kubelet"},
            "nodes_stats_summary": {"name": node},
            "nodes_top": {},
        }
        for tool, arguments in calls.items():
            answer = await s.call_tool(tool, arguments)
            assert answer.is_error and REFUSED in text(answer) and "Kind=Node" in text(answer), (tool, text(answer))
        # Pods are not Nodes.
        assert REFUSED not in text(await s.call_tool("pods_top", {}))


async def test_denied_pod_metrics_refuses_pods_top(tmp_path):
    denied = config_file(tmp_path, 'denied_resources = [{group = "metrics.k8s.io", version = "v1beta1"}]\n')
    async with session("stdio", "--config", denied) as s:
        for tool in ("pods_top", "nodes_top"):
            answer = await s.call_tool(tool, {})
            assert answer.is_error and REFUSED in text(answer), (tool, text(answer))


async def test_denied_service_keeps_pods_run_and_pods_delete_off_services(namespace, tmp_path):
    denied = config_file(tmp_path, 'denied_resources = [{group = "", version = "v1", kind = "Service"}]\n')
    async with session("stdio", "--config", denied) as s:
        exposed = await s.call_tool("pods_run", {"image": "registry.invalid/app:1", "name": "web", "namespace": namespace, "port": 8080})
        assert exposed.is_error and REFUSED in text(exposed) and "Kind=Service" in text(exposed), text(exposed)
        # Refused before anything was created: no half-done Pod without its Service.
        assert kubectl("get", "pods,services", "-n", namespace, "-o", "name") == ""

        plain = await s.call_tool("pods_run", {"image": "registry.invalid/app:1", "name": "app", "namespace": namespace})
        assert not plain.is_error, text(plain)
        # A Service such as pods_run makes, which pods_delete would otherwise remove.
        kubectl("create", "service", "clusterip", "app", "--tcp=8080", "-n", namespace)
        kubectl("label", "service", "app", "-n", namespace,
                "app.kubernetes.io/managed-by=kubernetes-mcp-server", "app.kubernetes.io/name=app")
        deleted = await s.call_tool("pods_delete", {"name": "app", "namespace": namespace})
        assert not deleted.is_error, text(deleted)
        assert "Services were not looked for" in text(deleted), text(deleted)
    assert kubectl("get", "pods,services", "-n", namespace, "-o", "name") == "service/app\n"
