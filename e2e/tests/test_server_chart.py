"""The server-alone chart (charts/kubernetes-mcp-server, the Go server chart's value names) with
the real helm and the real apiserver: it lints and its schema refuses bad values; what it
renders passes the `restricted` Pod Security Standard; installed, its pod (run by the pod
runner) reads the rendered config.toml and answers MCP through its Service with exactly the
chart's Role."""

import subprocess
import uuid

import pytest
import yaml

from support import chart
from support.cluster import IMAGE, Cluster, mcp_session
from support.stack import KUBECTL, ROOT, kubectl, pod_runner

CHART = ROOT / "charts" / "kubernetes-mcp-server"


def render(release, namespace, values):
    """`helm template` of the chart with `values` (a dict, given as a values file: YAML numbers
    reach the templates as floats, as they do for users)."""
    done = subprocess.run([chart.HELM, "template", release, str(CHART), "--namespace", namespace, "-f", "-"],
                          input=yaml.safe_dump(values), capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stderr
    return done.stdout


def apply(rendered, *flags):
    done = subprocess.run([KUBECTL, "apply", "--server-side", "--force-conflicts", *flags, "-f", "-"],
                          input=rendered, capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stderr
    return done.stderr


def test_the_chart_lints_and_its_schema_refuses_bad_values():
    assert "0 chart(s) failed" in chart.helm("lint", str(CHART), "--strict")
    for bad in ("replicaCount=two", "image.pullPolicy=Sometimes", "service.port=0", "config.port=9",
                "unknown=1", "metrics.serviceMonitor.scheme=ftp", "rbac.extraRoles[0].verbs=all"):
        done = subprocess.run([chart.HELM, "template", "r", str(CHART), "--set", bad],
                              capture_output=True, text=True, check=False)
        assert done.returncode != 0 and "values don't meet the specifications of the schema" in done.stderr, bad


def test_everything_it_renders_passes_restricted(namespace):
    kubectl("label", "namespace", namespace, "pod-security.kubernetes.io/enforce=restricted")
    rendered = render("full", namespace, {
        "metrics": {"serviceMonitor": {"enabled": True, "interval": "30s"},
                    "prometheusRule": {"enabled": True}},
        "ingress": {"enabled": True, "host": "mcp.example.com"},
        "rbac": {"extraClusterRoleBindings": [{"name": "view", "roleRef": {"name": "view", "external": True}}]},
    })
    kinds = {o["kind"] for o in yaml.safe_load_all(rendered) if o}
    assert kinds == {"ServiceAccount", "ConfigMap", "Role", "RoleBinding", "ClusterRoleBinding", "Service",
                     "Deployment", "Ingress", "ServiceMonitor", "PrometheusRule"}
    warnings = apply(rendered, "--dry-run=server")
    assert "would violate PodSecurity" not in warnings, warnings
    rule = next(o for o in yaml.safe_load_all(rendered) if o and o["kind"] == "PrometheusRule")
    records = {r["record"] for g in rule["spec"]["groups"] for r in g["rules"]}
    assert "cluster:k8s_mcp_tool_calls:sum" in records and "namespace:k8s_mcp_http_requests:sum" in records


@pytest.mark.anyio
async def test_the_installed_server_reads_its_config_and_holds_only_its_role(namespace, tmp_path):
    registry, rest = IMAGE.split("/", 1)
    repository, version = rest.split(":")
    release = f"srv{uuid.uuid4().hex[:4]}"
    rendered = render(release, namespace, {
        "image": {"registry": registry, "repository": repository, "version": version},
        "config": {"log_level": 1, "read_only": True, "toolsets": ["core"],
                   "response_limits": {"max_list_page_size": 50}},
    })
    cluster = Cluster(namespace, tmp_path)
    with pod_runner(namespace, tmp_path / "pod-runner.log"):
        apply(rendered)
        cluster.ready_pods(release, 1)
        kubectl("create", "secret", "generic", "hidden", "-n", namespace, "--from-literal=k=v")
        with cluster.service(f"{release}-kubernetes-mcp-server") as url:
            async with mcp_session(url) as s:
                tools = {t.name for t in (await s.list_tools()).tools}
                # read_only and toolsets = ["core"] came from the rendered config.toml.
                assert "pods_list_in_namespace" in tools
                assert "resources_create_or_update" not in tools and "configuration_view" not in tools
                own = await s.call_tool("pods_list_in_namespace", {"namespace": namespace})
                assert not own.is_error, own.content[0].text
                assert release in own.content[0].text
                secrets = await s.call_tool("resources_list", {"apiVersion": "v1", "kind": "Secret",
                                                               "namespace": namespace})
                assert secrets.is_error and "forbidden" in secrets.content[0].text.lower()
                other = await s.call_tool("pods_list_in_namespace", {"namespace": "default"})
                assert other.is_error and "forbidden" in other.content[0].text.lower()
