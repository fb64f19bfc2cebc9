"""Hostile tenants against the real apiserver, with real identities (ServiceAccount tokens, not
system:masters) and the operator running under exactly the chart's RBAC, with the chart's
ClusterRoles and admission policy applied. Every test is a row of the README's "Security
model": an McpServer grants no more than its author could grant by writing the RoleBinding, the
default grants read no Secrets and reach no exec, and a refusal reaches the author and leaves no
RBAC behind."""

import json
import uuid

import pytest
import yaml

from support import chart
from support.identity import ServiceAccountUser
from support.stack import kubectl
from support.wait import eventually

READ, READ_WRITE = "kubernetes-mcp-read", "kubernetes-mcp-read-write"


class Platform:
    """Two tenant namespaces, the chart installed by a platform admin, its operator watching both,
    and two tenants: alice (admin of team-a) and vic (view of team-a, plus create mcpservers)."""

    def __init__(self, tmp_path):
        suffix = uuid.uuid4().hex[:6]
        self.release, self.system = f"kmcp-{suffix}", f"kmcp-{suffix}-system"
        self.team_a, self.team_b = f"team-a-{suffix}", f"team-b-{suffix}"
        for ns in (self.system, self.team_a, self.team_b):
            kubectl("create", "namespace", ns)
        self.rendered, _ = chart.install(self.release, self.system)
        self.operator = chart.operator(tmp_path, self.release, self.system, [self.team_a, self.team_b])
        self.alice = ServiceAccountUser(tmp_path, self.system, "alice")
        kubectl("create", "rolebinding", "alice-admin", "-n", self.team_a, "--clusterrole=admin",
                f"--serviceaccount={self.system}:alice")
        self.vic = ServiceAccountUser(tmp_path, self.system, "vic")
        kubectl("create", "rolebinding", "vic-view", "-n", self.team_a, "--clusterrole=view",
                f"--serviceaccount={self.system}:vic")
        kubectl("create", "role", "mcp-author", "-n", self.team_a, "--verb=get,create,patch",
                "--resource=mcpservers.kubernetes-mcp.io")
        kubectl("create", "rolebinding", "vic-mcp-author", "-n", self.team_a, "--role=mcp-author",
                f"--serviceaccount={self.system}:vic")
        # The policy is in force once the apiserver has loaded it: a dry run is refused.
        eventually("the admission policy in force", lambda: self.attempt(
            self.alice, "probe", {"scope": "Cluster"}, dry_run=True)[0] != 0, seconds=30)

    def attempt(self, user, name, access, dry_run=False, auth=None):
        """`kubectl apply` of McpServer `name` in team-a as `user`: (returncode, output)."""
        mcp = {"apiVersion": "kubernetes-mcp.io/v1alpha1", "kind": "McpServer",
               "metadata": {"name": name, "namespace": self.team_a},
               "spec": {"access": access} | ({"auth": auth} if auth else {})}
        extra = ["--dry-run=server"] if dry_run else []
        return user.kubectl("apply", "-f", "-", *extra, stdin=json.dumps(mcp))

    def bindings(self, name):
        """The RoleBindings and ClusterRoleBindings of McpServer `name`, anywhere."""
        return kubectl("get", "rolebindings,clusterrolebindings", "-A", "-o", "name",
                       "-l", f"app.kubernetes.io/instance={name}").split()

    def rejected(self, user, name, access, *fragments):
        """Asserts that the apiserver refuses the McpServer with a message holding `fragments`,
        and that neither it nor any binding of it exists."""
        code, output = self.attempt(user, name, access)
        assert code != 0, output
        assert "ValidatingAdmissionPolicy 'kubernetes-mcp-access'" in output, output
        for fragment in (user.username, "ask a platform admin", *fragments):
            assert fragment in output, (fragment, output)
        assert kubectl("get", "mcpserver", name, "-n", self.team_a, "--ignore-not-found", "-o", "name") == ""
        assert self.bindings(name) == []
        return output

    def accepted(self, user, name, access):
        code, output = self.attempt(user, name, access)
        assert code == 0, output

    def sa(self, name):
        return f"system:serviceaccount:{self.team_a}:{name}"

    def close(self):
        kubectl("delete", "mcpserver", "--all", "-n", self.team_a, "--wait=true", "--timeout=30s")
        self.operator.stop()
        kubectl("delete", "namespace", self.team_a, self.team_b, self.system, "--wait=false")
        kubectl("delete", "clusterrole,clusterrolebinding", chart.fullname(self.release), "--ignore-not-found")


