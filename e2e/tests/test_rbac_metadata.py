"""The RBAC each tool declares in `_meta["io.kubernetes-mcp-server/rbac"]` (the Go server's
declarations) is true of our tools on the real apiserver: a ServiceAccount granted exactly the
declared rules (verbs, resources, resource names, namespace) can call the tool, and one granted
nothing is refused with the apiserver's message. The rules are built from the server's own
tools/list, so a declaration and a tool that drift apart fail here.

pods_top and nodes_top read metrics.k8s.io from the stack's metrics-server, through the
aggregation layer, which checks the caller's RBAC as for any other API;
vm_create_from_template calls virt-template's API server there, which checks it again by
SubjectAccessReview and makes the VM as its own user. projects_list has no
OpenShift to run against: a cluster-scoped CustomResourceDefinition stands in for
projects.project.openshift.io/v1 (OpenShift serves Projects from its own apiserver, not a CRD);
the tool only lists them, and finds the kind by discovery, which the CRD satisfies."""

import asyncio
import json
import os

import pytest

from support.identity import ServiceAccountUser
from support.server import session, text
from support.stack import kubectl
from support.third_party import create, install_crds, set_status

pytestmark = pytest.mark.anyio

RBAC = "io.kubernetes-mcp-server/rbac"


# The kinds the cases below name, as the apiserver's discovery maps them: (group, resource).
RESOURCES = {("v1", "ConfigMap"): ("", "configmaps"), ("apps/v1", "Deployment"): ("apps", "deployments")}


def target_of(target, arguments):
    """(apiGroup, resource) of a requirement's target: a named resource, the kind the call's
    apiVersion/kind arguments name, or the kind of the manifest it applies."""
    if "resource" in target:
        named = target["resource"]
        return named.get("apiGroup", ""), named["resource"] + (f"/{named['subresource']}" if "subresource" in named else "")
    if "gvk" in target:
        gvk = target["gvk"]
        group, resource = RESOURCES[(arguments[gvk["apiVersionArgument"]], arguments[gvk["kindArgument"]])]
        return group, resource + (f"/{gvk['subresource']}" if "subresource" in gvk else "")
    manifest = json.loads(arguments[target["manifest"]["argument"]])
    return RESOURCES[(manifest["apiVersion"], manifest["kind"])]


def rules_for(declaration, arguments):
    """The RBAC rules a declaration asks for, with the call's arguments filled in, and whether
    they all apply in the namespace of the call (else they are granted cluster-wide)."""
    rules, namespaced = [], True
    for requirement in declaration["bounded"]["requirements"]:
        group, resource = target_of(requirement["target"], arguments)
        rule = {"apiGroups": [group], "resources": [resource], "verbs": requirement["verbs"]}
        if "resourceName" in requirement:
            rule["resourceNames"] = [arguments[requirement["resourceName"]["argument"]]]
        namespaced &= "argument" in requirement.get("namespace", {})
        rules.append(rule)
    return rules, namespaced


