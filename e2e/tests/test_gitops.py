"""What GitOps tools see of a real McpServer on the real apiserver, its pods run by the pod runner:
cli-utils' kstatus (Flux, kpt) and our Argo CD health check (Lua) agree on every status the
operator writes through a lifecycle: created → InProgress → Current; a spec the cluster cannot
satisfy → Failed, never Current; a crash-looping pod → Failed, never Current; fixed → Current.
And the scale subresource: `kubectl scale` (and an HPA) moves the Deployment through the McpServer."""

import json
import os
import shutil
import subprocess
import time
import uuid

from support.gitops import AGREES, argo_health, kstatus
from support.operator import Operator
from support.cluster import IMAGE
from support.stack import apply_mcp, kubectl, pod_runner
from support.wait import eventually

# Mapped to a program that exits at once: its pod crash-loops.
CRASHING = "registry.invalid/crashes:1"


def operator(tmp_path, namespace):
    return Operator(tmp_path, "--default-image", IMAGE, "--namespace", namespace,
                    "--lease-name", "gitops-test", "--lease-namespace", namespace)


class Watcher:
    """Reads the McpServer, asks kstatus and the Lua health check about it, and keeps what they said."""

    def __init__(self, namespace, name):
        self.ns, self.name, self.seen = namespace, name, []

    def look(self):
        obj = json.loads(kubectl("get", "mcpserver", self.name, "-n", self.ns, "-o", "json"))
        status, message = kstatus(obj)
        health, health_message = argo_health(obj)
        if obj.get("status", {}).get("observedGeneration") is not None:
            # (Before the operator's first status kstatus calls any custom resource Current.)
            assert AGREES[status] == health, (status, message, health, health_message, obj["status"])
        self.seen.append((obj["metadata"]["generation"], status, message))
        return obj, status, message

    def until(self, wanted, generation, seconds=60):
        """Looks until kstatus says `wanted` of `generation`; returns the condition it read."""
        def check():
            obj, status, _ = self.look()
            return obj if obj["metadata"]["generation"] == generation and status == wanted else None
        return eventually(f"{self.name} {wanted} at generation {generation}", check, seconds=seconds, interval=0.5)

    def since(self, generation):
        return [s for g, s, _ in self.seen if g >= generation]

    def apply(self, spec):
        apply_mcp(self.ns, self.name, spec)
        return json.loads(kubectl("get", "mcpserver", self.name, "-n", self.ns, "-o", "json"))["metadata"]["generation"]


def condition(obj, type_):
    return next((c for c in obj["status"]["conditions"] if c["type"] == type_), None)


def test_kstatus_and_argo_cd_follow_a_lifecycle(tmp_path, namespace, crds):
    watcher = Watcher(namespace, "life")
    with operator(tmp_path, namespace):
        created = watcher.apply({})
        # No pods run yet: the operator says it is rolling out.
        obj = watcher.until("InProgress", created)
        eventually("Reconciling=True", lambda: condition(watcher.look()[0], "Reconciling"))
        assert condition(obj, "Stalled") is None
        with pod_runner(namespace, tmp_path / "pod-runner.log", [f"{CRASHING}=/bin/false"]):
            obj = watcher.until("Current", created)
            assert condition(obj, "Reconciling") is None and condition(obj, "Stalled") is None
            assert set(watcher.since(created)) <= {"InProgress", "Current"}

            # A namespace that does not exist: the apiserver rejects the Role; retrying cannot help.
            broken = watcher.apply({"access": {"namespaces": [f"absent-{uuid.uuid4().hex[:6]}"]}})
            obj = watcher.until("Failed", broken)
            stalled = condition(obj, "Stalled")
            assert stalled["reason"] == "ApplyFailed" and "Role" in stalled["message"]
            assert stalled["observedGeneration"] == broken
            time.sleep(3)
            assert watcher.look()[1] == "Failed"
            assert "Current" not in watcher.since(broken)

            # A pod that keeps exiting: stalled once the pod runner shows CrashLoopBackOff.
            crashing = watcher.apply({"image": CRASHING})
            obj = watcher.until("Failed", crashing)
            assert condition(obj, "Stalled")["reason"] == "CrashLoopBackOff", obj["status"]
            assert "Current" not in watcher.since(crashing)

            fixed = watcher.apply({})
            obj = watcher.until("Current", fixed)
            assert condition(obj, "Stalled") is None and condition(obj, "Reconciling") is None
            assert argo_health(obj)[0] == "Healthy"
            kubectl("delete", "mcpserver", "life", "-n", namespace, "--wait=true", "--timeout=60s")


