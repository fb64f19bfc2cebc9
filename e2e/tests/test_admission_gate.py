"""The operator fails closed when the admission policy that holds McpServers to their authors'
rights is not in force: it grants no RBAC, says why on the McpServer (Ready=False, Degraded with
reason AdmissionPolicyMissing, a Warning Event) and in its log, and grants once the policy is
back. A platform admin may opt out knowingly with --require-admission-policy=false. Against the
real apiserver; the policy's binding is removed for the test and restored after it."""

import json
import uuid

from support.operator import Operator
from support.stack import ROOT, apply_mcp, kubectl
from support.wait import eventually

BINDING = "validatingadmissionpolicybinding/kubernetes-mcp-access"


def replica(tmp_path, namespace, *flags):
    return Operator(tmp_path, "--default-image", "registry.invalid/kubernetes-mcp-server:test",
                    "--namespace", namespace, "--leader-elect=false", *flags)


def conditions(namespace, name):
    status = json.loads(kubectl("get", "mcpserver", name, "-n", namespace, "-o", "json")).get("status", {})
    return {c["type"]: c for c in status.get("conditions", [])}


def bindings(namespace, name):
    return kubectl("get", "rolebindings", "-n", namespace, "-o", "name",
                   "-l", f"app.kubernetes.io/instance={name}").split()


def test_without_the_admission_policy_no_rbac_is_granted_until_it_is_back_or_the_admin_opts_out(
        tmp_path, namespace, crds):
    opted_out = f"mcp-{uuid.uuid4().hex[:8]}"
    kubectl("create", "namespace", opted_out)
    kubectl("delete", BINDING)
    gated = ungated = None
    try:
        gated = replica(tmp_path, namespace)
        ungated = replica(tmp_path, opted_out, "--require-admission-policy=false")
        apply_mcp(namespace, "gated", {})
        apply_mcp(opted_out, "trusted", {})

        degraded = eventually("Degraded AdmissionPolicyMissing", lambda: (c := conditions(namespace, "gated").get(
            "Degraded")) and c["reason"] == "AdmissionPolicyMissing" and c)
        assert degraded["status"] == "True" and "config/admission" in degraded["message"]
        ready = conditions(namespace, "gated")["Ready"]
        assert (ready["status"], ready["reason"]) == ("False", "AdmissionPolicyMissing")
        eventually("a Warning Event", lambda: "AdmissionPolicyMissing" in kubectl(
            "get", "events", "-n", namespace, "--field-selector", "involvedObject.name=gated,type=Warning",
            "-o", "jsonpath={.items[*].reason}"))
        assert bindings(namespace, "gated") == []
        assert kubectl("get", "deployment", "gated", "-n", namespace, "--ignore-not-found", "-o", "name") == ""
        with open(gated.log.name) as log:
            said = log.read()
        assert "ERROR" in said and "--require-admission-policy=false" in said, said

        # The admin who opted out gets the grant without the policy.
        eventually("the opted-out grant", lambda: bindings(opted_out, "trusted"))
    finally:
        kubectl("apply", "--server-side", "--force-conflicts", "-f", str(ROOT / "config" / "admission"))
        if ungated:
            ungated.stop()
    try:
        # Back in force: the gated operator notices within its minute and grants.
        eventually("the grant once the policy is back", lambda: bindings(namespace, "gated"), seconds=90)
        eventually("Degraded cleared", lambda: conditions(namespace, "gated")["Degraded"]["status"] == "False")
    finally:
        gated.stop()
        kubectl("delete", "namespace", opted_out, "--wait=false")
