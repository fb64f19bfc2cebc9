"""The monitoring the chart ships (charts/kubernetes-mcp-operator/files/monitoring): its rules
pass `promtool check rules`, each alert fires on its fixture in `promtool test rules`
(e2e/tests/data/rules_test.yaml), the chart's PrometheusRule and dashboard ConfigMap are accepted
by the real apiserver, and after real traffic to a real server scraped by the stack's Prometheus
every recording rule and every dashboard query returns a series. An McpServer that asks for a
PrometheusRule gets one from the operator that the real CRD accepts, that promtool checks, whose
alerts fire on that server's series alone (e2e/tests/data/server_rules_test.yaml), that is
repaired when deleted and removed when no longer asked for."""

import json
import os
import re
import shutil
import subprocess

import anyio
import pytest
import yaml
from mcp import ClientSession
from mcp.client.streamable_http import streamable_http_client

from support import chart
from support.server import HttpServer
from support.operator import Operator
from support.stack import ROOT, apply_mcp, kubectl, prometheus, scraped_pod
from support.wait import eventually

pytestmark = pytest.mark.anyio

MONITORING = chart.CHART / "files" / "monitoring"
RULES = MONITORING / "rules.yaml"
FIXTURES = ROOT / "e2e" / "tests" / "data" / "rules_test.yaml"
SERVER_FIXTURES = ROOT / "e2e" / "tests" / "data" / "server_rules_test.yaml"
PROMTOOL = shutil.which("promtool", path=os.environ.get("KMCP_BIN", ""))


def promtool(*args, cwd=None):
    done = subprocess.run([PROMTOOL, *args], capture_output=True, text=True, check=False, cwd=cwd)
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout


def rules():
    return [rule for group in yaml.safe_load(RULES.read_text())["groups"] for rule in group["rules"]]


def test_the_rules_are_valid_and_every_alert_fires_on_its_fixture():
    promtool("check", "rules", str(RULES))
    promtool("test", "rules", FIXTURES.name, cwd=FIXTURES.parent)
    fixtures = yaml.safe_load(FIXTURES.read_text())["tests"]
    fired = {case["alertname"] for test in fixtures for case in test.get("alert_rule_test", []) if case["exp_alerts"]}
    alerts = {rule["alert"] for rule in rules() if "alert" in rule}
    assert alerts == {"McpToolErrorRatioHigh", "McpToolLatencyHigh", "McpSpansDropped", "McpServerDown",
                      "McpOperatorReconcileErrors", "McpServerNotReady"}
    assert alerts <= fired, f"no fixture on which {alerts - fired} fires"


def test_the_chart_ships_the_rules_and_the_dashboard_to_the_apiserver(namespace):
    rendered = chart.helm("template", "kmcp", str(chart.CHART), "--namespace", namespace,
                          "--show-only", "templates/monitoring.yaml",
                          "--set", "prometheusRule.enabled=true", "--set", "grafanaDashboard.enabled=true")
    objects = {o["kind"]: o for o in yaml.safe_load_all(rendered) if o}
    rule, dashboard = objects["PrometheusRule"], objects["ConfigMap"]
    assert rule["spec"] == yaml.safe_load(RULES.read_text())
    assert json.loads(dashboard["data"]["kubernetes-mcp.json"]) == dashboard_json()
    assert dashboard["metadata"]["labels"]["grafana_dashboard"] == "1"
    kubectl("apply", "--dry-run=server", "-f", "-", stdin=rendered)
    default = [o for o in yaml.safe_load_all(chart.helm("template", "kmcp", str(chart.CHART), "--namespace", namespace)) if o]
    assert "PrometheusRule" not in {o["kind"] for o in default}
    assert not [o for o in default if "grafana_dashboard" in o["metadata"].get("labels", {})]


def dashboard_json():
    return json.loads((MONITORING / "dashboard.json").read_text())


def dashboard_queries():
    return [target["expr"] for panel in dashboard_json()["panels"] for target in panel["targets"]]


