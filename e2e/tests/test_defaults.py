"""The operator's cluster-wide defaults (its --default-otlp-* flags): an McpServer that says
nothing about telemetry gets the operator's endpoint, sampler and resource attributes in its
Deployment's environment, and its status says the endpoint is the operator's; one with its own
endpoint keeps it, field by field, and its status says so. Likewise the ServiceMonitor labels
(--default-service-monitor-labels) under the McpServer's own. The operator binary against the
real apiserver (prometheus-operator's CRDs served), with the flags the chart renders from its
`defaults` values."""

import json

import yaml

from support import chart
from support.operator import Operator
from support.stack import apply_mcp, kubectl
from support.wait import eventually

OPERATOR_ENDPOINT = "http://collector.observability:4317"


def env(namespace, name):
    deployment = json.loads(kubectl("get", "deployment", name, "-n", namespace, "-o", "json"))
    container = deployment["spec"]["template"]["spec"]["containers"][0]
    return {e["name"]: e.get("value") for e in container.get("env", [])}


def status_telemetry(namespace, name):
    status = json.loads(kubectl("get", "mcpserver", name, "-n", namespace, "-o", "json")).get("status", {})
    return status.get("telemetry")


def chart_defaults(*values):
    """The --default-* arguments of the operator as the chart renders them from `values`."""
    rendered = chart.helm("template", "kmcp", str(chart.CHART), "--show-only", "templates/deployment.yaml",
                          *[arg for value in values for arg in ("--set", value)])
    args = yaml.safe_load(rendered)["spec"]["template"]["spec"]["containers"][0]["args"]
    return [arg for arg in args if arg.startswith("--default-") and not arg.startswith("--default-image")]


def test_a_server_without_telemetry_gets_the_operators_and_one_with_its_own_keeps_it(
        tmp_path, namespace, crds):
    with Operator(tmp_path, "--default-image", "registry.invalid/kubernetes-mcp-server:test",
                  "--namespace", namespace, "--leader-elect=false", *chart_defaults(
                      f"defaults.telemetry.endpoint={OPERATOR_ENDPOINT}",
                      "defaults.telemetry.tracesSampler=parentbased_traceidratio",
                      "defaults.telemetry.tracesSamplerArg=0.25",
                      "defaults.telemetry.resourceAttributes.k8s\\.cluster\\.name=test",
                      "defaults.telemetry.resourceAttributes.team=platform",
                      "defaults.serviceMonitorLabels.release=prometheus",
                      "defaults.serviceMonitorLabels.team=platform")):
        apply_mcp(namespace, "plain", {"metrics": {"serviceMonitor": {
            "enabled": True, "labels": {"team": "payments"}}}})
        apply_mcp(namespace, "own", {"telemetry": {
            "endpoint": "http://mine.observability:4318", "protocol": "http/protobuf",
            "resourceAttributes": {"team": "payments"}}})

        plain = eventually("the defaulted Deployment", lambda: env(namespace, "plain"))
        assert plain["OTEL_EXPORTER_OTLP_ENDPOINT"] == OPERATOR_ENDPOINT
        assert plain["OTEL_TRACES_SAMPLER"] == "parentbased_traceidratio"
        assert plain["OTEL_TRACES_SAMPLER_ARG"] == "0.25"
        assert plain["OTEL_RESOURCE_ATTRIBUTES"] == "k8s.cluster.name=test,team=platform"
        assert "OTEL_EXPORTER_OTLP_PROTOCOL" not in plain
        assert eventually("status.telemetry", lambda: status_telemetry(namespace, "plain")) == {
            "endpoint": OPERATOR_ENDPOINT, "source": "operator-default"}

        own = eventually("the Deployment with its own endpoint", lambda: env(namespace, "own"))
        assert own["OTEL_EXPORTER_OTLP_ENDPOINT"] == "http://mine.observability:4318"
        assert own["OTEL_EXPORTER_OTLP_PROTOCOL"] == "http/protobuf"
        # Field by field: what the spec leaves unset is still the operator's.
        assert own["OTEL_TRACES_SAMPLER"] == "parentbased_traceidratio"
        assert own["OTEL_RESOURCE_ATTRIBUTES"] == "k8s.cluster.name=test,team=payments"
        assert eventually("status.telemetry", lambda: status_telemetry(namespace, "own")) == {
            "endpoint": "http://mine.observability:4318", "source": "spec"}

        labels = eventually("the ServiceMonitor", lambda: json.loads(kubectl(
            "get", "servicemonitor", "plain", "-n", namespace, "-o", "json"))["metadata"]["labels"])
        assert (labels["release"], labels["team"]) == ("prometheus", "payments")