@pytest.fixture(scope="module")
def platform(crds, tmp_path_factory):
    platform = Platform(tmp_path_factory.mktemp("tenants"))
    yield platform
    platform.close()


def may(user, verb, resource, namespace="", group="", subresource="", name=""):
    """Whether `user` (a ServiceAccount's username) may, asked of the real authorizer."""
    sa_namespace = user.split(":")[2]
    review = {"apiVersion": "authorization.k8s.io/v1", "kind": "SubjectAccessReview", "spec": {
        "user": user, "groups": ["system:serviceaccounts", f"system:serviceaccounts:{sa_namespace}",
                                 "system:authenticated"],
        "resourceAttributes": {"verb": verb, "resource": resource, "namespace": namespace, "group": group,
                               "subresource": subresource, "name": name}}}
    answer = json.loads(kubectl("create", "-f", "-", "-o", "json", stdin=json.dumps(review)))
    return answer["status"].get("allowed", False)


def test_an_admin_of_team_a_cannot_list_team_b(platform):
    platform.rejected(platform.alice, "into-b", {"namespaces": [platform.team_a, platform.team_b]},
                      f"may not bind ClusterRole {READ} in namespace {platform.team_b}")


def test_an_admin_of_team_a_cannot_ask_for_scope_cluster(platform):
    platform.rejected(platform.alice, "cluster", {"scope": "Cluster"}, f"may not bind ClusterRole {READ} cluster-wide")


def test_an_accepted_mcpserver_cannot_be_widened_by_update(platform):
    platform.accepted(platform.alice, "widen", {})
    eventually("its binding in team-a", lambda: platform.bindings("widen") or None)
    for access, message in (({"namespaces": [platform.team_a, platform.team_b]}, f"in namespace {platform.team_b}"),
                            ({"scope": "Cluster"}, "cluster-wide")):
        code, output = platform.attempt(platform.alice, "widen", access)
        assert code != 0 and message in output and "ask a platform admin" in output, output
    spec = json.loads(kubectl("get", "mcpserver", "widen", "-n", platform.team_a, "-o", "json"))["spec"]
    assert spec["access"] == {"namespaces": [], "scope": "Namespace"}
    assert platform.bindings("widen") == [f"rolebinding.rbac.authorization.k8s.io/kubernetes-mcp-widen:{READ}"]
    assert not may(platform.sa("widen"), "list", "pods", platform.team_b)


def test_a_viewer_who_may_create_mcpservers_gets_no_access_through_one(platform):
    platform.rejected(platform.vic, "vic-rw", {"verbs": "readWrite"},
                      f"may not bind ClusterRole {READ_WRITE} in namespace {platform.team_a}")
    # Nor read: a view user holds no `bind`, until a platform admin grants it.
    platform.rejected(platform.vic, "vic-r", {}, f"may not bind ClusterRole {READ} in namespace {platform.team_a}")


def test_an_admin_of_team_a_gets_read_and_read_write_there_and_exactly_that(platform):
    platform.accepted(platform.alice, "reader", {})
    platform.accepted(platform.alice, "writer", {"verbs": "readWrite"})
    reader, writer, a, b = platform.sa("reader"), platform.sa("writer"), platform.team_a, platform.team_b
    eventually("both granted", lambda: may(reader, "list", "pods", a) and may(writer, "delete", "pods", a))
    allowed = [
        (reader, "list", "pods", a, "", ""), (reader, "get", "configmaps", a, "", ""),
        (reader, "get", "pods", a, "", "log"), (writer, "patch", "deployments", a, "apps", ""),
        (writer, "create", "pods", a, "", ""),
    ]
    denied = [
        (reader, "delete", "pods", a, "", ""), (reader, "create", "configmaps", a, "", ""),
        (reader, "list", "pods", b, "", ""), (reader, "list", "nodes", "", "", ""),
    ]
    for who in (reader, writer):
        denied += [
            (who, "get", "secrets", a, "", ""), (who, "list", "secrets", a, "", ""),
            (who, "create", "pods", a, "", "exec"), (who, "get", "pods", a, "", "exec"),
            (who, "create", "pods", a, "", "attach"), (who, "create", "pods", a, "", "portforward"),
            (who, "get", "nodes", "", "", "proxy"), (who, "create", "serviceaccounts", a, "", "token"),
            (who, "impersonate", "serviceaccounts", a, "", ""), (who, "create", "rolebindings", a,
                                                                 "rbac.authorization.k8s.io", ""),
            (who, "list", "pods", b, "", ""), (who, "get", "configmaps", b, "", ""),
        ]
    assert [row for row in allowed if not may(*row)] == []
    assert [row for row in denied if may(*row)] == []


