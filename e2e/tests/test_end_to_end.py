"""End to end on real components: the operator (its real binary) reconciles the samples of
config/samples/; the pod runner (e2e/stack/pod_runner.py, playing kubelet and CNI) runs the pods
the ReplicaSets make, each in its own network namespace with in-cluster credentials from the
TokenRequest API; a service proxy (playing kube-proxy) makes the Service reachable; real clients
(the Python MCP SDK, the MCP Inspector CLI) call the server through it; the collector receives
the spans and Prometheus, configured by prometheus-operator from the ServiceMonitor the operator
made, scrapes every replica."""

import contextlib
import os
import subprocess
import time
import uuid

import httpx2 as httpx
import pytest

from collector import spans_of
from support.cluster import FAST_EXPORT, mcp_session, sample, telemetry
from support.net import free_port, make_certificate
from support.otel import ExtraCollector
from support.server import inspector, text
from support.stack import NODE_IP, kubectl, pid_of, prometheus
from support.wait import eventually

pytestmark = pytest.mark.anyio

async def test_minimal_sample_serves_is_traced_scraped_rolls_on_change_and_is_removed(cluster):
    trace_id, caller = uuid.uuid4().hex, uuid.uuid4().hex[:16]
    service = f"e2e-minimal-{uuid.uuid4().hex[:6]}"
    spec = sample("minimal.yaml")["spec"]
    spec.update(telemetry=telemetry(service, resourceAttributes={"deployment.environment": "e2e"}),
                metrics={"serviceMonitor": {"enabled": True, "interval": "2s"}}, env=FAST_EXPORT)
    cluster.apply("minimal", spec)
    mcp = cluster.ready("minimal")
    # (4) Ready with the Service's URL, for the generation it saw.
    assert mcp["status"]["url"] == f"http://minimal.{cluster.ns}.svc:8080/mcp"
    assert mcp["status"]["readyReplicas"] == 1
    [pod] = cluster.ready_pods("minimal", 1)
    pod_name = pod["metadata"]["name"]

    calls = 0
    with cluster.service("minimal") as url:
        # (1) Results reflect the cluster; outside its namespace real RBAC denies the server.
        headers = {"traceparent": f"00-{trace_id}-{caller}-01"}
        async with mcp_session(url, headers=headers) as s:
            own = await s.call_tool("pods_list_in_namespace", {"namespace": cluster.ns})
            assert not own.is_error and pod_name in text(own)
            denied = await s.call_tool("pods_list_in_namespace", {"namespace": "default"})
            assert denied.is_error and "forbidden" in text(denied).lower()
            calls += 2
        async with mcp_session(url, transport="sse") as s:
            got = await s.call_tool("pods_get", {"name": pod_name, "namespace": cluster.ns})
            assert not got.is_error and pod["status"]["podIP"] in text(got)
            calls += 1
        listed = inspector(url, "--method", "tools/list")
        assert "pods_list_in_namespace" in [t["name"] for t in listed["tools"]]
        called = inspector(url, "--method", "tools/call", "--tool-name", "pods_list_in_namespace",
                           "--tool-arg", f"namespace={cluster.ns}")
        assert pod_name in called["content"][0]["text"]
        calls += 1

        # (2) The spans carry the real Pod's identity and the McpServer's attributes, under the
        # client's trace.
        def traced():
            found = [s for s in spans_of(service) if s["name"].startswith("tools/call") and s["traceId"] == trace_id]
            return found if len(found) == 2 else None
        for span in eventually("the tool spans under the client's trace", traced, seconds=20):
            resource = span["resource"]
            assert resource["k8s.pod.name"] == pod_name
            assert resource["k8s.namespace.name"] == cluster.ns
            assert resource["k8s.node.name"] == pod["spec"]["nodeName"]
            assert resource["deployment.environment"] == "e2e"

        # (3) Prometheus, configured by prometheus-operator from the operator's ServiceMonitor,
        # scrapes the pod, and its counter matches the calls made.
        selector = f'job="minimal",namespace="{cluster.ns}"'
        up = eventually("up == 1", lambda: prometheus(f"up{{{selector}}} == 1"), seconds=90)
        assert [r["metric"]["pod"] for r in up] == [pod_name]
        eventually(f"k8s_mcp_tool_calls_total == {calls}", lambda: prometheus(
            f"sum(k8s_mcp_tool_calls_total{{{selector}}}) == {calls}"), seconds=60)

        # (5) Sampling off: the pods roll (new names) and no span follows.
        spec["telemetry"]["tracesSampler"] = "always_off"
        cluster.apply("minimal", spec)
        assert cluster.ready("minimal")["metadata"]["generation"] == 2
        [rolled] = eventually("a new pod", lambda: [
            p for p in cluster.ready_pods("minimal", 1) if p["metadata"]["name"] != pod_name] or None)
        eventually("the old pod gone", lambda: pod_name not in [p["metadata"]["name"] for p in cluster.pods("minimal")])
        silent_trace = uuid.uuid4().hex
        async with mcp_session(url, headers={"traceparent": f"00-{silent_trace}-{caller}-01"}) as s:
            assert not (await s.call_tool("pods_list_in_namespace", {"namespace": cluster.ns})).is_error
        async with mcp_session(url) as s:
            assert not (await s.call_tool("pods_list_in_namespace", {"namespace": cluster.ns})).is_error
        time.sleep(2)  # twenty export intervals of the pod's batch processor
        assert [s for s in spans_of(service) if s["resource"].get("k8s.pod.name") == rolled["metadata"]["name"]] == []

    # (7) Deleting the McpServer removes the children, the pods and their processes.
    pid = pid_of(rolled)
    kubectl("delete", "mcpserver", "minimal", "-n", cluster.ns, "--wait=true", "--timeout=60s")
    eventually("the children gone", lambda: not cluster.get(
        "deployments,services,configmaps,serviceaccounts,rolebindings",
        selector="app.kubernetes.io/instance=minimal")["items"] or None)
    eventually("the pods gone", lambda: not cluster.get("pods")["items"] or None)
    eventually("the process gone", lambda: not os.path.exists(f"/proc/{pid}") or None)


