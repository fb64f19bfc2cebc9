"""The Helm chart (charts/kubernetes-mcp-operator) with the real helm and the real apiserver: it
lints, carries the generated CRD, renders objects the apiserver accepts in a namespace enforcing
the `restricted` Pod Security Standard, and its RBAC is enough for the operator binary to do all
of its work (reconcile, events, finalizer cleanup, leader Lease) under the chart's
ServiceAccount, with a token from the TokenRequest API."""

import json
import subprocess
import uuid

import yaml

from support import chart
from support.stack import ROOT, kubectl
from support.wait import eventually

CHART = chart.CHART


def test_the_chart_lints_and_carries_the_generated_crd():
    assert "0 chart(s) failed" in chart.helm("lint", str(CHART), "--strict")
    generated = (ROOT / "crds" / "mcpservers.kubernetes-mcp.io.yaml").read_text()
    assert (CHART / "files" / "mcpservers.kubernetes-mcp.io.yaml").read_text() == generated, \
        "copy crds/mcpservers.kubernetes-mcp.io.yaml to charts/kubernetes-mcp-operator/files/"


def render(*values, release="kmcp"):
    return chart.helm("template", release, str(CHART), "--namespace", "kmcp-system",
                      *[arg for value in values for arg in ("--set", value)])


def test_bad_values_fail_at_template_time():
    for bad in ("replicaCount=two", "logFormat=xml", "replicas=3", "metricsPort=0",
                "telemetry.endpoint=collector:4317", "image.pullPolicy=Sometimes"):
        done = subprocess.run([chart.HELM, "template", "kmcp", str(CHART), "--set", bad],
                              capture_output=True, text=True, check=False)
        assert done.returncode != 0 and "values don't meet the specifications of the schema" in done.stderr, bad


def test_names_image_tag_and_disruption_budget_follow_the_conventions():
    objects = [o for o in yaml.safe_load_all(render()) if o]
    names = {(o["kind"], o["metadata"]["name"]) for o in objects}
    assert ("Deployment", "kmcp-kubernetes-mcp-operator") in names
    assert ("PodDisruptionBudget", "kmcp-kubernetes-mcp-operator") in names
    deployment = next(o for o in objects if o["kind"] == "Deployment")
    pod = deployment["spec"]["template"]["spec"]
    chart_yaml = yaml.safe_load((CHART / "Chart.yaml").read_text())
    assert pod["containers"][0]["image"].endswith(":" + chart_yaml["appVersion"])
    assert "--lease-name=kmcp-kubernetes-mcp-operator" in pod["containers"][0]["args"]
    assert pod["topologySpreadConstraints"][0]["topologyKey"] == "kubernetes.io/hostname"
    # A release whose name holds the chart's is not repeated; one replica needs no budget.
    single = [o for o in yaml.safe_load_all(render("replicaCount=1", release="kubernetes-mcp-operator")) if o]
    assert "PodDisruptionBudget" not in {o["kind"] for o in single}
    assert next(o for o in single if o["kind"] == "Deployment")["metadata"]["name"] == "kubernetes-mcp-operator"
    # Two releases in one namespace share no namespaced name.
    other = {(o["kind"], o["metadata"]["name"]) for o in yaml.safe_load_all(render(release="other")) if o
             and o["metadata"].get("namespace")}
    assert not other & names


def test_the_rendered_chart_is_accepted_by_the_apiserver_under_restricted():
    namespace = f"kmcp-{uuid.uuid4().hex[:6]}"
    kubectl("create", "namespace", namespace)
    kubectl("label", "namespace", namespace, "pod-security.kubernetes.io/enforce=restricted")
    try:
        rendered = chart.helm("template", "kmcp", str(CHART), "--namespace", namespace,
                              "--set", "serviceMonitor.enabled=true", "--set", "prometheusRule.enabled=true",
                              "--set", "grafanaDashboard.enabled=true")
        done = subprocess.run([chart.KUBECTL, "apply", "--dry-run=server", "--server-side", "--force-conflicts", "-f", "-"],
                              input=rendered, capture_output=True, text=True, check=False)
        assert done.returncode == 0, done.stderr
        assert "would violate PodSecurity" not in done.stderr, done.stderr
        # Helm's client dry run still refuses objects another test created without its labels
        # (the CRD, when the suite's `crds` fixture ran first): nothing is written, so take them.
        notes = chart.helm("install", "kmcp", str(CHART), "--namespace", namespace, "--dry-run=client",
                           "--take-ownership")
        assert "kubectl get kmcps" in notes
    finally:
        kubectl("delete", "namespace", namespace, "--wait=false")