def test_a_platform_admin_can_let_a_tenant_hand_out_read_in_team_b(platform):
    b = platform.team_b
    kubectl("create", "role", "hand-out-read", "-n", b, "--verb=bind", "--resource=clusterroles",
            f"--resource-name={READ}")
    kubectl("create", "rolebinding", "alice-hand-out-read", "-n", b, "--role=hand-out-read",
            f"--serviceaccount={platform.system}:alice")
    try:
        both = {"namespaces": [platform.team_a, b]}
        eventually("accepted", lambda: platform.attempt(platform.alice, "both", both)[0] == 0)
        eventually("read in team-b", lambda: may(platform.sa("both"), "list", "pods", b))
        assert not may(platform.sa("both"), "get", "secrets", b)
        # read, not readWrite: that one is still refused there.
        platform.rejected(platform.alice, "both-rw", {**both, "verbs": "readWrite"},
                          f"may not bind ClusterRole {READ_WRITE} in namespace {b}")
    finally:
        kubectl("delete", "rolebinding", "alice-hand-out-read", "-n", b)


def test_a_custom_cluster_role_needs_bind_on_it_and_the_operator_too(platform):
    custom = f"kmcp-test-secrets-{uuid.uuid4().hex[:6]}"
    kubectl("create", "clusterrole", custom, "--verb=get,list", "--resource=secrets")
    try:
        platform.rejected(platform.alice, "custom", {"clusterRole": custom},
                          f"may not bind ClusterRole {custom} in namespace {platform.team_a}")
        # A platform admin may ask for it, but the chart lets the operator bind only the shipped
        # roles (and rbac.bindableClusterRoles): refused, told, and no binding stays, not even
        # the one it had before.
        kubectl("apply", "-n", platform.team_a, "-f", "-", stdin=json.dumps({
            "apiVersion": "kubernetes-mcp.io/v1alpha1", "kind": "McpServer", "metadata": {"name": "custom"},
            "spec": {"access": {}}}))
        eventually("the read binding", lambda: platform.bindings("custom") or None)
        kubectl("patch", "mcpserver", "custom", "-n", platform.team_a, "--type=merge",
                "-p", json.dumps({"spec": {"access": {"clusterRole": custom}}}))

        def degraded():
            status = json.loads(kubectl("get", "mcpserver", "custom", "-n", platform.team_a, "-o", "json"))
            return next((c for c in status.get("status", {}).get("conditions", [])
                         if c["type"] == "Degraded" and c["status"] == "True"), None)
        condition = eventually("Degraded=True", degraded, seconds=30)
        assert condition["reason"] == "RBACRefused", condition
        assert f"may not bind ClusterRole {custom}" in condition["message"], condition
        assert "rbac.bindableClusterRoles" in condition["message"], condition
        eventually("a Warning event RBACRefused", lambda: "Warning" in kubectl(
            "get", "events", "-n", platform.team_a, "--field-selector", "involvedObject.name=custom,reason=RBACRefused",
            "-o", "jsonpath={.items[*].type}"))
        eventually("no binding left", lambda: platform.bindings("custom") == [])
        assert not may(platform.sa("custom"), "list", "pods", platform.team_a)
    finally:
        kubectl("delete", "mcpserver", "custom", "-n", platform.team_a, "--ignore-not-found", "--wait=true",
                "--timeout=30s")
        kubectl("delete", "clusterrole", custom)


def test_the_operator_cannot_escalate(platform):
    operator = f"system:serviceaccount:{platform.system}:{chart.fullname(platform.release)}"
    rbac = "rbac.authorization.k8s.io"
    assert may(operator, "bind", "clusterroles", group=rbac, name=READ)
    for verb, resource, name in (("escalate", "clusterroles", ""), ("escalate", "roles", ""),
                                 ("bind", "clusterroles", "cluster-admin"), ("bind", "clusterroles", "admin"),
                                 ("create", "clusterroles", ""), ("create", "roles", ""),
                                 ("update", "clusterroles", READ)):
        assert not may(operator, verb, resource, platform.team_a, rbac, name=name), (verb, resource, name)
        assert not may(operator, verb, resource, group=rbac, name=name), (verb, resource, name)
    [role] = [d for d in yaml.safe_load_all(platform.rendered)
              if d and d["kind"] == "ClusterRole" and d["metadata"]["name"] == chart.fullname(platform.release)]
    assert not [r for r in role["rules"] if "escalate" in r["verbs"] or "*" in r["verbs"]]


IMPERSONATE = {"required": True, "mode": "impersonate"}


