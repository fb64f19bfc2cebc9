"""The Helm chart (charts/kubernetes-mcp-operator) with the real helm and the real apiserver: it
lints, carries the generated CRD, renders objects the apiserver accepts in a namespace enforcing
the `restricted` Pod Security Standard, and its RBAC is enough for the operator binary to do all
of its work (reconcile, events, finalizer cleanup, leader Lease) under the chart's
ServiceAccount, with a token from the TokenRequest API."""

import json
import os
import shutil
import subprocess
import uuid

from support.operator import Operator
from support.stack import ROOT, kubectl
from support.wait import eventually

CHART = ROOT / "charts" / "kubernetes-mcp-operator"
HELM = shutil.which("helm", path=os.environ.get("KMCP_BIN", ""))


def helm(*args):
    done = subprocess.run([HELM, *args], capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stderr
    return done.stdout


def test_the_chart_lints_and_carries_the_generated_crd():
    assert "0 chart(s) failed" in helm("lint", str(CHART), "--strict")
    generated = (ROOT / "crds" / "mcpservers.kubernetes-mcp.io.yaml").read_text()
    assert (CHART / "files" / "mcpservers.kubernetes-mcp.io.yaml").read_text() == generated, \
        "copy crds/mcpservers.kubernetes-mcp.io.yaml to charts/kubernetes-mcp-operator/files/"


def test_the_operator_does_all_its_work_with_the_charts_rbac(tmp_path, crds):
    release = f"kmcp-{uuid.uuid4().hex[:6]}"
    system, work = f"{release}-system", f"{release}-work"
    kubectl("create", "namespace", system)
    kubectl("label", "namespace", system, "pod-security.kubernetes.io/enforce=restricted")
    kubectl("create", "namespace", work)
    rendered = helm("template", release, str(CHART), "--namespace", system, "--set", f"watchNamespaces={{{work}}}")
    applied = subprocess.run([shutil.which("kubectl", path=os.environ["KMCP_BIN"]), "apply", "--server-side",
                              "--force-conflicts", "-f", "-"], input=rendered, capture_output=True, text=True)
    assert applied.returncode == 0, applied.stderr
    assert "would violate PodSecurity" not in applied.stderr, applied.stderr

    # The operator, outside a pod, as the chart's ServiceAccount.
    token = kubectl("create", "token", release, "-n", system).strip()
    kubeconfig = tmp_path / "kubeconfig"
    kubeconfig.write_text(json.dumps({
        "apiVersion": "v1", "kind": "Config", "current-context": "chart",
        "clusters": [{"name": "stack", "cluster": {"server": "https://127.0.0.1:6443",
                                                   "certificate-authority": os.path.join(os.environ["KMCP_STACK_DIR"], "pki", "ca.crt")}}],
        "users": [{"name": "chart", "user": {"token": token}}],
        "contexts": [{"name": "chart", "context": {"cluster": "stack", "user": "chart"}}]}))
    operator = Operator(tmp_path, "--namespace", work, "--lease-namespace", system, "--lease-name", release,
                        env={"KUBECONFIG": str(kubeconfig)})
    try:
        for sample in ("minimal.yaml", "cluster-reader.yaml"):
            kubectl("apply", "-n", work, "-f", str(ROOT / "config" / "samples" / sample))
        kubectl("patch", "mcpserver", "minimal", "-n", work, "--type=merge",
                "-p", '{"spec": {"metrics": {"serviceMonitor": {"enabled": true}}}}')
        eventually("every child of both", lambda: kubectl(
            "get", "deployment/minimal", "deployment/cluster-reader", "servicemonitor/minimal", "role/kubernetes-mcp-minimal",
            "-n", work, "-o", "name") and kubectl("get", "clusterrole", f"kubernetes-mcp-{work}-cluster-reader", "-o", "name"))
        eventually("events recorded", lambda: "Applied" in kubectl(
            "get", "events", "-n", work, "--field-selector", "involvedObject.name=minimal", "-o", "json"))
        kubectl("delete", "mcpserver", "cluster-reader", "-n", work, "--wait=true", "--timeout=30s")
        assert kubectl("get", "clusterrole", f"kubernetes-mcp-{work}-cluster-reader", "--ignore-not-found", "-o", "name") == ""
        text = operator.metrics()
        assert "kubernetes_mcp_operator_leader 1" in text
        assert not [line for line in text.splitlines()
                    if line.startswith("kubernetes_mcp_operator_reconcile_errors_total{")], text
        kubectl("delete", "mcpserver", "--all", "-n", work, "--wait=true", "--timeout=30s")
    finally:
        operator.stop()
        kubectl("delete", "namespace", work, system, "--wait=false")
        kubectl("delete", "clusterrole,clusterrolebinding", release, "--ignore-not-found")
