"""The kubevirt toolset through the official MCP SDK against KubeVirt's real CRDs (built from its
generated schemas, see data/crds/README.md) in the test apiserver. No KubeVirt controller runs:
the tests check what the tools write (a VirtualMachine the CRD's schema accepts, its runStrategy,
a VirtualMachineClone, a VM virt-template's API server made from a VirtualMachineTemplate, also for
the Go binary) and what they read (status written here, as virt-controller would), the
`vm-troubleshoot` prompt with a virt-launcher pod the pod runner runs, the `hco-status` prompt
over the HyperConverged Cluster Operator's real CRDs, and `windows-golden-image` against the Go
binary's own answers (no elicitation) and through the SDK's elicitation (accept, decline)."""

import json
import os
from pathlib import Path

import pytest
import yaml
from mcp import ClientSession, StdioServerParameters, types
from mcp.client.stdio import stdio_client
from mcp.shared.exceptions import MCPError

from support.server import session, text
from support.stack import SERVER
from support.stack import kubectl, pod_runner
from support.wait import eventually
from support.third_party import create, get, install_crds, set_status

pytestmark = pytest.mark.anyio

KUBEVIRT = ("--toolsets", "kubevirt")


@pytest.fixture(scope="module", autouse=True)
def kubevirt_crds():
    install_crds()


def vm(namespace, name="web", run_strategy="Halted", **spec):
    return create({"apiVersion": "kubevirt.io/v1", "kind": "VirtualMachine",
                   "metadata": {"name": name, "namespace": namespace},
                   "spec": {"runStrategy": run_strategy, "template": {"spec": {
                       "domain": {"devices": {"disks": [{"name": "root"}]}, "memory": {"guest": "1Gi"}},
                       "volumes": [{"name": "root", "containerDisk": {"image": "quay.io/containerdisks/fedora:latest"}}],
                       **spec}}}})


async def test_vm_create_writes_a_vm_the_crd_accepts(namespace):
    create({"apiVersion": "instancetype.kubevirt.io/v1beta1", "kind": "VirtualMachineInstancetype",
            "metadata": {"name": "u1.medium", "namespace": namespace},
            "spec": {"cpu": {"guest": 1}, "memory": {"guest": "4Gi"}}})
    create({"apiVersion": "instancetype.kubevirt.io/v1beta1", "kind": "VirtualMachineClusterPreference",
            "metadata": {"name": f"{namespace}-ubuntu"}, "spec": {}})
    try:
        async with session("stdio", *KUBEVIRT) as s:
            plain = await s.call_tool("vm_create", {"namespace": namespace, "name": "plain"})
            sized = await s.call_tool("vm_create", {
                "namespace": namespace, "name": "sized", "workload": "ubuntu", "size": "medium",
                "preference": f"{namespace}-ubuntu", "autostart": True,
                "networks": ["vlan-a", {"name": "eth2", "networkName": "vlan-b"}]})
            again = await s.call_tool("vm_create", {"namespace": namespace, "name": "plain", "workload": "debian"})
    finally:
        kubectl("delete", "virtualmachineclusterpreference", f"{namespace}-ubuntu")
    assert text(plain).startswith("# VirtualMachine created successfully\n"), text(plain)
    stored = get("virtualmachine", namespace, "plain")["spec"]
    assert stored["runStrategy"] == "Halted"
    template = stored["template"]["spec"]
    assert template["domain"]["memory"] == {"guest": "2Gi"} and "instancetype" not in stored
    assert template["volumes"] == [{"name": "plain-rootdisk",
                                    "containerDisk": {"image": "quay.io/containerdisks/debian:latest"}}]
    assert not again.is_error, text(again)
    stored = get("virtualmachine", namespace, "sized")["spec"]
    assert stored["runStrategy"] == "Always"
    assert stored["instancetype"] == {"name": "u1.medium", "kind": "VirtualMachineInstancetype"}
    assert stored["preference"] == {"name": f"{namespace}-ubuntu", "kind": "VirtualMachineClusterPreference"}
    template = stored["template"]["spec"]
    assert "memory" not in template["domain"]
    assert template["volumes"][0]["containerDisk"] == {"image": "quay.io/containerdisks/ubuntu:24.04"}
    assert template["networks"] == [{"name": "vlan-a", "multus": {"networkName": "vlan-a"}},
                                    {"name": "eth2", "multus": {"networkName": "vlan-b"}}]
    assert template["domain"]["devices"]["interfaces"] == [{"name": "vlan-a", "bridge": {}},
                                                          {"name": "eth2", "bridge": {}}]