def reviews_and_impersonation(platform, name):
    """What the server of McpServer `name` may do for auth: (ask reviews, impersonate anyone)."""
    sa = platform.sa(name)
    reviews = may(sa, "create", "tokenreviews", group="authentication.k8s.io") and may(
        sa, "create", "subjectaccessreviews", group="authorization.k8s.io")
    impersonate = [may(sa, "impersonate", kind) for kind in ("users", "groups", "serviceaccounts")]
    assert len(set(impersonate)) == 1, impersonate
    return reviews, impersonate[0]


def test_an_admin_of_team_a_cannot_make_a_server_that_impersonates(platform):
    """Impersonating anyone is cluster-admin-equivalent: only an author who may do it gets it."""
    code, output = platform.attempt(platform.alice, "imp", {}, auth=IMPERSONATE)
    assert code != 0, output
    for fragment in ("ValidatingAdmissionPolicy 'kubernetes-mcp-impersonate'", platform.alice.username,
                     "may not impersonate users cluster-wide", "ask a platform admin"):
        assert fragment in output, (fragment, output)
    assert kubectl("get", "mcpserver", "imp", "-n", platform.team_a, "--ignore-not-found", "-o", "name") == ""
    # Passthrough acts with the caller's own token: the reviews it needs grant nothing, so she may.
    code, output = platform.attempt(platform.alice, "checked", {}, auth={"required": True, "mode": "passthrough"})
    assert code == 0, output
    eventually("the reviews granted", lambda: reviews_and_impersonation(platform, "checked") == (True, False))
    # Nor can she turn impersonation on later.
    code, output = platform.attempt(platform.alice, "checked", {}, auth=IMPERSONATE)
    assert code != 0 and "may not impersonate" in output, output
    assert reviews_and_impersonation(platform, "checked") == (True, False)


def test_a_platform_admin_can_and_the_operator_binds_and_removes_exactly_that(platform):
    kubectl("apply", "-n", platform.team_a, "-f", "-", stdin=json.dumps({
        "apiVersion": "kubernetes-mcp.io/v1alpha1", "kind": "McpServer", "metadata": {"name": "impersonator"},
        "spec": {"auth": IMPERSONATE}}))
    # Bound by the operator under the chart's RBAC (bind on exactly these roles).
    eventually("reviews and impersonation granted",
               lambda: reviews_and_impersonation(platform, "impersonator") == (True, True), seconds=30)
    prefix = f"clusterrolebinding.rbac.authorization.k8s.io/kubernetes-mcp-{platform.team_a}-impersonator:"
    assert sorted(b for b in platform.bindings("impersonator") if b.startswith("clusterrolebinding")) == [
        prefix + "kubernetes-mcp-impersonate", prefix + "system:auth-delegator"]
    # Back to kubeconfig mode: the impersonation binding is swept, the reviews stay.
    kubectl("patch", "mcpserver", "impersonator", "-n", platform.team_a, "--type=merge",
            "-p", json.dumps({"spec": {"auth": {"mode": "kubeconfig"}}}))
    eventually("impersonation revoked", lambda: reviews_and_impersonation(platform, "impersonator") == (True, False))
    kubectl("delete", "mcpserver", "impersonator", "-n", platform.team_a, "--wait=true", "--timeout=30s")
    assert [b for b in platform.bindings("impersonator") if b.startswith("clusterrolebinding")] == []
    assert reviews_and_impersonation(platform, "impersonator") == (False, False)


def test_an_explicit_null_cluster_role_is_the_default_role_and_checked_as_such(platform):
    """`clusterRole: null` in YAML reaches the apiserver (the field is nullable): the policy treats
    it as absent, so the refusal names the default role, and an allowed one gets the default grant."""
    def create(name, access):
        mcp = {"apiVersion": "kubernetes-mcp.io/v1alpha1", "kind": "McpServer",
               "metadata": {"name": name, "namespace": platform.team_a}, "spec": {"access": access}}
        return platform.alice.kubectl("create", "-f", "-", stdin=json.dumps(mcp))
    code, output = create("null-cluster", {"clusterRole": None, "scope": "Cluster"})
    assert code != 0 and f"may not bind ClusterRole {READ} cluster-wide" in output, output
    code, output = create("null-role", {"clusterRole": None})
    assert code == 0, output
    spec = json.loads(kubectl("get", "mcpserver", "null-role", "-n", platform.team_a, "-o", "json"))["spec"]
    assert spec["access"]["clusterRole"] is None
    eventually("the default grant", lambda: platform.bindings("null-role") == [
        f"rolebinding.rbac.authorization.k8s.io/kubernetes-mcp-null-role:{READ}"] or None)
