"""The Helm chart (charts/kubernetes-mcp-operator) with the real helm and the real apiserver: it
lints, carries the generated CRD, renders objects the apiserver accepts in a namespace enforcing
the `restricted` Pod Security Standard, and its RBAC is enough for the operator binary to do all
of its work (reconcile, events, finalizer cleanup, leader Lease) under the chart's
ServiceAccount, with a token from the TokenRequest API."""

import uuid

from support import chart
from support.stack import ROOT, kubectl
from support.wait import eventually

CHART = chart.CHART


def test_the_chart_lints_and_carries_the_generated_crd():
    assert "0 chart(s) failed" in chart.helm("lint", str(CHART), "--strict")
    generated = (ROOT / "crds" / "mcpservers.kubernetes-mcp.io.yaml").read_text()
    assert (CHART / "files" / "mcpservers.kubernetes-mcp.io.yaml").read_text() == generated, \
        "copy crds/mcpservers.kubernetes-mcp.io.yaml to charts/kubernetes-mcp-operator/files/"


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
                "-p", '{"spec": {"metrics": {"serviceMonitor": {"enabled": true}}}}')
        cluster_binding = f"kubernetes-mcp-{work}-cluster-reader:kubernetes-mcp-read"
        eventually("every child of both", lambda: kubectl(
            "get", "deployment/minimal", "deployment/cluster-reader", "servicemonitor/minimal",
            "rolebinding/kubernetes-mcp-minimal:kubernetes-mcp-read", "-n", work, "-o", "name")
            and kubectl("get", "clusterrolebinding", cluster_binding, "-o", "name"))
        eventually("events recorded", lambda: "Applied" in kubectl(
            "get", "events", "-n", work, "--field-selector", "involvedObject.name=minimal", "-o", "json"))
        kubectl("delete", "mcpserver", "cluster-reader", "-n", work, "--wait=true", "--timeout=30s")
        assert kubectl("get", "clusterrolebinding", cluster_binding, "--ignore-not-found", "-o", "name") == ""
        text = operator.metrics()
        assert "kubernetes_mcp_operator_leader 1" in text
        assert not [line for line in text.splitlines()
                    if line.startswith("kubernetes_mcp_operator_reconcile_errors_total{")], text
        kubectl("delete", "mcpserver", "--all", "-n", work, "--wait=true", "--timeout=30s")
    finally:
        operator.stop()
        kubectl("delete", "namespace", work, system, "--wait=false")
        kubectl("delete", "clusterrole,clusterrolebinding", release, "--ignore-not-found")