async def test_vm_lifecycle_sets_the_run_strategy(namespace):
    vm(namespace)
    async with session("stdio", *KUBEVIRT) as s:
        started = await s.call_tool("vm_lifecycle", {"namespace": namespace, "name": "web", "action": "start"})
        assert get("virtualmachine", namespace, "web")["spec"]["runStrategy"] == "Always"
        again = await s.call_tool("vm_lifecycle", {"namespace": namespace, "name": "web", "action": "start"})
        generation = get("virtualmachine", namespace, "web")["metadata"]["generation"]
        restarted = await s.call_tool("vm_lifecycle", {"namespace": namespace, "name": "web", "action": "restart"})
        after_restart = get("virtualmachine", namespace, "web")["metadata"]["generation"]
        stopped = await s.call_tool("vm_lifecycle", {"namespace": namespace, "name": "web", "action": "stop"})
        missing = await s.call_tool("vm_lifecycle", {"namespace": namespace, "name": "nope", "action": "stop"})
        # Pausing goes through KubeVirt's virt-api (subresources.kubevirt.io), which the stack lacks.
        paused = await s.call_tool("vm_lifecycle", {"namespace": namespace, "name": "web", "action": "pause"})
    assert text(started).startswith("# VirtualMachine started successfully\n"), text(started)
    assert text(again).startswith(f"# VirtualMachine 'web' in namespace '{namespace}' is already running\n")
    # Restart is two writes, Halted then Always: two new generations.
    assert text(restarted).startswith("# VirtualMachine restarted successfully\n")
    assert after_restart == generation + 2
    assert text(stopped).startswith("# VirtualMachine stopped successfully\n")
    assert get("virtualmachine", namespace, "web")["spec"]["runStrategy"] == "Halted"
    assert missing.is_error and "not found" in text(missing), text(missing)
    assert paused.is_error and f"failed to pause VirtualMachineInstance {namespace}/web" in text(paused), text(paused)


async def test_vm_clone_creates_a_virtualmachineclone(namespace):
    vm(namespace)
    async with session("stdio", *KUBEVIRT) as s:
        got = await s.call_tool("vm_clone", {"namespace": namespace, "name": "web", "targetName": "web-copy"})
    assert text(got).startswith("# VirtualMachineClone created successfully\n"), text(got)
    [clone] = get("virtualmachineclones", namespace)
    assert clone["metadata"]["generateName"] == "web-clone-"
    assert clone["spec"]["source"] == {"apiGroup": "kubevirt.io", "kind": "VirtualMachine", "name": "web"}
    assert clone["spec"]["target"] == {"apiGroup": "kubevirt.io", "kind": "VirtualMachine", "name": "web-copy"}


def vm_template(namespace, name="small"):
    """A VirtualMachineTemplate (virt-template's CRD) with a required NAME, a defaulted MEMORY and
    a PASSWORD virt-template generates, which lands in the VM's cloud-init."""
    return create({"apiVersion": "template.kubevirt.io/v1beta1", "kind": "VirtualMachineTemplate",
                   "metadata": {"name": name, "namespace": namespace},
                   "spec": {"parameters": [
                       {"name": "NAME", "required": True},
                       {"name": "MEMORY", "value": "1Gi"},
                       {"name": "PASSWORD", "generate": "expression", "from": "[a-z0-9]{16}"}],
                    "virtualMachine": {"metadata": {"name": "${NAME}"}, "spec": {
                        "runStrategy": "Halted", "template": {"spec": {
                            "domain": {"devices": {}, "memory": {"guest": "${MEMORY}"}},
                            "volumes": [{"name": "ci", "cloudInitNoCloud": {
                                "userData": "#cloud-config\npassword: ${PASSWORD}\n"}}]}}}}}})