def test_kubectl_scale_sets_the_replicas_the_deployment_follows(tmp_path, namespace, crds):
    watcher = Watcher(namespace, "scaled")
    scale_path = f"/apis/kubernetes-mcp.io/v1alpha1/namespaces/{namespace}/mcpservers/scaled/scale"

    def deployment_replicas():
        return json.loads(kubectl("get", "deployment", "scaled", "-n", namespace, "-o", "json"))["spec"]["replicas"]
    with operator(tmp_path, namespace), pod_runner(namespace, tmp_path / "pod-runner.log"):
        watcher.until("Current", watcher.apply({}))
        assert deployment_replicas() == 1
        kubectl("scale", "mcpserver/scaled", "-n", namespace, "--replicas=2")
        scale = json.loads(kubectl("get", "--raw", scale_path))
        assert scale["spec"]["replicas"] == 2
        eventually("the Deployment at 2", lambda: deployment_replicas() == 2)
        obj = watcher.until("Current", watcher.look()[0]["metadata"]["generation"])
        assert obj["status"]["replicas"] == 2 and obj["status"]["readyReplicas"] == 2
        scale = json.loads(kubectl("get", "--raw", scale_path))
        assert scale["status"]["replicas"] == 2
        # The selector an HPA reads selects exactly the McpServer's pods.
        pods = json.loads(kubectl("get", "pods", "-n", namespace, "-l", scale["status"]["selector"], "-o", "json"))
        assert len([p for p in pods["items"] if not p["metadata"].get("deletionTimestamp")]) == 2

        # The scale subresource written directly, as an HPA does.
        kubectl("patch", "mcpserver", "scaled", "-n", namespace, "--subresource=scale", "--type=merge",
                "-p", json.dumps({"spec": {"replicas": 1}}))
        eventually("the Deployment at 1", lambda: deployment_replicas() == 1)
        kubectl("delete", "mcpserver", "scaled", "-n", namespace, "--wait=true", "--timeout=60s")


# Refuses the Service of the McpServer `unserved`, as the apiserver refuses one when the service
# IP range is full: the McpServer must say so, never Current.
NO_SERVICE = """
apiVersion: admissionregistration.k8s.io/v1
kind: ValidatingAdmissionPolicy
metadata: {name: NAME}
spec:
  failurePolicy: Fail
  matchConstraints:
    resourceRules: [{apiGroups: [""], apiVersions: [v1], operations: [CREATE], resources: [services]}]
  validations:
  - expression: "!has(object.metadata.labels) || object.metadata.labels[?'app.kubernetes.io/instance'].orValue('') != 'unserved'"
    message: "failed to allocate a serviceIP: range is full (refused by the test's admission policy)"
---
apiVersion: admissionregistration.k8s.io/v1
kind: ValidatingAdmissionPolicyBinding
metadata: {name: NAME}
spec:
  policyName: NAME
  validationActions: [Deny]
  matchResources:
    namespaceSelector: {matchLabels: {kubernetes.io/metadata.name: NAMESPACE}}
"""


def test_a_service_the_apiserver_refuses_is_told_in_the_status(tmp_path, namespace, crds):
    name = f"no-service-{uuid.uuid4().hex[:6]}"
    kubectl("apply", "-f", "-", stdin=NO_SERVICE.replace("NAMESPACE", namespace).replace("NAME", name))
    watcher = Watcher(namespace, "unserved")
    try:
        # The policy in force (its informer lags): a Service like the McpServer's is refused.
        probe = json.dumps({"apiVersion": "v1", "kind": "Service", "metadata": {
            "name": "probe", "namespace": namespace, "labels": {"app.kubernetes.io/instance": "unserved"}},
            "spec": {"ports": [{"port": 80}]}})
        eventually("the policy in force", lambda: subprocess.run(
            [shutil.which("kubectl", path=os.environ["KMCP_BIN"]), "create", "--dry-run=server", "-f", "-"],
            input=probe, capture_output=True, text=True).returncode != 0)
        with operator(tmp_path, namespace):
            watcher.apply({})

            def refused():
                obj = watcher.look()[0]
                degraded = obj.get("status") and condition(obj, "Degraded")
                return degraded and "range is full" in degraded["message"] and obj
            obj = eventually("the refusal in the status", refused, seconds=60)
            assert "Service" in condition(obj, "Degraded")["message"], obj["status"]
            progress = condition(obj, "Stalled") or condition(obj, "Reconciling")
            assert progress["status"] == "True" and "range is full" in progress["message"], obj["status"]
            assert (condition(obj, "Ready") or {}).get("status") != "True"
            assert watcher.look()[1] != "Current"
            kubectl("delete", "mcpserver", "unserved", "-n", namespace, "--wait=true", "--timeout=60s")
    finally:
        kubectl("delete", "validatingadmissionpolicybinding,validatingadmissionpolicy", name, "--ignore-not-found")