def test_the_operator_does_all_its_work_with_the_charts_rbac(tmp_path, crds):
    release = f"kmcp-{uuid.uuid4().hex[:6]}"
    system, work = f"{release}-system", f"{release}-work"
    kubectl("create", "namespace", system)
    kubectl("label", "namespace", system, "pod-security.kubernetes.io/enforce=restricted")
    kubectl("create", "namespace", work)
    _, warnings = chart.install(release, system, f"watchNamespaces={{{work}}}")
    assert "would violate PodSecurity" not in warnings, warnings
    operator = chart.operator(tmp_path, release, system, [work])
    try:
        for sample in ("minimal.yaml", "cluster-reader.yaml"):
            kubectl("apply", "-n", work, "-f", str(ROOT / "config" / "samples" / sample))
        kubectl("patch", "mcpserver", "minimal", "-n", work, "--type=merge",
                "-p", '{"spec": {"metrics": {"serviceMonitor": {"enabled": true}, "prometheusRule": {"enabled": true}}}}')
        cluster_binding = f"kubernetes-mcp-{work}-cluster-reader:kubernetes-mcp-read"
        eventually("every child of both", lambda: kubectl(
            "get", "deployment/minimal", "deployment/cluster-reader", "servicemonitor/minimal",
            "prometheusrule/minimal", "rolebinding/kubernetes-mcp-minimal:kubernetes-mcp-read", "-n", work, "-o", "name")
            and kubectl("get", "clusterrolebinding", cluster_binding, "-o", "name"))
        eventually("events recorded", lambda: "Applied" in kubectl(
            "get", "events", "-n", work, "--field-selector", "involvedObject.name=minimal", "-o", "json"))
        ready = 'kubernetes_mcp_operator_mcpserver_ready{{mcpserver_namespace="{}",mcpserver_name="{}"}}'
        # No pod runs here, so neither is Ready; a deleted one's series goes with it.
        eventually("readiness series", lambda: ready.format(work, "cluster-reader") + " 0" in operator.metrics())
        kubectl("delete", "mcpserver", "cluster-reader", "-n", work, "--wait=true", "--timeout=30s")
        assert kubectl("get", "clusterrolebinding", cluster_binding, "--ignore-not-found", "-o", "name") == ""
        text = operator.metrics()
        assert ready.format(work, "minimal") + " 0" in text
        assert ready.format(work, "cluster-reader") not in text
        assert "kubernetes_mcp_operator_leader 1" in text
        assert not [line for line in text.splitlines()
                    if line.startswith("kubernetes_mcp_operator_reconcile_errors_total{")], text
        kubectl("delete", "mcpserver", "--all", "-n", work, "--wait=true", "--timeout=30s")
    finally:
        operator.stop()
        kubectl("delete", "namespace", work, system, "--wait=false")
        kubectl("delete", "clusterrole,clusterrolebinding", chart.fullname(release), "--ignore-not-found")


def test_an_upgrade_from_the_previous_chart_version_replaces_every_object(crds):
    """`helm install` of chart 0.1.0 (as last shipped before 0.2.0's renames, packaged in
    e2e/tests/data/charts), then `helm upgrade` to this chart, for real against the apiserver:
    the upgrade succeeds, the objects named after 0.1.0's scheme (`<release>`) are gone and
    0.2.0's (`<release>-kubernetes-mcp-operator`) are there. The shared CRD and tenancy objects
    are taken over (the suite's fixtures created them) and left in this chart's version."""
    previous = ROOT / "e2e" / "tests" / "data" / "charts" / "kubernetes-mcp-operator-0.1.0.tgz"
    release = f"upg{uuid.uuid4().hex[:4]}"
    namespace = f"{release}-system"
    kubectl("create", "namespace", namespace)
    try:
        chart.helm("install", release, str(previous), "--namespace", namespace, "--take-ownership")
        assert kubectl("get", "deployment", release, "-n", namespace, "-o", "name")
        chart.helm("upgrade", release, str(CHART), "--namespace", namespace, "--take-ownership")
        history = chart.helm("history", release, "--namespace", namespace, "-o", "yaml")
        assert [(h["revision"], h["status"], h["chart"]) for h in yaml.safe_load(history)] == [
            (1, "superseded", "kubernetes-mcp-operator-0.1.0"), (2, "deployed", "kubernetes-mcp-operator-0.2.0")]
        new = chart.fullname(release)
        for kind in ("deployment", "serviceaccount", "service"):
            assert kubectl("get", kind, "-n", namespace, "-l", f"app.kubernetes.io/instance={release}",
                           "-o", "jsonpath={.items[*].metadata.name}").split() == \
                [f"{new}-metrics" if kind == "service" else new], kind
        assert kubectl("get", "clusterrole", release, "--ignore-not-found", "-o", "name") == ""
        assert kubectl("get", "clusterrole", new, "-o", "name")
        installed = json.loads(kubectl("get", "crd", "mcpservers.kubernetes-mcp.io", "-o", "json"))
        current = yaml.safe_load((CHART / "files" / "mcpservers.kubernetes-mcp.io.yaml").read_text())
        assert installed["spec"]["versions"][0]["schema"] == current["spec"]["versions"][0]["schema"]
    finally:
        kubectl("delete", "namespace", namespace, "--wait=false")
        kubectl("delete", "clusterrole,clusterrolebinding", chart.fullname(release), release, "--ignore-not-found")