async def call(command, tool, arguments):
    """One tool call to `command` (ours or the Go binary) with the kubevirt toolset, over stdio."""
    params = StdioServerParameters(command=str(command), args=list(KUBEVIRT), env=dict(os.environ))
    async with stdio_client(params, errlog=open(os.devnull, "w")) as (read, write):
        async with ClientSession(read, write) as s:
            await s.initialize()
            return await s.call_tool(tool, arguments)


async def test_vm_create_from_template_has_virt_template_make_the_vm_as_go_does(namespace):
    vm_template(namespace)
    ours = await call(SERVER, "vm_create_from_template",
                      {"namespace": namespace, "template_name": "small", "parameters": {"NAME": "ours"}})
    go = await call(GO_SERVER, "vm_create_from_template",
                    {"namespace": namespace, "template_name": "small", "parameters": {"NAME": "go"}})
    assert not ours.is_error and text(ours).startswith("# VirtualMachine created from template successfully\n"), text(ours)
    assert not go.is_error, text(go)
    made = {name: get("virtualmachines", namespace, name) for name in ("ours", "go")}
    passwords = {name: vm["spec"]["template"]["spec"]["volumes"][0]["cloudInitNoCloud"]["userData"].split("password: ")[1].strip()
                 for name, vm in made.items()}
    # virt-template substituted and generated: a 16-character password per VM, the default memory.
    assert all(len(p) == 16 for p in passwords.values()) and passwords["ours"] != passwords["go"], passwords
    assert made["ours"]["spec"]["template"]["spec"]["domain"]["memory"]["guest"] == "1Gi"
    # The two servers asked for the same VM.
    assert made["ours"]["spec"]["template"]["spec"]["domain"] == made["go"]["spec"]["template"]["spec"]["domain"]
    shown = yaml.safe_load(text(ours).split("\n", 1)[1])
    assert shown["templateRef"] == {"namespace": namespace, "name": "small"}
    assert shown["virtualMachine"]["metadata"]["name"] == "ours"
    # Unlike Go, the answer leaves the generated password out, as vm_troubleshoot leaves cloud-init out.
    assert passwords["ours"] not in text(ours) and passwords["go"] in text(go)


async def test_vm_create_from_template_refusals_are_clear(namespace):
    vm_template(namespace)
    other = f"{namespace}-other"
    kubectl("create", "namespace", other)
    try:
        vm_template(other, "elsewhere")
        async with session("stdio", *KUBEVIRT) as s:
            missing = await s.call_tool("vm_create_from_template", {"namespace": namespace, "template_name": "small"})
            typed = await s.call_tool("vm_create_from_template", {
                "namespace": namespace, "template_name": "small", "parameters": {"NAME": "x", "MEMORY": 2}})
            crossed = await s.call_tool("vm_create_from_template", {
                "namespace": namespace, "template_name": "elsewhere", "parameters": {"NAME": "x"}})
    finally:
        kubectl("delete", "namespace", other, "--wait=false")
    assert missing.is_error and "NAME" in text(missing), text(missing)
    assert typed.is_error and 'parameter "MEMORY" value must be a string, got number' in text(typed), text(typed)
    assert crossed.is_error and "not found" in text(crossed), text(crossed)
    assert get("virtualmachines", namespace) == []


