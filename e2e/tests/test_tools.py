"""Every core tool through a real MCP client, over stdio, streamable HTTP and legacy SSE, against
the real apiserver; results are checked against the cluster itself."""

import json

import pytest
import yaml

from support.server import TRANSPORTS, session, text
from support.stack import kubectl

pytestmark = pytest.mark.anyio


@pytest.mark.parametrize("transport", TRANSPORTS)
async def test_default_tools_are_the_go_servers_twenty(transport):
    async with session(transport) as s:
        tools = (await s.list_tools()).tools
    names = {t.name for t in tools}
    assert len(names) == 20
    assert {"pods_list", "resources_get", "configuration_view", "namespaces_list"} <= names
    assert not any(n.startswith("helm_") for n in names)


@pytest.mark.parametrize("transport", TRANSPORTS)
async def test_namespaces_and_resources_reflect_the_cluster(transport, namespace):
    kubectl("create", "configmap", "settings", "-n", namespace, "--from-literal=colour=blue")
    async with session(transport) as s:
        listed = text(await s.call_tool("namespaces_list", {}))
        assert namespace in listed and "APIVERSION" in listed
        got = await s.call_tool("resources_get", {"apiVersion": "v1", "kind": "ConfigMap", "namespace": namespace, "name": "settings"})
        assert not got.is_error, text(got)
        assert yaml.safe_load(text(got))["data"] == {"colour": "blue"}
        missing = await s.call_tool("resources_get", {"apiVersion": "v1", "kind": "ConfigMap", "namespace": namespace, "name": "nope"})
        assert missing.is_error and 'configmaps "nope" not found' in text(missing)


async def test_resources_lifecycle(namespace):
    deployment = f"""
apiVersion: apps/v1
kind: Deployment
metadata: {{name: web, namespace: {namespace}, labels: {{tier: front}}}}
spec:
  replicas: 1
  selector: {{matchLabels: {{app: web}}}}
  template:
    metadata: {{labels: {{app: web}}}}
    spec: {{containers: [{{name: web, image: registry.invalid/web:1}}]}}
status: {{replicas: 99}}
---
apiVersion: v1
kind: ConfigMap
metadata: {{name: web-config, namespace: {namespace}}}
data: {{mode: fast}}
"""
    async with session("http") as s:
        created = await s.call_tool("resources_create_or_update", {"resource": deployment})
        assert not created.is_error, text(created)
        assert "created or updated successfully" in text(created)
        assert kubectl("get", "configmap", "web-config", "-n", namespace, "-o", "jsonpath={.data.mode}") == "fast"

        listed = text(await s.call_tool("resources_list", {"apiVersion": "apps/v1", "kind": "Deployment", "namespace": namespace, "labelSelector": "tier=front"}))
        assert "web" in listed and "Deployment" in listed and "tier=front" in listed
        none = text(await s.call_tool("resources_list", {"apiVersion": "apps/v1", "kind": "Deployment", "namespace": namespace, "labelSelector": "tier=back"}))
        assert none == "No resources found"

        scaled = await s.call_tool("resources_scale", {"apiVersion": "apps/v1", "kind": "Deployment", "namespace": namespace, "name": "web", "scale": 3})
        assert not scaled.is_error, text(scaled)
        assert kubectl("get", "deployment", "web", "-n", namespace, "-o", "jsonpath={.spec.replicas}") == "3"
        current = yaml.safe_load(text(await s.call_tool("resources_scale", {"apiVersion": "apps/v1", "kind": "Deployment", "namespace": namespace, "name": "web"})))
        assert current["spec"]["replicas"] == 3

        # Applying again (scale unchanged in the manifest) is idempotent and keeps working.
        again = await s.call_tool("resources_create_or_update", {"resource": deployment})
        assert not again.is_error, text(again)

        events = text(await s.call_tool("events_list", {"namespace": namespace}))
        assert "ScalingReplicaSet" in events

        deleted = await s.call_tool("resources_delete", {"apiVersion": "apps/v1", "kind": "Deployment", "namespace": namespace, "name": "web"})
        assert not deleted.is_error, text(deleted)
        assert "web" not in kubectl("get", "deployments", "-n", namespace, "-o", "name")


