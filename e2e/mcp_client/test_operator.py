"""The operator binary against the real apiserver: two replicas elect one leader on a Lease and
the standby takes over when the leader stops; /metrics, /healthz, /readyz; Events and the
Degraded condition for a spec the cluster cannot satisfy."""

import json
import os
import signal
import subprocess
import time
import uuid

import httpx2 as httpx
import pytest

from collector import spans_of
from conftest import kubectl
from test_end_to_end import OPERATOR, eventually
from test_telemetry import free_port


class Operator:
    def __init__(self, tmp_path, namespace, lease, env=None):
        self.port = free_port()
        self.log = open(tmp_path / f"operator-{self.port}.log", "w")  # noqa: SIM115 - closed in stop
        self.process = subprocess.Popen(
            [str(OPERATOR), "--default-image", "registry.invalid/kubernetes-mcp-server:test",
             "--namespace", namespace, "--lease-name", lease, "--lease-namespace", namespace,
             "--metrics-bind-address", f"127.0.0.1:{self.port}"],
            stdout=self.log, stderr=subprocess.STDOUT, env={**os.environ, **(env or {})})
        self.url = f"http://127.0.0.1:{self.port}"

    def metric(self, name):
        for line in httpx.get(self.url + "/metrics", timeout=5).text.splitlines():
            if line.startswith(name + " ") or line.startswith(name + "{"):
                return float(line.rsplit(" ", 1)[1])
        return 0.0

    def leads(self):
        return self.metric("kubernetes_mcp_operator_leader") == 1

    def stop(self):
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            self.process.wait(20)
        self.log.close()


@pytest.fixture
def namespace():
    name = f"op-{uuid.uuid4().hex[:8]}"
    kubectl("create", "namespace", name)
    yield name
    kubectl("delete", "mcpservers", "--all", "-n", name, "--wait=false")
    kubectl("delete", "namespace", name, "--wait=false")


def apply_mcp(namespace, name, spec):
    kubectl("apply", "-n", namespace, "-f", "-", stdin=json.dumps({
        "apiVersion": "kubernetes-mcp.io/v1alpha1", "kind": "McpServer", "metadata": {"name": name}, "spec": spec}))


def test_two_replicas_elect_one_leader_and_the_standby_takes_over(tmp_path, namespace, crds):
    lease = "kubernetes-mcp-operator"
    first, second = Operator(tmp_path, namespace, lease), Operator(tmp_path, namespace, lease)
    try:
        for replica in (first, second):
            eventually("/healthz", lambda r=replica: httpx.get(r.url + "/healthz", timeout=2).status_code == 200)
            eventually("/readyz", lambda r=replica: httpx.get(r.url + "/readyz", timeout=2).status_code == 200)
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
    replica = Operator(tmp_path, namespace, "events-test", env={
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
        assert replica.metric('kubernetes_mcp_operator_reconcile_errors_total{reason="ApplyFailed"}') > 0

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
        replica.stop()


def test_a_service_monitor_waits_for_its_crd_and_appears_once_it_is_installed(tmp_path, namespace, crds):
    crd_name = "servicemonitors.monitoring.coreos.com"
    live = json.loads(kubectl("get", "crd", crd_name, "-o", "json"))
    crd = {"apiVersion": live["apiVersion"], "kind": live["kind"], "spec": live["spec"],
           "metadata": {k: v for k, v in live["metadata"].items() if k in ("name", "labels", "annotations")}}
    replica = Operator(tmp_path, namespace, "service-monitor-test")

    def condition():
        status = json.loads(kubectl("get", "mcpserver", "watched", "-n", namespace, "-o", "json")).get("status", {})
        return next((c for c in status.get("conditions", []) if c["type"] == "ServiceMonitor"), None)
    try:
        kubectl("delete", "crd", crd_name, "--wait=true")
        apply_mcp(namespace, "watched", {"metrics": {"serviceMonitor": {"enabled": True}}})
        missing = eventually("ServiceMonitor=False", lambda: (c := condition()) and c["status"] == "False" and c)
        assert missing["reason"] == "CRDNotServed"
    finally:
        kubectl("create", "-f", "-", stdin=json.dumps(crd))
        kubectl("wait", "--for=condition=Established", f"crd/{crd_name}")
    try:
        eventually("the ServiceMonitor", lambda: kubectl(
            "get", "servicemonitor", "watched", "-n", namespace, "--ignore-not-found", "-o", "name"), seconds=30)
        eventually("ServiceMonitor=True", lambda: (c := condition()) and c["status"] == "True" and c["reason"] == "Applied")
    finally:
        replica.stop()