async def test_vm_create_from_template_without_virt_template_says_to_install_it(namespace):
    vm_template(namespace)
    served = json.loads(kubectl("get", "apiservice", "v1beta1.subresources.template.kubevirt.io", "-o", "json"))
    kubectl("delete", "apiservice", "v1beta1.subresources.template.kubevirt.io")
    try:
        async with session("stdio", *KUBEVIRT) as s:
            got = await s.call_tool("vm_create_from_template", {
                "namespace": namespace, "template_name": "small", "parameters": {"NAME": "x"}})
    finally:
        for key in ("resourceVersion", "uid", "creationTimestamp", "managedFields"):
            served["metadata"].pop(key, None)
        served.pop("status", None)
        kubectl("create", "-f", "-", stdin=json.dumps(served))
        eventually("virt-template's API is served again", lambda: "True" in kubectl(
            "get", "apiservice", "v1beta1.subresources.template.kubevirt.io", "-o", "jsonpath={.status.conditions[0].status}"))
    assert got.is_error, text(got)
    assert "does not serve virt-template's API (subresources.template.kubevirt.io/v1beta1); install virt-template" in text(got)


async def test_vm_guest_info_needs_a_running_vmi(namespace):
    vm(namespace)
    async with session("stdio", *KUBEVIRT) as s:
        no_vmi = await s.call_tool("vm_guest_info", {"namespace": namespace, "name": "web"})
        # KubeVirt's VMI CRD has no status subresource: virt-handler writes status with the object.
        create({"apiVersion": "kubevirt.io/v1", "kind": "VirtualMachineInstance",
                "metadata": {"name": "web", "namespace": namespace},
                "spec": {"domain": {"devices": {}, "memory": {"guest": "1Gi"}}}, "status": {"phase": "Running"}})
        # No virt-api serves subresources.kubevirt.io here: every guest agent query fails.
        no_agent = await s.call_tool("vm_guest_info", {"namespace": namespace, "name": "web", "info_type": "os"})
    assert no_vmi.is_error and "VirtualMachineInstance" in text(no_vmi), text(no_vmi)
    assert no_agent.is_error and "guest agent is not responding" in text(no_agent), text(no_agent)


async def test_vm_troubleshoot_reports_what_virt_controller_wrote(namespace):
    user_data = "#cloud-config\nruncmd:\n- echo booted\n- shutdown -h now\npassword: hunter2\n"
    vm(namespace, nodeSelector={"kubernetes.io/hostname": "node-7"},
       volumes=[{"name": "root", "containerDisk": {"image": "quay.io/containerdisks/fedora:latest"}},
                {"name": "ci", "cloudInitNoCloud": {"userData": user_data}}])
    set_status("virtualmachine", namespace, "web", {"printableStatus": "CrashLoopBackOff", "conditions": [
        {"type": "Ready", "status": "False", "reason": "VMINotExists", "message": "VMI does not exist"}]})
    async with session("stdio", *KUBEVIRT) as s:
        got = await s.call_tool("vm_troubleshoot", {"namespace": namespace, "name": "web"})
    report = text(got)
    assert not got.is_error, report
    assert report.startswith(f"# VirtualMachine Diagnostic Report: {namespace}/web\n\n## Detected Issues\n"), report[:300]
    for finding in ("**WARNING**: VM condition Ready=False with reason VMINotExists",
                    "**CRITICAL**: VM is in CrashLoopBackOff state",
                    '**CRITICAL**: cloud-init userData runs "shutdown"',
                    "**WARNING**: VM is pinned to a specific node via nodeSelector (kubernetes.io/hostname=node-7)",
                    "## Suggested Fixes", f"## VirtualMachine Status: {namespace}/web",
                    "*No virt-launcher pod found"):
        assert finding in report, finding
    assert "echo booted" not in report, "an echo is not a shutdown"
    assert "hunter2" not in report, "cloud-init bodies are not shown"