async def test_two_stateless_replicas_share_the_calls_and_are_both_scraped(cluster):
    """The observed sample (2 replicas, read/write in team-a and team-b, a ServiceMonitor)."""
    for ns in ("team-a", "team-b"):
        with contextlib.suppress(AssertionError, subprocess.CalledProcessError):
            kubectl("create", "namespace", ns)
    spec = sample("observed.yaml")["spec"]
    spec["telemetry"] = telemetry(f"e2e-observed-{uuid.uuid4().hex[:6]}")
    spec["metrics"]["serviceMonitor"]["interval"] = "2s"
    cluster.apply("observed", spec)
    cluster.ready("observed")
    pods = cluster.ready_pods("observed", 2)
    with cluster.service("observed") as url:
        # kube-proxy picks an endpoint per connection at random, and every new client is a new
        # connection: 20 clients all on one of two pods would happen once in half a million runs.
        for _ in range(20):
            async with mcp_session(url) as s:
                allowed = await s.call_tool("pods_list_in_namespace", {"namespace": "team-a"})
                assert not allowed.is_error, text(allowed)
        async with mcp_session(url) as s:
            own = await s.call_tool("pods_list_in_namespace", {"namespace": cluster.ns})
            assert own.is_error and "forbidden" in text(own).lower()
    per_pod = {p["metadata"]["name"]: httpx.get(f"http://{p['status']['podIP']}:9090/stats").json()["total_tool_calls"]
               for p in pods}
    assert sum(per_pod.values()) == 21 and all(per_pod.values()), per_pod
    selector = f'job="observed",namespace="{cluster.ns}"'
    up = eventually("both replicas up", lambda: len(prometheus(f"up{{{selector}}} == 1")) == 2, seconds=90)
    assert up
    eventually("the scraped counters add up to the calls", lambda: prometheus(
        f"sum(k8s_mcp_tool_calls_total{{{selector}}}) == 21"), seconds=60)


async def test_a_cluster_reader_reads_everywhere_and_its_cluster_rbac_goes_with_it(cluster):
    spec = sample("cluster-reader.yaml")["spec"]
    cluster.apply("cluster-reader", spec)
    cluster.ready("cluster-reader")
    cluster.ready_pods("cluster-reader", 1)
    with cluster.service("cluster-reader") as url:
        async with mcp_session(url) as s:
            names = [t.name for t in (await s.list_tools()).tools]
            assert "pods_delete" not in names and "helm_list" not in names
            listed = await s.call_tool("namespaces_list", {})
            assert not listed.is_error and "kube-system" in text(listed)
            elsewhere = await s.call_tool("pods_list_in_namespace", {"namespace": "kube-system"})
            assert not elsewhere.is_error, text(elsewhere)
    binding = f"kubernetes-mcp-{cluster.ns}-cluster-reader:kubernetes-mcp-read"
    assert kubectl("get", "clusterrolebinding", binding, "-o", "name").strip()
    kubectl("delete", "mcpserver", "cluster-reader", "-n", cluster.ns, "--wait=true", "--timeout=60s")
    assert kubectl("get", "clusterrolebinding", binding, "--ignore-not-found", "-o", "name").strip() == ""


async def test_telemetry_over_tls_verified_with_the_ca_secret(cluster, tmp_path):
    """The tls-collector sample: the CA bundle travels Secret -> volume -> OTEL_EXPORTER_OTLP_CERTIFICATE."""
    ca, cert, key = make_certificate(tmp_path, NODE_IP)
    port = free_port()
    collector = ExtraCollector(tmp_path, port, tls=(cert, key), host="0.0.0.0")
    try:
        kubectl("create", "secret", "generic", "otel-ca", "-n", cluster.ns, f"--from-file=ca.crt={ca}")
        service = f"e2e-tls-{uuid.uuid4().hex[:6]}"
        spec = sample("tls-collector.yaml")["spec"]
        spec["telemetry"].update(endpoint=f"https://{NODE_IP}:{port}", serviceName=service)
        spec["env"] = FAST_EXPORT
        cluster.apply("tls-collector", spec)
        cluster.ready("tls-collector")
        [pod] = cluster.ready_pods("tls-collector", 1)
        with cluster.service("tls-collector") as url:
            async with mcp_session(url) as s:
                assert not (await s.call_tool("pods_list_in_namespace", {"namespace": cluster.ns})).is_error
        [span] = eventually("the tool span at the TLS collector", lambda: [
            s for s in collector.spans(service) if s["name"] == "tools/call pods_list_in_namespace"])
        assert span["resource"]["k8s.pod.name"] == pod["metadata"]["name"]
    finally:
        collector.stop()
