"""The operator binary against the real apiserver: two replicas elect one leader on a Lease and
the standby takes over when the leader stops; /metrics, /healthz, /readyz; Events and the
Degraded condition for a spec the cluster cannot satisfy; a wanted ServiceMonitor or
PrometheusRule whose CRD is missing is a False condition until the CRD is installed."""

import json
import os
import time
import uuid

import httpx2 as httpx
import pytest

from collector import spans_of
from support.operator import Operator
from support.stack import apply_mcp, kubectl
from support.wait import eventually


def replica(tmp_path, namespace, lease, env=None):
    """An operator replica watching `namespace`, electing its leader on the Lease `lease` there."""
    return Operator(tmp_path, "--default-image", "registry.invalid/kubernetes-mcp-server:test",
                    "--namespace", namespace, "--lease-name", lease, "--lease-namespace", namespace, env=env)


def test_two_replicas_elect_one_leader_and_the_standby_takes_over(tmp_path, namespace, crds):
    lease = "kubernetes-mcp-operator"
    first, second = replica(tmp_path, namespace, lease), replica(tmp_path, namespace, lease)
    try:
        for each in (first, second):
            eventually("/healthz", lambda r=each: httpx.get(r.url + "/healthz", timeout=2).status_code == 200)
            eventually("/readyz", lambda r=each: httpx.get(r.url + "/readyz", timeout=2).status_code == 200)
        leader = eventually("one leader", lambda: [r for r in (first, second) if r.leads()] or None)
        time.sleep(2)  # a second leader would show within the renew period
        assert len([r for r in (first, second) if r.leads()]) == 1
        [leader] = leader
        standby = second if leader is first else first
        holder = json.loads(kubectl("get", "lease", lease, "-n", namespace, "-o", "json"))["spec"]["holderIdentity"]
        assert holder.endswith(f"-{leader.process.pid}")

        apply_mcp(namespace, "elected", {})
        eventually("the leader reconciles", lambda: leader.metric(
            'kubernetes_mcp_operator_reconciles_total{outcome="success"}') > 0)
        assert standby.metric("kubernetes_mcp_operator_reconciles_total") == 0

        leader.stop()
        eventually("the standby leads", standby.leads, seconds=30)
        eventually("the new leader reconciles", lambda: standby.metric(
            'kubernetes_mcp_operator_reconciles_total{outcome="success"}') > 0)
        kubectl("delete", "configmap", "elected-config", "-n", namespace)
        eventually("the new leader repairs a deleted child",
                   lambda: kubectl("get", "configmap", "elected-config", "-n", namespace, "--ignore-not-found", "-o", "name"))
        # ...and says so: an Event on the McpServer.
        eventually("a Recreated event", lambda: "ConfigMap " + namespace + "/elected-config" in kubectl(
            "get", "events", "-n", namespace, "--field-selector", "involvedObject.name=elected,reason=Recreated",
            "-o", "jsonpath={.items[*].message}"))
    finally:
        first.stop()
        second.stop()


def test_reconciles_are_traced_changes_and_failures_are_events_and_failures_are_degraded(
        tmp_path, namespace, crds):
    service = f"operator-{uuid.uuid4().hex[:8]}"
    operator = replica(tmp_path, namespace, "events-test", env={
        "OTEL_EXPORTER_OTLP_ENDPOINT": os.environ["OTLP_GRPC_ENDPOINT"], "OTEL_SERVICE_NAME": service,
        "OTEL_BSP_SCHEDULE_DELAY": "100", "OTEL_METRICS_EXPORTER": "none"})
    try:
        apply_mcp(namespace, "fine", {})
        # A namespace that does not exist: the CRD cannot know, the apply of its Role fails.
        apply_mcp(namespace, "broken", {"access": {"namespaces": [f"absent-{uuid.uuid4().hex[:6]}"]}})

        def reasons(name):
            events = json.loads(kubectl("get", "events", "-n", namespace, "-o", "json",
                                        "--field-selector", f"involvedObject.name={name}"))["items"]
            return {(e["type"], e["reason"]) for e in events}
        eventually("an Applied event", lambda: ("Normal", "Applied") in reasons("fine"))
        eventually("an ApplyFailed warning", lambda: ("Warning", "ApplyFailed") in reasons("broken"))

        def degraded():
            status = json.loads(kubectl("get", "mcpserver", "broken", "-n", namespace, "-o", "json")).get("status", {})
            found = [c for c in status.get("conditions", []) if c["type"] == "Degraded" and c["status"] == "True"]
            return found[0] if found else None
        condition = eventually("Degraded=True", degraded)
        assert condition["reason"] == "ApplyFailed" and "Role" in condition["message"]
        assert operator.metric('kubernetes_mcp_operator_reconcile_errors_total{reason="ApplyFailed"}') > 0

        # One span per reconcile, named for the object, failures marked.
        def spans(name):
            return [s for s in spans_of(service) if s["name"] == "reconcile McpServer"
                    and s["attrs"].get("kubernetes_mcp.mcpserver.name") == name]
        fine = eventually("a span of the good reconcile", lambda: spans("fine"))[0]
        assert fine["attrs"]["k8s.namespace.name"] == namespace
        assert fine["status"].get("code") == 1
        # (The first reconcile of each only adds the finalizer.)
        broken = eventually("a span of the failed reconcile",
                            lambda: [s for s in spans("broken") if "error.type" in s["attrs"]])[0]
        assert broken["attrs"]["error.type"] == "ApplyFailed" and broken["status"]["code"] == 2
    finally:
        operator.stop()


@pytest.mark.parametrize("kind", ["ServiceMonitor", "PrometheusRule"])
def test_a_monitoring_child_waits_for_its_crd_and_appears_once_it_is_installed(tmp_path, namespace, crds, kind):
    crd_name = f"{kind.lower()}s.monitoring.coreos.com"
    field = kind[0].lower() + kind[1:]
    live = json.loads(kubectl("get", "crd", crd_name, "-o", "json"))
    crd = {"apiVersion": live["apiVersion"], "kind": live["kind"], "spec": live["spec"],
           "metadata": {k: v for k, v in live["metadata"].items() if k in ("name", "labels", "annotations")}}
    operator = replica(tmp_path, namespace, f"{kind.lower()}-test")

    def condition():
        status = json.loads(kubectl("get", "mcpserver", "watched", "-n", namespace, "-o", "json")).get("status", {})
        return next((c for c in status.get("conditions", []) if c["type"] == kind), None)
    try:
        kubectl("delete", "crd", crd_name, "--wait=true")
        apply_mcp(namespace, "watched", {"metrics": {field: {"enabled": True}}})
        missing = eventually(f"{kind}=False", lambda: (c := condition()) and c["status"] == "False" and c)
        assert missing["reason"] == "CRDNotServed"
    finally:
        kubectl("create", "-f", "-", stdin=json.dumps(crd))
        kubectl("wait", "--for=condition=Established", f"crd/{crd_name}")
    try:
        eventually(f"the {kind}", lambda: kubectl(
            "get", kind.lower(), "watched", "-n", namespace, "--ignore-not-found", "-o", "name"), seconds=30)
        eventually(f"{kind}=True", lambda: (c := condition()) and c["status"] == "True" and c["reason"] == "Applied")
    finally:
        operator.stop()