@pytest.mark.parametrize("transport", TRANSPORTS)
async def test_pods_lifecycle(transport, namespace):
    async with session(transport) as s:
        run = await s.call_tool("pods_run", {"image": "registry.invalid/app:1", "name": "app", "namespace": namespace, "port": 8080})
        assert not run.is_error, text(run)
        assert kubectl("get", "service", "app", "-n", namespace, "-o", "jsonpath={.spec.ports[0].port}") == "8080"

        in_ns = text(await s.call_tool("pods_list_in_namespace", {"namespace": namespace}))
        assert "app" in in_ns and namespace in in_ns
        everywhere = text(await s.call_tool("pods_list", {"labelSelector": "app.kubernetes.io/name=app"}))
        assert namespace in everywhere

        pod = yaml.safe_load(text(await s.call_tool("pods_get", {"name": "app", "namespace": namespace})))
        assert pod["spec"]["containers"][0]["image"] == "registry.invalid/app:1"
        assert "managedFields" not in pod["metadata"]

        # No scheduler placed the Pod: the apiserver has no log for it, and says why it cannot exec.
        log = await s.call_tool("pods_log", {"name": "app", "namespace": namespace})
        assert text(log) == f"The pod app in namespace {namespace} has no log output"
        exec_ = await s.call_tool("pods_exec", {"name": "app", "namespace": namespace, "command": ["ls"]})
        assert exec_.is_error and "exec in pod app" in text(exec_)

        deleted = await s.call_tool("pods_delete", {"name": "app", "namespace": namespace})
        assert not deleted.is_error, text(deleted)
    assert kubectl("get", "pods,services", "-n", namespace, "-o", "name") == ""


async def test_openshift_tool_reports_the_clusters_answer():
    # The node tools succeed against the stack's kubelet (test_kubelet_tools.py) and its
    # metrics-server (test_top_tools.py, which also covers a cluster without one).
    async with session("stdio") as s:
        projects = await s.call_tool("projects_list", {})
        assert projects.is_error and "not OpenShift" in text(projects)


async def test_configuration_view_redacts_credentials():
    async with session("stdio") as s:
        view = text(await s.call_tool("configuration_view", {}))
        full = text(await s.call_tool("configuration_view", {"minified": False}))
    config = yaml.safe_load(view)
    assert config["current-context"] == "e2e"
    assert config["users"][0]["user"]["client-key-data"] == "REDACTED"
    with open(__import__("os").environ["KUBECONFIG"]) as f:
        real = yaml.safe_load(f)
    secret = real["users"][0]["user"]["client-key-data"]
    assert secret not in view and secret not in full


async def test_list_output_yaml(namespace):
    kubectl("create", "configmap", "one", "-n", namespace)
    async with session("stdio", "--list-output", "yaml") as s:
        out = text(await s.call_tool("resources_list", {"apiVersion": "v1", "kind": "ConfigMap", "namespace": namespace}))
    items = yaml.safe_load(out)
    assert sorted(i["metadata"]["name"] for i in items) == ["kube-root-ca.crt", "one"]


async def test_helm_list_and_uninstall_read_helms_own_storage(namespace):
    import base64, gzip
    kubectl("create", "configmap", "chart-cm", "-n", namespace)
    release = {
        "name": "demo", "namespace": namespace, "version": 2,
        "info": {"status": "deployed", "last_deployed": "2026-11-25T10:00:00Z"},
        "chart": {"metadata": {"name": "demo-chart", "version": "0.1.0", "appVersion": "1.0"}},
        "manifest": f"---\napiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: chart-cm\n  namespace: {namespace}\n",
    }
    stored = base64.b64encode(gzip.compress(json.dumps(release).encode())).decode()
    secret = {"apiVersion": "v1", "kind": "Secret", "type": "helm.sh/release.v1",
              "metadata": {"name": "sh.helm.release.v1.demo.v2", "namespace": namespace,
                           "labels": {"owner": "helm", "name": "demo", "status": "deployed", "version": "2"}},
              "data": {"release": base64.b64encode(stored.encode()).decode()}}
    kubectl("apply", "-f", "-", stdin=json.dumps(secret))
    async with session("stdio", "--toolsets", "helm") as s:
        listed = yaml.safe_load(text(await s.call_tool("helm_list", {"namespace": namespace})))
        assert listed == [{"name": "demo", "namespace": namespace, "revision": 2, "status": "deployed",
                           "updated": "2026-11-25T10:00:00Z", "chart": "demo-chart-0.1.0", "app_version": "1.0"}]
        install = await s.call_tool("helm_install", {"chart": "bitnami/nginx"})
        assert install.is_error and "repository aliases (repo/name) are not configured" in text(install)
        gone = await s.call_tool("helm_uninstall", {"name": "demo", "namespace": namespace})
        assert not gone.is_error, text(gone)
    assert kubectl("get", "configmaps,secrets", "-n", namespace, "-l", "owner=helm", "-o", "name") == ""
    assert "chart-cm" not in kubectl("get", "configmaps", "-n", namespace, "-o", "name")