async def test_hco_status_prompt_reports_the_hyperconverged_its_components_and_warnings(namespace):
    async with session("stdio", *KUBEVIRT) as s:
        listed = {p.name: p for p in (await s.list_prompts()).prompts}
        with pytest.raises(MCPError, match=r"HyperConverged Cluster Operator is not installed \(no HyperConverged CR found\)"):
            await s.get_prompt("hco-status", {})
    assert not listed["hco-status"].arguments
    rbac = listed["hco-status"].meta["io.kubernetes-mcp-server/rbac"]["bounded"]["requirements"]
    assert {r["target"]["resource"]["resource"] for r in rbac} == \
        {"hyperconvergeds", "kubevirts", "cdis", "networkaddonsconfigs", "events"}

    create({"apiVersion": "hco.kubevirt.io/v1", "kind": "HyperConverged",
            "metadata": {"name": "kubevirt-hyperconverged", "namespace": namespace},
            "spec": {"featureGates": [{"name": "template", "state": "Enabled"}]}})
    set_status("hyperconverged", namespace, "kubevirt-hyperconverged", {
        "conditions": [{"type": "Degraded", "status": "True", "reason": "CDIDegraded", "message": "CDI is degraded",
                        "lastTransitionTime": "2026-12-04T10:00:00Z"}],
        "versions": [{"name": "operator", "version": "1.17.0"}]})
    create({"apiVersion": "kubevirt.io/v1", "kind": "KubeVirt", "metadata": {"name": "kubevirt", "namespace": namespace},
            "spec": {}})
    set_status("kubevirt", namespace, "kubevirt", {"phase": "Deployed", "conditions": [
        {"type": "Available", "status": "True", "reason": "AllComponentsReady", "message": "All components are ready."}]})
    cdi = f"cdi-{namespace}"
    create({"apiVersion": "cdi.kubevirt.io/v1beta1", "kind": "CDI", "metadata": {"name": cdi}, "spec": {},
            "status": {"phase": "Deploying"}})
    create({"apiVersion": "v1", "kind": "Event", "metadata": {"name": "hco.degraded", "namespace": namespace},
            "involvedObject": {"apiVersion": "hco.kubevirt.io/v1", "kind": "HyperConverged",
                               "name": "kubevirt-hyperconverged", "namespace": namespace},
            "type": "Warning", "reason": "Degraded", "message": "CDI is degraded ", "count": 1,
            "firstTimestamp": "2026-12-04T10:00:00Z", "lastTimestamp": "2026-12-04T10:00:00Z"})
    create({"apiVersion": "v1", "kind": "Event", "metadata": {"name": "hco.normal", "namespace": namespace},
            "involvedObject": {"kind": "HyperConverged", "name": "kubevirt-hyperconverged", "namespace": namespace},
            "type": "Normal", "reason": "Reconciled", "message": "all good"})
    try:
        async with session("stdio", *KUBEVIRT) as s:
            got = await s.get_prompt("hco-status", {})
    finally:
        kubectl("delete", "cdi", cdi, "--wait=false")
    user, assistant = got.messages
    report = user.content.text
    assert f"## HCO: kubevirt-hyperconverged (namespace: {namespace})" in report
    assert "### HCO Conditions\n\n```yaml\n" in report and "reason: CDIDegraded" in report
    assert "### Component Versions\n\n```yaml\n- name: operator\n  version: \"1.17.0\"\n```" in report
    assert "### Feature Gates\n\n```yaml\n- name: template\n  state: Enabled\n```" in report
    # The CRD's defaults, as the apiserver stored them.
    assert "### Virtualization Configuration\n\n```yaml\nhigherWorkloadDensity:\n" in report
    assert "  completionTimeoutPerGiB: 20\n" in report
    # KubeVirt: its conditions; CDI: no conditions, so its whole status; no NetworkAddonsConfig.
    assert f"### KubeVirt: {namespace}/kubevirt\n\n```yaml\n- message: All components are ready." in report
    assert f"### CDI: /{cdi}\n\n```yaml\nphase: Deploying\n```" in report
    assert "### NetworkAddonsConfig\n\n*NetworkAddonsConfig CR not found*" in report
    # Warnings only, in the Go server's event form.
    events = report.split(f"### Warning Events in {namespace} namespace\n\n", 1)[1]
    assert events.startswith("```yaml\n- InvolvedObject:\n    Kind: HyperConverged\n"), events
    assert "Message: CDI is degraded\n" in events and "Timestamp: 2026-12-04 10:00:00 +0000 UTC\n" in events
    assert "all good" not in report
    assert assistant.content.text.startswith("I'll analyze the HyperConverged Cluster Operator status report")


