"""The tekton toolset through the official MCP SDK against Tekton's real CRDs in the test
apiserver: the start and restart tools create the runs Tekton's controller would pick up (checked
as the apiserver stored them, so the CRDs' schemas accepted them), cancel sets `spec.status`, and
the log tools read the pod a TaskRun's status names through the stack's kubelet API (the status
is written here, as Tekton's controller would; the pod is conftest's `talker`)."""

import pytest

from support.server import session, text
from support.third_party import create, get, install_crds, set_status

pytestmark = pytest.mark.anyio

TEKTON = ("--toolsets", "tekton")


@pytest.fixture(scope="module", autouse=True)
def tekton_crds():
    install_crds()


def pipeline(namespace, name="build"):
    return create({"apiVersion": "tekton.dev/v1", "kind": "Pipeline",
                   "metadata": {"name": name, "namespace": namespace},
                   "spec": {"params": [{"name": "a"}, {"name": "b", "type": "array"}],
                            "tasks": [{"name": "compile", "taskSpec": {"steps": [
                                {"name": "make", "image": "registry.invalid/make:1", "script": "make"}]}}]}})


def task(namespace, name="lint"):
    return create({"apiVersion": "tekton.dev/v1", "kind": "Task",
                   "metadata": {"name": name, "namespace": namespace},
                   "spec": {"steps": [{"name": "run", "image": "registry.invalid/lint:1", "script": "lint"}]}})


async def test_pipeline_start_creates_a_pipelinerun_with_its_params(namespace):
    pipeline(namespace)
    async with session("stdio", *TEKTON) as s:
        got = await s.call_tool("tekton_pipeline_start", {
            "name": "build", "namespace": namespace,
            "params": {"a": "x", "b": ["1", "2"], "c": {"k": "v"}}})
        missing = await s.call_tool("tekton_pipeline_start", {"name": "nope", "namespace": namespace})
        bad = await s.call_tool("tekton_pipeline_start", {"name": "build", "namespace": namespace,
                                                          "params": {"a": 1}})
    assert not got.is_error, text(got)
    [run] = get("pipelineruns", namespace)
    assert text(got) == f"Pipeline 'build' started as PipelineRun '{run['metadata']['name']}' in namespace '{namespace}'"
    assert run["metadata"]["generateName"] == "build-"
    assert run["spec"]["pipelineRef"] == {"name": "build"}
    assert {p["name"]: p["value"] for p in run["spec"]["params"]} == {"a": "x", "b": ["1", "2"], "c": {"k": "v"}}
    assert missing.is_error and f"failed to get Pipeline {namespace}/nope" in text(missing), text(missing)
    assert bad.is_error and 'param "a"' in text(bad), text(bad)
    assert len(get("pipelineruns", namespace)) == 1


async def test_task_start_creates_a_taskrun(namespace):
    task(namespace)
    async with session("stdio", *TEKTON) as s:
        got = await s.call_tool("tekton_task_start", {"name": "lint", "namespace": namespace})
    assert not got.is_error, text(got)
    [run] = get("taskruns", namespace)
    assert text(got) == f"Task 'lint' started as TaskRun '{run['metadata']['name']}' in namespace '{namespace}'"
    assert run["spec"]["taskRef"] == {"name": "lint"} and "params" not in run["spec"]


async def test_pipelinerun_cancel_and_restart(namespace):
    pipeline(namespace)
    create({"apiVersion": "tekton.dev/v1", "kind": "PipelineRun",
            "metadata": {"name": "build-1", "namespace": namespace},
            "spec": {"pipelineRef": {"name": "build"}, "params": [{"name": "a", "value": "x"}],
                     "timeouts": {"pipeline": "1h0m0s"}}})
    async with session("stdio", *TEKTON) as s:
        cancel = await s.call_tool("tekton_pipelinerun_lifecycle",
                                   {"name": "build-1", "namespace": namespace, "action": "cancel"})
        restart = await s.call_tool("tekton_pipelinerun_lifecycle",
                                    {"name": "build-1", "namespace": namespace, "action": "restart"})
        wrong = await s.call_tool("tekton_pipelinerun_lifecycle",
                                  {"name": "build-1", "namespace": namespace, "action": "pause"})
    assert text(cancel) == f"PipelineRun 'build-1' cancelled in namespace '{namespace}'"
    original = get("pipelinerun", namespace, "build-1")
    assert original["spec"]["status"] == "Cancelled"
    assert not restart.is_error, text(restart)
    [new] = [r for r in get("pipelineruns", namespace) if r["metadata"]["name"] != "build-1"]
    assert text(restart) == f"PipelineRun 'build-1' restarted as '{new['metadata']['name']}' in namespace '{namespace}'"
    # The same spec, without the cancellation, named like the original.
    assert new["metadata"]["generateName"] == "build-1-"
    assert "status" not in new["spec"]
    assert {k: v for k, v in original["spec"].items() if k != "status"} == new["spec"]
    assert wrong.is_error and "invalid action" in text(wrong), text(wrong)