def expand(query, recorded):
    """`query` with every recorded series replaced by its rule's expression, its label matchers
    pushed down onto the raw metrics (the recording rules keep namespace and job): the stack's
    Prometheus evaluates no rules, so the dashboard's queries are run the way the rules compute
    them."""
    def replace(match):
        name, matchers = match.group(1), match.group(2) or ""
        inner = expand(recorded[name], recorded)
        if matchers:
            inner = re.sub(r"\b(k8s_mcp_\w+)(?=\[)", lambda m: m.group(1) + matchers, inner)
        return f"({inner})"
    names = "|".join(re.escape(name) for name in recorded)
    return re.sub(rf"\b({names})(\{{[^}}]*\}})?", replace, query)


async def test_every_recording_rule_and_dashboard_query_returns_a_series(namespace):
    ip = scraped_pod(namespace)
    recorded = {rule["record"]: rule["expr"] for rule in rules() if "record" in rule}
    variables = {"$namespace": namespace, "$job": "mcp", "$__rate_interval": "1m"}
    with HttpServer(bind=ip, port=8080) as server:
        eventually("the server scraped", lambda: prometheus(f'up{{namespace="{namespace}",job="mcp"}} == 1'), seconds=60)
        # Calls (one failing) spread over several scrapes, so that every rate is above zero.
        async with streamable_http_client(server.url + "/mcp") as streams:
            async with ClientSession(streams[0], streams[1]) as s:
                await s.initialize()
                for _ in range(8):
                    await s.call_tool("namespaces_list", {})
                    await s.call_tool("pods_get", {"name": "absent", "namespace": "default"})
                    await anyio.sleep(0.5)
        for query in list(recorded.values()) + dashboard_queries():
            for variable, value in variables.items():
                query = query.replace(variable, value)
            query = expand(query, recorded)
            eventually(f"a series from {query}", lambda query=query: prometheus(query), seconds=20)


def test_an_mcp_server_asking_for_alerts_gets_its_own_rule_from_the_operator(tmp_path, namespace, crds):
    operator = Operator(tmp_path, "--default-image", "registry.invalid/kubernetes-mcp-server:test",
                        "--namespace", namespace, "--lease-name", "rule-test", "--lease-namespace", namespace)

    def rule():
        found = kubectl("get", "prometheusrule", "mcp", "-n", namespace, "--ignore-not-found", "-o", "json")
        return json.loads(found) if found else None

    def condition():
        status = json.loads(kubectl("get", "mcpserver", "mcp", "-n", namespace, "-o", "json")).get("status", {})
        return next((c for c in status.get("conditions", []) if c["type"] == "PrometheusRule"), None)
    try:
        apply_mcp(namespace, "mcp", {"metrics": {"prometheusRule": {"enabled": True, "labels": {"release": "prometheus"}}}})
        # Applied by the operator, so accepted by prometheus-operator's CRD.
        live = eventually("the PrometheusRule", rule, seconds=30)
        assert live["metadata"]["labels"]["release"] == "prometheus"
        assert live["metadata"]["ownerReferences"][0]["kind"] == "McpServer"
        eventually("PrometheusRule=True", lambda: (c := condition()) and c["status"] == "True" and c["reason"] == "Applied")
        (tmp_path / "rules.yaml").write_text(yaml.safe_dump(live["spec"]))
        promtool("check", "rules", str(tmp_path / "rules.yaml"))
        (tmp_path / "rules_test.yaml").write_text(SERVER_FIXTURES.read_text().replace("NAMESPACE", namespace))
        promtool("test", "rules", "rules_test.yaml", cwd=tmp_path)
        chart_alerts = {r["alert"] for r in rules() if "alert" in r}
        ours = {r["alert"] for group in live["spec"]["groups"] for r in group["rules"]}
        assert ours == chart_alerts - {"McpOperatorReconcileErrors"}

        # Deleted, it is repaired (the operator watches what it owns).
        kubectl("delete", "prometheusrule", "mcp", "-n", namespace)
        eventually("the PrometheusRule repaired", rule, seconds=20)
        # Asked no more, it goes.
        apply_mcp(namespace, "mcp", {"metrics": {"prometheusRule": {"enabled": False}}})
        eventually("the PrometheusRule removed", lambda: rule() is None, seconds=30)
        eventually("no PrometheusRule condition", lambda: condition() is None)
    finally:
        operator.stop()