async def test_vm_troubleshoot_prompt_gathers_the_vm_its_launcher_pod_log_and_events(namespace, tmp_path):
    vm(namespace, volumes=[{"name": "root", "containerDisk": {"image": "quay.io/containerdisks/fedora:latest"}},
                           {"name": "init", "cloudInitNoCloud": {"userData": "#cloud-config\npassword: hunter2\n"}}])
    set_status("virtualmachine", namespace, "web", {"printableStatus": "Starting", "ready": False})
    for name, kind, involved in [("vm.warn", "VirtualMachine", "web"), ("pod.warn", "Pod", "virt-launcher-web-x1y2z"),
                                 ("other.warn", "Pod", "other")]:
        create({"apiVersion": "v1", "kind": "Event", "metadata": {"name": name, "namespace": namespace},
                "involvedObject": {"kind": kind, "name": involved, "namespace": namespace},
                "type": "Warning", "reason": "Probe", "message": f"about {involved}"})
    launcher = "virt-launcher-web-x1y2z"
    with pod_runner(namespace, tmp_path / "pod-runner.log"):
        kubectl("apply", "-f", "-", stdin=json.dumps({
            "apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": launcher, "namespace": namespace,
                         "labels": {"kubevirt.io": "virt-launcher", "vm.kubevirt.io/name": "web"}},
            "spec": {"containers": [{"name": "compute", "image": "registry.invalid/shell:1", "command": [
                "sh", "-c", 'for i in $(seq 1 60); do echo "qemu line $i"; done; exec sleep 3600']}]}}))
        eventually("the launcher has written its lines", lambda: "qemu line 60" in kubectl(
            "logs", launcher, "-n", namespace))
        try:
            async with session("stdio", *KUBEVIRT) as s:
                listed = {p.name: p for p in (await s.list_prompts()).prompts}
                got = await s.get_prompt("vm-troubleshoot", {"namespace": namespace, "name": "web"})
                with pytest.raises(MCPError, match="name argument is required"):
                    await s.get_prompt("vm-troubleshoot", {"namespace": namespace})
        finally:
            kubectl("delete", "pods", "--all", "-n", namespace, "--wait=true", "--timeout=60s")
    assert [(a.name, a.required) for a in listed["vm-troubleshoot"].arguments] == [("namespace", True), ("name", True)]
    user, assistant = got.messages
    guide = user.content.text
    assert f"## VM: web (namespace: {namespace})" in guide
    assert f"### VirtualMachine Status: {namespace}/web\n\n```yaml\n" in guide and "printableStatus: Starting" in guide
    assert "*VirtualMachineInstance not found or error:" in guide
    assert f"### Configured Volumes (from VirtualMachine: {namespace}/web)" in guide
    assert "hunter2" not in guide and "not shown: may hold credentials" in guide
    assert f"#### {launcher}\n\n```yaml\n" in guide and "vm.kubevirt.io/name: web" in guide
    # The compute container's last 50 lines, read from the pod runner's kubelet API.
    log = guide.split(f"#### Pod: {launcher}\n\n**Container: compute**\n\n```\n", 1)[1].split("```", 1)[0]
    assert log.strip().splitlines() == [f"qemu line {i}" for i in range(11, 61)], log
    events = guide.split("### Events (related to web)\n\n", 1)[1].split("---", 1)[0]
    assert "about web" in events and f"about {launcher}" in events and "about other" not in events
    assert "Kind: VirtualMachine" in events
    assert assistant.content.text.startswith("I'll analyze the collected data")


GO_SERVER = Path(os.environ.get("KMCP_NODE_MODULES", "")) / "kubernetes-mcp-server-linux-amd64" / "bin" / "kubernetes-mcp-server-linux-amd64"