async def test_taskrun_restart_keeps_the_generate_name(namespace):
    task(namespace)
    create({"apiVersion": "tekton.dev/v1", "kind": "TaskRun",
            "metadata": {"generateName": "lint-run-", "namespace": namespace},
            "spec": {"taskRef": {"name": "lint"}}})
    [first] = get("taskruns", namespace)
    async with session("stdio", *TEKTON) as s:
        got = await s.call_tool("tekton_taskrun_restart", {"name": first["metadata"]["name"], "namespace": namespace})
    assert not got.is_error, text(got)
    runs = get("taskruns", namespace)
    assert len(runs) == 2 and all(r["metadata"]["generateName"] == "lint-run-" for r in runs)
    assert all(r["spec"] == first["spec"] for r in runs)


async def test_taskrun_and_pipelinerun_logs_read_the_pod_the_status_names(talker):
    namespace, pod = talker
    pipeline(namespace)
    create({"apiVersion": "tekton.dev/v1", "kind": "PipelineRun",
            "metadata": {"name": "build-1", "namespace": namespace},
            "spec": {"pipelineRef": {"name": "build"}}})
    create({"apiVersion": "tekton.dev/v1", "kind": "TaskRun",
            "metadata": {"name": "build-1-compile", "namespace": namespace,
                         "labels": {"tekton.dev/pipelineRun": "build-1", "tekton.dev/pipelineTask": "compile"}},
            "spec": {"taskRef": {"name": "compile"}}})
    create({"apiVersion": "tekton.dev/v1", "kind": "TaskRun",
            "metadata": {"name": "pending", "namespace": namespace}, "spec": {"taskRef": {"name": "compile"}}})
    # What Tekton's controller writes once the TaskRun's pod runs: the talker's container `main`.
    set_status("taskrun", namespace, "build-1-compile",
               {"podName": pod, "steps": [{"name": "make", "container": "main"}]})
    async with session("stdio", *TEKTON) as s:
        step = await s.call_tool("tekton_taskrun_logs", {"name": "build-1-compile", "namespace": namespace, "tail": 3})
        other_step = await s.call_tool("tekton_taskrun_logs", {"name": "build-1-compile", "namespace": namespace,
                                                               "step": "nope"})
        pending = await s.call_tool("tekton_taskrun_logs", {"name": "pending", "namespace": namespace})
        run = await s.call_tool("tekton_pipelinerun_logs", {"name": "build-1", "namespace": namespace, "tail": 2})
        no_task = await s.call_tool("tekton_pipelinerun_logs", {"name": "build-1", "namespace": namespace,
                                                                "task": "deploy"})
    assert text(step) == "[step: make]\nline 49\nline 50\nto stderr\n\n", text(step)
    assert text(other_step) == f"No logs available for TaskRun 'build-1-compile' in namespace '{namespace}'"
    assert text(pending) == f"TaskRun 'pending' in namespace '{namespace}' has not started a pod yet\n"
    assert text(run) == "# TaskRun: build-1-compile\n[step: make]\nline 50\nto stderr\n\n", text(run)
    assert text(no_task) == (f"No TaskRuns found for PipelineRun 'build-1' in namespace '{namespace}'"
                             " matching pipeline task 'deploy'")


async def test_pipeline_troubleshoot_prompt_gathers_the_run_its_failed_step_logs_and_warnings(talker):
    namespace, pod = talker
    pipeline(namespace)
    create({"apiVersion": "tekton.dev/v1", "kind": "PipelineRun",
            "metadata": {"name": "build-1", "namespace": namespace}, "spec": {"pipelineRef": {"name": "build"}}})
    set_status("pipelinerun", namespace, "build-1", {"conditions": [
        {"type": "Succeeded", "status": "False", "reason": "Failed", "message": "Tasks Completed: 1 (Failed: 1)"}]})
    create({"apiVersion": "tekton.dev/v1", "kind": "TaskRun",
            "metadata": {"name": "build-1-compile", "namespace": namespace, "labels": {"tekton.dev/pipelineRun": "build-1"}},
            "spec": {"taskRef": {"name": "compile"}}})
    set_status("taskrun", namespace, "build-1-compile", {"podName": pod, "steps": [
        {"name": "make", "container": "main", "terminated": {"exitCode": 2, "reason": "Error"}}]})
    create({"apiVersion": "v1", "kind": "Event", "metadata": {"name": "build-1.failed", "namespace": namespace},
            "involvedObject": {"kind": "PipelineRun", "name": "build-1", "namespace": namespace},
            "type": "Warning", "reason": "Failed", "message": "compile failed"})
    async with session("stdio", *TEKTON) as s:
        listed = {p.name: p for p in (await s.list_prompts()).prompts}
        got = await s.get_prompt("pipeline-troubleshoot", {"namespace": namespace, "name": "build-1"})
    prompt = listed["pipeline-troubleshoot"]
    assert [(a.name, a.required) for a in prompt.arguments] == [("namespace", True), ("name", True)]
    user, assistant = got.messages
    body = user.content.text
    assert f"## PipelineRun: {namespace}/build-1" in body and "**Current status hint:** Failed" in body
    # The referenced Pipeline, the TaskRun's status, the failed step's real log and the warning.
    assert "name: compile" in body and "### TaskRun: build-1-compile" in body
    assert "[step: make]\n" in body and "line 50" in body
    assert "compile failed" in body
    assert "*No Pipeline-as-Code Repository resources found*" not in body  # its CRD is not installed
    assert assistant.content.text == "I'll analyze the collected Tekton data to identify the PipelineRun issue."