def grant(namespace, account, name, rules, namespaced):
    """A ClusterRole with exactly `rules`, bound to the account in `namespace` or cluster-wide."""
    kubectl("apply", "-f", "-", stdin=json.dumps(
        {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRole", "metadata": {"name": name}, "rules": rules}))
    subject = f"--serviceaccount={namespace}:{account}"
    if namespaced:
        kubectl("create", "rolebinding", name, "-n", namespace, f"--clusterrole={name}", subject)
    else:
        kubectl("create", "clusterrolebinding", name, f"--clusterrole={name}", subject)


def cleanup(name):
    kubectl("delete", "clusterrole,clusterrolebinding", name, "--ignore-not-found")


def env_with(kubeconfig):
    return dict(os.environ, KUBECONFIG=str(kubeconfig))


async def call_once_granted(s, tool, arguments):
    """The tool's result once the new binding is in the apiserver's RBAC cache (a few tries)."""
    for _ in range(20):
        result = await s.call_tool(tool, arguments)
        if "forbidden" not in text(result).lower():
            return result
        await asyncio.sleep(0.25)
    return result


NODE = os.environ.get("KMCP_NODE_NAME", "e2e-node")
CONFIG_MAP = json.dumps({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "made"}, "data": {"k": "v"}})

CASES = {
    "pods_get": lambda ns: {"namespace": ns, "name": "solo"},
    "pods_list_in_namespace": lambda ns: {"namespace": ns},
    "events_list": lambda ns: {"namespace": ns},
    "pods_delete": lambda ns: {"namespace": ns, "name": "victim"},
    "namespaces_list": lambda ns: {},
    "pods_list": lambda ns: {},
    "helm_list": lambda ns: {"all_namespaces": True},
    "pods_run": lambda ns: {"namespace": ns, "image": "registry.invalid/run:1", "name": "ran"},
    "pods_log": lambda ns: {"namespace": ns, "name": "talker"},
    "pods_exec": lambda ns: {"namespace": ns, "name": "talker", "command": ["echo", "hi"]},
    "nodes_log": lambda ns: {"name": NODE, "query": "kubelet"},
    "nodes_stats_summary": lambda ns: {"name": NODE},
    "resources_get": lambda ns: {"apiVersion": "v1", "kind": "ConfigMap", "namespace": ns, "name": "cm"},
    "resources_list": lambda ns: {"apiVersion": "v1", "kind": "ConfigMap", "namespace": ns},
    "resources_delete": lambda ns: {"apiVersion": "v1", "kind": "ConfigMap", "namespace": ns, "name": "cm"},
    "resources_scale": lambda ns: {"apiVersion": "apps/v1", "kind": "Deployment", "namespace": ns, "name": "web",
                                   "scale": 2},
    "resources_create_or_update": lambda ns: {"resource": CONFIG_MAP, "namespace": ns},
    "pods_top": lambda ns: {"all_namespaces": True},
    "nodes_top": lambda ns: {},
    "projects_list": lambda ns: {},
}
# What a tool's target needs first: a running pod (the kubelet API serves the pod runner's pods
# only; the tekton log tools read the pod a TaskRun names), the metrics API, OpenShift's Project API.
NEEDS = {"pods_log": "talker", "pods_exec": "talker", "pods_top": "metrics_api", "nodes_top": "metrics_api",
         "projects_list": "openshift_projects"}

# OpenShift's Project API as a CRD: only its group, version, kind and scope matter to the tool.
PROJECTS_CRD = {
    "apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
    "metadata": {"name": "projects.project.openshift.io"},
    "spec": {"group": "project.openshift.io", "scope": "Cluster",
             "names": {"kind": "Project", "listKind": "ProjectList", "plural": "projects", "singular": "project"},
             "versions": [{"name": "v1", "served": True, "storage": True,
                           "schema": {"openAPIV3Schema": {"type": "object", "x-kubernetes-preserve-unknown-fields": True}}}]}}


@pytest.fixture
def openshift_projects():
    """projects.project.openshift.io served (by the stand-in CRD) while the test runs, with one
    Project; removed after, as test_tools.py expects a cluster that is not OpenShift."""
    kubectl("apply", "-f", "-", stdin=json.dumps(PROJECTS_CRD))
    kubectl("wait", "--for=condition=Established", "crd/projects.project.openshift.io")
    kubectl("apply", "-f", "-", stdin=json.dumps(
        {"apiVersion": "project.openshift.io/v1", "kind": "Project", "metadata": {"name": "e2e-project"}}))
    try:
        yield
    finally:
        kubectl("delete", "crd", "projects.project.openshift.io", "--wait=true")


CRD_CASES = {
    "tekton_pipeline_start": lambda ns: {"namespace": ns, "name": "build"},
    "tekton_task_start": lambda ns: {"namespace": ns, "name": "lint"},
    "tekton_taskrun_restart": lambda ns: {"namespace": ns, "name": "lint-1"},
    "tekton_pipelinerun_lifecycle": lambda ns: {"namespace": ns, "name": "build-1", "action": "restart"},
    "tekton_taskrun_logs": lambda ns: {"namespace": ns, "name": "lint-1"},
    "tekton_pipelinerun_logs": lambda ns: {"namespace": ns, "name": "build-1"},
    "vm_create": lambda ns: {"namespace": ns, "name": "made"},
    "vm_clone": lambda ns: {"namespace": ns, "name": "web", "targetName": "copy"},
    "vm_create_from_template": lambda ns: {"namespace": ns, "template_name": "small", "parameters": {"NAME": "made"}},
    "vm_lifecycle": lambda ns: {"namespace": ns, "name": "web", "action": "start"},
    "vm_troubleshoot": lambda ns: {"namespace": ns, "name": "web"},
}
CASES.update(CRD_CASES)
# vm_guest_info is not here: it succeeds only through KubeVirt's virt-api, which the stack lacks.
NEEDS.update({"tekton_taskrun_logs": "talker", "tekton_pipelinerun_logs": "talker"})
# Tools that report what they could not read rather than fail, as the Go server's do.
REPORTS = {"vm_troubleshoot"}
TOOLSETS = ("--toolsets", "core,config,helm,tekton,kubevirt")


def tekton_and_kubevirt_objects(namespace):
    """A Pipeline, a Task, a run of each (the TaskRun's status naming the `talker` pod, as Tekton
    would), a VirtualMachine and a VirtualMachineTemplate for the tekton and kubevirt cases."""
    install_crds()
    step = {"steps": [{"name": "run", "image": "registry.invalid/run:1", "script": "run"}]}
    create({"apiVersion": "tekton.dev/v1", "kind": "Pipeline", "metadata": {"name": "build", "namespace": namespace},
            "spec": {"tasks": [{"name": "lint", "taskSpec": step}]}})
    create({"apiVersion": "tekton.dev/v1", "kind": "Task", "metadata": {"name": "lint", "namespace": namespace},
            "spec": step})
    create({"apiVersion": "tekton.dev/v1", "kind": "PipelineRun", "metadata": {"name": "build-1", "namespace": namespace},
            "spec": {"pipelineRef": {"name": "build"}}})
    create({"apiVersion": "tekton.dev/v1", "kind": "TaskRun",
            "metadata": {"name": "lint-1", "namespace": namespace, "labels": {"tekton.dev/pipelineRun": "build-1"}},
            "spec": {"taskRef": {"name": "lint"}}})
    set_status("taskrun", namespace, "lint-1", {"podName": "talker", "steps": [{"name": "run", "container": "main"}]})
    create({"apiVersion": "kubevirt.io/v1", "kind": "VirtualMachine", "metadata": {"name": "web", "namespace": namespace},
            "spec": {"runStrategy": "Halted", "template": {"spec": {"domain": {"devices": {}, "memory": {"guest": "1Gi"}}}}}})
    create({"apiVersion": "template.kubevirt.io/v1beta1", "kind": "VirtualMachineTemplate",
            "metadata": {"name": "small", "namespace": namespace},
            "spec": {"parameters": [{"name": "NAME", "required": True}], "virtualMachine": {
                "metadata": {"name": "${NAME}"},
                "spec": {"runStrategy": "Halted", "template": {"spec": {"domain": {"devices": {}, "memory": {"guest": "1Gi"}}}}}}}})


@pytest.mark.parametrize("tool", sorted(CASES))
async def test_the_declared_rbac_is_enough_and_needed(tool, namespace, tmp_path, request):
    if tool in NEEDS:
        request.getfixturevalue(NEEDS[tool])
    for pod in ("solo", "victim"):
        kubectl("run", pod, "-n", namespace, "--image=registry.invalid/solo:1")
    kubectl("create", "configmap", "cm", "-n", namespace, "--from-literal=k=v")
    kubectl("create", "deployment", "web", "-n", namespace, "--image=registry.invalid/web:1")
    if tool in CRD_CASES:
        tekton_and_kubevirt_objects(namespace)
    arguments = CASES[tool](namespace)
    granted = ServiceAccountUser(tmp_path, namespace, "granted")
    bare = ServiceAccountUser(tmp_path, namespace, "bare")
    async with session("stdio", *TOOLSETS, env=env_with(granted.kubeconfig)) as s:
        declaration = {t.name: t.meta[RBAC] for t in (await s.list_tools()).tools}[tool]
        rules, namespaced = rules_for(declaration, arguments)
        name = f"{namespace}-{tool.replace('_', '-')}"
        grant(namespace, "granted", name, rules, namespaced)
        try:
            result = await call_once_granted(s, tool, arguments)
            # Some tools print what they may not read instead of failing (a log, a report).
            assert not result.is_error and "forbidden" not in text(result).lower(), f"{tool} with {rules}: {text(result)}"
        finally:
            cleanup(name)
    async with session("stdio", *TOOLSETS, env=env_with(bare.kubeconfig)) as s:
        result = await s.call_tool(tool, arguments)
        refused = "forbidden" in text(result).lower()
        assert refused and (result.is_error or tool in REPORTS), text(result)


async def test_the_tools_that_declare_no_rbac_need_none(namespace, tmp_path):
    bare = ServiceAccountUser(tmp_path, namespace, "bare")
    async with session("stdio", "--toolsets", "core,config,helm", env=env_with(bare.kubeconfig)) as s:
        declared = {t.name: t.meta[RBAC] for t in (await s.list_tools()).tools}
        free = sorted(name for name, rbac in declared.items() if "none" in rbac)
        # configuration_contexts_list is listed only for a kubeconfig of several contexts.
        assert free == ["configuration_view"]
        for tool in free:
            result = await s.call_tool(tool, {})
            assert not result.is_error, f"{tool}: {text(result)}"


async def test_projects_list_lists_the_projects_the_cluster_serves(openshift_projects):
    async with session("stdio") as s:
        got = await s.call_tool("projects_list", {})
    assert not got.is_error and "e2e-project" in text(got), text(got)