async def windows_golden_image(command, arguments, answer=None):
    """`windows-golden-image` from `command` over stdio, asked by a client that answers the
    EULA question with `answer` (None: a client without elicitation): (result or the error's
    message, the questions asked)."""
    asked = []

    async def elicit(context, params):
        asked.append(params.message)
        return types.ElicitResult(action=answer, content={} if answer == "accept" else None)

    params = StdioServerParameters(command=str(command), args=list(KUBEVIRT), env=dict(os.environ))
    async with stdio_client(params, errlog=open(os.devnull, "w")) as (read, write):
        async with ClientSession(read, write, elicitation_callback=elicit if answer else None) as s:
            await s.initialize()
            try:
                return await s.get_prompt("windows-golden-image", arguments), asked
            except MCPError as e:
                return str(e), asked


def yaml_blocks(text):
    """The text with its ```yaml blocks taken out, and the blocks parsed."""
    parts = text.split("```yaml\n")
    blocks = [yaml.safe_load(part.split("```", 1)[0]) for part in parts[1:]]
    return [parts[0]] + [part.split("```", 1)[1] for part in parts[1:]], blocks


async def listed_prompts(command):
    """`prompts/list` of `command` with the kubevirt toolset, over stdio, as plain data."""
    params = StdioServerParameters(command=str(command), args=list(KUBEVIRT), env=dict(os.environ))
    async with stdio_client(params, errlog=open(os.devnull, "w")) as (read, write):
        async with ClientSession(read, write) as s:
            await s.initialize()
            return [p.model_dump(by_alias=True, exclude_none=True) for p in (await s.list_prompts()).prompts]


async def test_the_kubevirt_prompts_are_listed_as_the_go_binary_lists_them():
    ours, go = await listed_prompts(SERVER), await listed_prompts(GO_SERVER)
    assert [p["name"] for p in ours] == ["hco-status", "vm-troubleshoot", "windows-golden-image"]
    assert ours == go


async def test_windows_golden_image_answers_as_go_does_and_asks_for_the_eula():
    url = "https://example.com/win.iso"
    # Without elicitation: the same guide as the Go binary's (the YAML compared parsed), the
    # same refusals.
    for arguments in ({"winImageDownloadURL": url, "namespace": "images", "pipelineVersion": "0.25.0"},
                      {"winImageDownloadURL": url, "windowsVersion": "10"},
                      {"winImageDownloadURL": "http://example.com/win.iso"},
                      {"winImageDownloadURL": "https://user:secret@example.com/win.iso"},
                      {"winImageDownloadURL": url, "pipelineVersion": "1.2"},
                      {"winImageDownloadURL": url, "windowsVersion": "7"},
                      {}):
        ours, _ = await windows_golden_image(SERVER, arguments)
        go, _ = await windows_golden_image(GO_SERVER, arguments)
        if isinstance(go, str):
            assert go == ours, arguments
            continue
        assert ours.description == go.description
        assert [m.role for m in ours.messages] == [m.role for m in go.messages] == ["user", "assistant"]
        for mine, theirs in zip(ours.messages, go.messages):
            assert yaml_blocks(mine.content.text) == yaml_blocks(theirs.content.text), arguments
    fallback, _ = await windows_golden_image(SERVER, {"winImageDownloadURL": url})
    [run] = yaml_blocks(fallback.messages[0].content.text)[1]
    assert run["spec"]["params"][1] == {"name": "acceptEula", "value": "false"}

    # With elicitation (which the Go binary fails with this SDK): accept gives the run with the
    # EULA accepted, decline nothing.
    accepted, asked = await windows_golden_image(SERVER, {"winImageDownloadURL": url}, "accept")
    assert asked and "Microsoft End User License Agreement" in asked[0]
    [message] = accepted.messages
    assert "The user has accepted the Microsoft EULA." in message.content.text
    [run] = yaml_blocks(message.content.text)[1]
    assert run["spec"]["params"][1] == {"name": "acceptEula", "value": "true"}
    assert run["metadata"] == {"generateName": "windows2k22-installer-run-"}
    declined, asked = await windows_golden_image(SERVER, {"winImageDownloadURL": url}, "decline")
    assert len(asked) == 1 and [m.role for m in declined.messages] == ["assistant"]
    assert "cancelled" in declined.messages[0].content.text and "```yaml" not in declined.messages[0].content.text
