"""shared/spec/telemetry.md against the real OpenTelemetry Collector and the real Prometheus:
span names, attributes, parents and status over streamable HTTP, SSE and stdio, over OTLP gRPC
and HTTP; samplers; the enabled switch; /stats, /metrics, promtool and a Prometheus scrape
configured by prometheus-operator from a ServiceMonitor."""

import os
import subprocess
import time
import uuid

import httpx2 as httpx
import pytest
from mcp import ClientSession
from mcp.client.sse import sse_client
from mcp.client.streamable_http import streamable_http_client
from mcp.shared.exceptions import MCPError

from collector import metrics_of, spans_of
from support.net import free_port, make_certificate
from support.otel import ExtraCollector
from support.server import HttpServer, session
from support.stack import prometheus, scraped_pod

pytestmark = pytest.mark.anyio

TRACE_ID = "0af7651916cd43dd8448eb211c80319c"
CALLER_SPAN = "b7ad6b7169203331"


def env_for(service, **extra):
    env = dict(os.environ)
    env.update({"OTEL_SERVICE_NAME": service, "OTEL_BSP_SCHEDULE_DELAY": "50",
                "OTEL_EXPORTER_OTLP_ENDPOINT": os.environ["OTLP_GRPC_ENDPOINT"], "OTEL_METRICS_EXPORTER": "none"})
    env.update(extra)
    return env


def wait_for_spans(service, predicate, count=1, seconds=15):
    deadline = time.time() + seconds
    while time.time() < deadline:
        matching = [s for s in spans_of(service) if predicate(s)]
        if len(matching) >= count:
            return matching
        time.sleep(0.1)
    raise AssertionError(f"{count} span(s) for {service} not found; have {[s['name'] for s in spans_of(service)]}")


def tool_span(name):
    return lambda s: s["name"] == f"tools/call {name}"


async def test_http_tool_spans_are_children_of_the_http_span_under_the_callers_trace():
    service = f"http-{uuid.uuid4().hex[:8]}"
    env = env_for(service, KUBERNETES_POD_NAME="pod-a", KUBERNETES_NAMESPACE="ns-a", KUBERNETES_NODE_NAME="node-a",
                  OTEL_RESOURCE_ATTRIBUTES="deployment.environment=test,service.name=from-attributes")
    # spans_of(service) finds them only if OTEL_SERVICE_NAME beats the attributes' service.name.
    with HttpServer(env=env) as server:
        headers = {"traceparent": f"00-{TRACE_ID}-{CALLER_SPAN}-01"}
        async with httpx.AsyncClient(headers=headers, timeout=30) as http:
            async with streamable_http_client(server.url + "/mcp", http_client=http) as streams:
                async with ClientSession(streams[0], streams[1]) as s:
                    await s.initialize()
                    assert not (await s.call_tool("namespaces_list", {})).is_error
                    assert (await s.call_tool("pods_get", {"name": "absent", "namespace": "default"})).is_error
    ok = wait_for_spans(service, tool_span("namespaces_list"))[0]
    failed = wait_for_spans(service, tool_span("pods_get"))[0]
    assert ok["attrs"] == {"mcp.method.name": "tools/call", "gen_ai.tool.name": "namespaces_list",
                           "gen_ai.operation.name": "execute_tool", "rpc.jsonrpc.version": "2.0", "network.transport": "tcp"}
    assert ok["status"].get("code") == 1
    assert failed["attrs"]["error.type"] == "tool_error" and failed["status"]["code"] == 2
    http_spans = {s["spanId"]: s for s in spans_of(service) if s["name"] == "POST /mcp"}
    for span in (ok, failed):
        assert span["traceId"] == TRACE_ID
        parent = http_spans[span["parentSpanId"]]
        assert parent["parentSpanId"] == CALLER_SPAN
        # The HTTP span lasts until its streamed answer is sent: the tool call lies inside it.
        assert int(parent["startTimeUnixNano"]) <= int(span["startTimeUnixNano"])
        assert int(span["endTimeUnixNano"]) <= int(parent["endTimeUnixNano"])
        assert parent["attrs"]["http.request.method"] == "POST" and parent["attrs"]["url.path"] == "/mcp"
        assert parent["attrs"]["http.response.status_code"] in (200, "200")
        assert parent["attrs"]["url.scheme"] == "http" and parent["attrs"]["network.protocol.name"] == "http"
    resource = ok["resource"]
    assert resource["k8s.pod.name"] == "pod-a" and resource["k8s.namespace.name"] == "ns-a" and resource["k8s.node.name"] == "node-a"
    assert resource["deployment.environment"] == "test" and resource["service.version"]
    assert resource["host.name"] and resource["process.pid"] and resource["os.type"] == "linux"
    assert not [s for s in spans_of(service) if s["name"].endswith("/healthz")]


async def test_sse_tool_spans_are_children_of_the_post_message_span():
    service = f"sse-{uuid.uuid4().hex[:8]}"
    with HttpServer(env=env_for(service)) as server:
        async with sse_client(server.url + "/sse") as streams:
            async with ClientSession(streams[0], streams[1]) as s:
                await s.initialize()
                await s.call_tool("namespaces_list", {})
    span = wait_for_spans(service, tool_span("namespaces_list"))[0]
    posts = {s["spanId"]: s for s in spans_of(service) if s["name"] == "POST /message"}
    assert span["parentSpanId"] in posts and span["attrs"]["network.transport"] == "tcp"


@pytest.mark.parametrize("protocol", ["grpc", "http/protobuf"])
async def test_stdio_spans_over_both_protocols_follow_meta_traceparent(protocol):
    service = f"stdio-{uuid.uuid4().hex[:8]}"
    endpoint = os.environ["OTLP_GRPC_ENDPOINT"] if protocol == "grpc" else os.environ["OTLP_HTTP_ENDPOINT"]
    env = env_for(service, OTEL_EXPORTER_OTLP_PROTOCOL=protocol, OTEL_EXPORTER_OTLP_ENDPOINT=endpoint)
    async with session("stdio", env=env) as s:
        result = await s.call_tool("namespaces_list", {}, meta={"traceparent": f"00-{TRACE_ID}-{CALLER_SPAN}-01"})
        assert not result.is_error
    span = wait_for_spans(service, tool_span("namespaces_list"))[0]
    assert span["attrs"]["network.transport"] == "pipe"
    assert span["traceId"] == TRACE_ID and span["parentSpanId"] == CALLER_SPAN


async def test_unknown_tools_are_other_errors_under_one_label():
    service = f"unknown-{uuid.uuid4().hex[:8]}"
    with HttpServer(env=env_for(service)) as server:
        async with streamable_http_client(server.url + "/mcp") as streams:
            async with ClientSession(streams[0], streams[1]) as s:
                await s.initialize()
                with pytest.raises(MCPError, match="unknown tool"):
                    await s.call_tool("no_such_tool", {})
        stats = httpx.get(server.url + "/stats").json()
        metrics = httpx.get(server.url + "/metrics").text
    span = wait_for_spans(service, tool_span("_unknown"))[0]
    assert span["attrs"]["error.type"] == "_OTHER" and span["status"]["code"] == 2
    assert stats["tool_errors_by_name"] == {"_unknown": 1}
    assert 'k8s_mcp_tool_errors_total{tool_name="_unknown"} 1' in metrics


@pytest.mark.parametrize("sampler_env", [{"OTEL_TRACES_SAMPLER": "always_off"}, {}], ids=["always_off", "enabled_false"])
async def test_nothing_is_exported_when_sampling_or_telemetry_is_off(sampler_env, tmp_path):
    service = f"off-{uuid.uuid4().hex[:8]}"
    args = []
    if not sampler_env:
        config = tmp_path / "c.toml"
        config.write_text(f'[telemetry]\nenabled = false\nendpoint = "{os.environ["OTLP_GRPC_ENDPOINT"]}"\n')
        args = ["--config", str(config)]
    async with session("stdio", *args, env=env_for(service, **sampler_env)) as s:
        for _ in range(5):
            await s.call_tool("namespaces_list", {})
    # A marker service proves the collector pipeline was live during the same window.
    marker = f"marker-{uuid.uuid4().hex[:8]}"
    async with session("stdio", env=env_for(marker)) as s:
        await s.call_tool("namespaces_list", {})
    wait_for_spans(marker, tool_span("namespaces_list"))
    assert spans_of(service) == []


async def test_traceidratio_samples_about_the_ratio():
    service = f"ratio-{uuid.uuid4().hex[:8]}"
    env = env_for(service, OTEL_TRACES_SAMPLER="traceidratio", OTEL_TRACES_SAMPLER_ARG="0.1")
    calls = 1000
    async with session("stdio", env=env) as s:
        for _ in range(calls):
            await s.call_tool("namespaces_list", {})
    time.sleep(1)
    sampled = len([s for s in spans_of(service) if s["name"] == "tools/call namespaces_list"])
    assert 50 <= sampled <= 150, sampled


@pytest.mark.parametrize("flag,expected", [("01", 1), ("00", 0)], ids=["sampled-parent", "unsampled-parent"])
async def test_parentbased_sampler_follows_the_incoming_decision(flag, expected):
    service = f"parent-{uuid.uuid4().hex[:8]}"
    env = env_for(service, OTEL_TRACES_SAMPLER="parentbased_always_on")
    trace = uuid.uuid4().hex
    async with session("stdio", env=env) as s:
        await s.call_tool("namespaces_list", {}, meta={"traceparent": f"00-{trace}-{CALLER_SPAN}-{flag}"})
    marker = f"marker-{uuid.uuid4().hex[:8]}"
    async with session("stdio", env=env_for(marker)) as s:
        await s.call_tool("namespaces_list", {})
    wait_for_spans(marker, tool_span("namespaces_list"))
    assert len([s for s in spans_of(service) if s["traceId"] == trace]) == expected


async def test_a_collector_that_is_down_never_fails_a_call():
    service = f"down-{uuid.uuid4().hex[:8]}"
    env = env_for(service, OTEL_EXPORTER_OTLP_ENDPOINT="http://127.0.0.1:1")
    async with session("stdio", env=env) as s:
        for _ in range(20):
            assert not (await s.call_tool("namespaces_list", {})).is_error


async def test_an_unreachable_collector_is_one_warning_not_an_error_per_batch():
    env = env_for(f"down-{uuid.uuid4().hex[:8]}", OTEL_EXPORTER_OTLP_ENDPOINT="http://127.0.0.1:1")
    with HttpServer(env=env) as server:
        async with streamable_http_client(server.url + "/mcp") as streams:
            async with ClientSession(streams[0], streams[1]) as s:
                await s.initialize()
                for _ in range(5):
                    assert not (await s.call_tool("namespaces_list", {})).is_error
                    time.sleep(0.3)  # a batch (50 ms schedule) fails between calls
        assert server.stop() == 0
        log = "".join(server.stderr_lines) + server.process.stderr.read()
    assert log.count("OTLP span export failing") == 1, log
    assert "ERROR" not in log, log


async def test_stats_and_metrics_count_tools_only_and_promtool_accepts_them():
    with HttpServer() as server:
        async with streamable_http_client(server.url + "/mcp") as streams:
            async with ClientSession(streams[0], streams[1]) as s:
                await s.initialize()
                await s.list_tools()
                await s.call_tool("namespaces_list", {})
                await s.call_tool("namespaces_list", {})
                await s.call_tool("pods_get", {"name": "absent", "namespace": "default"})
        stats = httpx.get(server.url + "/stats").json()
        classic = httpx.get(server.url + "/metrics")
        openmetrics = httpx.get(server.url + "/metrics", headers={"accept": "application/openmetrics-text;version=1.0.0"})
    assert stats["tool_calls_by_name"] == {"namespaces_list": 2, "pods_get": 1}
    assert stats["total_tool_calls"] == 3 and stats["tool_call_errors"] == 1
    assert stats["tool_errors_by_name"] == {"pods_get": 1}
    assert stats["http_requests_by_path"]["/mcp"] >= 5 and "/healthz" not in stats["http_requests_by_path"]
    assert set(stats) >= {"uptime_seconds", "start_time_unix", "http_requests_by_method", "http_requests_by_status"}
    assert classic.headers["content-type"].startswith("text/plain; version=0.0.4")
    assert 'k8s_mcp_tool_calls_total{tool_name="namespaces_list"} 2' in classic.text
    assert "otel_scope" not in classic.text
    check = subprocess.run(["promtool", "check", "metrics"], input=classic.text, capture_output=True, text=True)
    assert check.returncode == 0, check.stdout + check.stderr
    assert openmetrics.headers["content-type"].startswith("application/openmetrics-text")
    from prometheus_client.openmetrics.parser import text_string_to_metric_families
    families = {f.name: f for f in text_string_to_metric_families(openmetrics.text)}
    assert families["k8s_mcp_tool_calls"].samples[0].value in (1, 2)


async def test_prometheus_scrapes_the_server_through_a_servicemonitor(namespace):
    """The real path: ServiceMonitor -> prometheus-operator -> Prometheus (Kubernetes SD) ->
    Endpoints -> the server on its pod IP."""
    ip = scraped_pod(namespace)
    with HttpServer(bind=ip, port=8080) as server:
        async with streamable_http_client(server.url + "/mcp") as streams:
            async with ClientSession(streams[0], streams[1]) as s:
                await s.initialize()
                for _ in range(3):
                    await s.call_tool("namespaces_list", {})
        query = f'k8s_mcp_tool_calls_total{{namespace="{namespace}",job="mcp",tool_name="namespaces_list"}}'
        deadline = time.time() + 40
        value = None
        while time.time() < deadline:
            result = prometheus(query)
            if result:
                value = float(result[0]["value"][1])
                if value == 3:
                    break
            time.sleep(0.5)
        up = prometheus(f'up{{namespace="{namespace}",job="mcp"}}')
        stats = httpx.get(server.url + "/stats").json()
    assert up and up[0]["value"][1] == "1", up
    assert value == stats["tool_calls_by_name"]["namespaces_list"] == 3


async def test_otlp_metrics_reach_the_collector():
    service = f"metrics-{uuid.uuid4().hex[:8]}"
    env = env_for(service, OTEL_METRICS_EXPORTER="otlp", OTEL_METRIC_EXPORT_INTERVAL="200")
    async with session("stdio", env=env) as s:
        await s.call_tool("namespaces_list", {})
        deadline = time.time() + 15
        found = None
        while time.time() < deadline and found is None:
            found = tool_calls_exported(service)
            time.sleep(0.2)
    assert found == {"namespaces_list": 1}, found


def tool_calls_exported(service):
    """The latest exported k8s_mcp_tool_calls data points of `service`, by tool, or None."""
    latest = None
    for metric in metrics_of(service):
        if metric["name"] == "k8s_mcp_tool_calls":
            latest = {next(a["value"]["stringValue"] for a in p["attributes"] if a["key"] == "tool_name"): int(p["asInt"])
                      for p in metric["sum"]["dataPoints"]}
    return latest


async def test_otlp_metrics_are_the_families_labels_and_buckets_of_metrics():
    """What the collector receives is what /metrics shows: the same metric names, types, help,
    units, label names and values, histogram buckets and counts (shared/spec/telemetry.md)."""
    service = f"parity-{uuid.uuid4().hex[:8]}"
    env = env_for(service, OTEL_METRICS_EXPORTER="otlp", OTEL_METRIC_EXPORT_INTERVAL="200",
                  OTEL_RESOURCE_ATTRIBUTES="service.name=from-attributes")  # OTEL_SERVICE_NAME wins
    with HttpServer(env=env) as server:
        async with streamable_http_client(server.url + "/mcp") as streams:
            async with ClientSession(streams[0], streams[1]) as s:
                await s.initialize()
                await s.call_tool("namespaces_list", {})
                await s.call_tool("namespaces_list", {})
                assert (await s.call_tool("pods_get", {"name": "absent", "namespace": "default"})).is_error
        shown = httpx.get(server.url + "/metrics", headers={"accept": "application/openmetrics-text;version=1.0.0"}).text
        from prometheus_client.openmetrics.parser import text_string_to_metric_families
        prometheus = {f.name: f for f in text_string_to_metric_families(shown)}
        kinds = {"counter": "sum", "histogram": "histogram", "gauge": "gauge"}
        deadline = time.time() + 15
        while time.time() < deadline:
            exported = latest_metrics(service)
            differ = [name for name, family in prometheus.items() if name not in exported
                      or points_of(exported[name].get(kinds[family.type], {}).get("dataPoints", [])) != samples_of(family)]
            if not differ:
                break
            time.sleep(0.2)
    assert sorted(exported) == sorted(prometheus)
    assert not differ, [(name, exported.get(name), samples_of(prometheus[name])) for name in differ]
    for name, family in prometheus.items():
        assert exported[name].get("description") == family.documentation, name
        assert exported[name].get("unit", "") == {"seconds": "s", "": ""}[family.unit], name
    # The contract's five, spans and log lines dropped, open sessions by transport.
    assert len(prometheus) == 8 and samples_of(prometheus["k8s_mcp_tool_errors"]) == {(frozenset({("tool_name", "pods_get")}), 1.0)}

    [histogram] = [p for p in exported["k8s_mcp_tool_duration_seconds"]["histogram"]["dataPoints"]
                   if attributes(p) == {"tool_name": "namespaces_list"}]
    buckets = [s for s in prometheus["k8s_mcp_tool_duration_seconds"].samples
               if s.name.endswith("_bucket") and s.labels["tool_name"] == "namespaces_list"]
    assert [float(b) for b in histogram["explicitBounds"]] == [float(s.labels["le"]) for s in buckets[:-1]]
    cumulative = [sum(int(c) for c in histogram["bucketCounts"][:i + 1]) for i in range(len(buckets))]
    assert cumulative == [s.value for s in buckets]
    assert samples_of(prometheus["k8s_mcp_open_sessions"]) == {
        (frozenset({("transport", "streamable_http")}), 0.0), (frozenset({("transport", "sse")}), 0.0)}
    [info] = exported["k8s_mcp_server_info"]["gauge"]["dataPoints"]
    assert set(attributes(info)) == {"version", "rust_version"}


def latest_metrics(service):
    """The last export of each metric of `service`, by name."""
    return {m["name"]: m for m in metrics_of(service)}


def attributes(point):
    return {a["key"]: next(iter(a["value"].values())) for a in point.get("attributes", [])}


def points_of(points):
    """Label sets and values of OTLP data points (counts for histograms); the scrape of /metrics
    itself is counted after the text was rendered, so it is left out on both sides."""
    return {(frozenset(attributes(p).items()), float(p.get("asInt", p.get("asDouble", p.get("count", 0)))))
            for p in points if attributes(p).get("url_path") != "/metrics"}


def samples_of(family):
    return {(frozenset(s.labels.items()), s.value) for s in family.samples
            if s.labels.get("url_path") != "/metrics" and s.name in (family.name, family.name + "_total", family.name + "_count")}


async def test_verbose_logs_say_tracing_is_initialized(tmp_path):
    log = tmp_path / "server.log"
    async with session("stdio", "--log-level", "2", "--log-file", str(log), env=env_for(f"log-{uuid.uuid4().hex[:8]}")) as s:
        await s.call_tool("namespaces_list", {})
    assert "OpenTelemetry tracing initialized successfully" in log.read_text()


def test_metrics_port_serves_metrics_and_stats_apart_from_mcp():
    metrics_port = free_port()
    with HttpServer("--metrics-port", str(metrics_port)) as server:
        side = f"http://127.0.0.1:{metrics_port}"
        assert httpx.get(side + "/healthz").text == "ok"
        assert "k8s_mcp_server_info" in httpx.get(side + "/metrics").text
        assert "total_tool_calls" in httpx.get(side + "/stats").json()
        assert httpx.get(server.url + "/metrics").status_code == 404


async def test_spans_arrive_once_a_collector_that_was_down_comes_up(tmp_path):
    service = f"late-{uuid.uuid4().hex[:8]}"
    port = free_port()
    env = env_for(service, OTEL_EXPORTER_OTLP_ENDPOINT=f"http://127.0.0.1:{port}")
    async with session("stdio", env=env) as s:
        for _ in range(3):
            assert not (await s.call_tool("namespaces_list", {})).is_error
        collector = ExtraCollector(tmp_path, port)
        try:
            deadline = time.time() + 30
            while time.time() < deadline and not collector.spans(service):
                assert not (await s.call_tool("namespaces_list", {})).is_error
                time.sleep(0.2)
            assert collector.spans(service), "no span arrived after the collector started"
        finally:
            collector.stop()


@pytest.fixture
def collector_certificate(tmp_path):
    return make_certificate(tmp_path, "127.0.0.1")


async def tls_spans(tmp_path, certificate, protocol, **tls_env):
    """Spans a stdio server sent to a TLS collector speaking `protocol`, with `tls_env` set."""
    ca, cert, key = certificate
    port = free_port()
    collector = ExtraCollector(tmp_path, port, tls=(cert, key), protocol=protocol)
    service = f"tls-{uuid.uuid4().hex[:8]}"
    env = env_for(service, OTEL_EXPORTER_OTLP_ENDPOINT=f"https://127.0.0.1:{port}",
                  OTEL_EXPORTER_OTLP_PROTOCOL="grpc" if protocol == "grpc" else "http/protobuf",
                  **{k: str(v).replace("{ca}", str(ca)) for k, v in tls_env.items()})
    try:
        time.sleep(0.3)
        async with session("stdio", env=env) as s:
            assert not (await s.call_tool("namespaces_list", {})).is_error
        return [s["name"] for s in collector.wait_for_spans(service, seconds=8)]
    finally:
        collector.stop()


@pytest.mark.parametrize("protocol", ["grpc", "http"])
async def test_spans_over_tls_with_a_ca_file(tmp_path, collector_certificate, protocol):
    assert await tls_spans(tmp_path, collector_certificate, protocol,
                           OTEL_EXPORTER_OTLP_CERTIFICATE="{ca}") == ["tools/call namespaces_list"]


@pytest.mark.parametrize("protocol", ["grpc", "http"])
async def test_an_untrusted_collector_gets_nothing_unless_verification_is_off(tmp_path, collector_certificate, protocol):
    assert await tls_spans(tmp_path, collector_certificate, protocol) == []
    assert await tls_spans(tmp_path, collector_certificate, protocol,
                           OTEL_EXPORTER_OTLP_INSECURE="true") == ["tools/call namespaces_list"]


async def test_spans_beyond_the_queue_bound_are_dropped_and_counted_and_calls_still_succeed():
    """A collector that accepts connections and never answers: exports hang until their
    timeout, the 4-span queue fills, and the rest are dropped and counted in /metrics."""
    import socket
    hole = socket.socket()
    hole.bind(("127.0.0.1", 0))
    hole.listen(64)
    service = f"drop-{uuid.uuid4().hex[:8]}"
    env = env_for(service, OTEL_EXPORTER_OTLP_ENDPOINT=f"http://127.0.0.1:{hole.getsockname()[1]}",
                  OTEL_BSP_MAX_QUEUE_SIZE="4")
    try:
        with HttpServer(env=env) as server:
            async with streamable_http_client(server.url + "/mcp") as streams:
                async with ClientSession(streams[0], streams[1]) as s:
                    await s.initialize()
                    for _ in range(30):
                        assert not (await s.call_tool("namespaces_list", {})).is_error
            http_spans = sum(httpx.get(server.url + "/stats").json()["http_requests_by_path"].values()) + 1
            metrics = httpx.get(server.url + "/metrics").text
    finally:
        hole.close()
    dropped = next(float(line.split()[-1]) for line in metrics.splitlines()
                   if line.startswith("k8s_mcp_spans_dropped_total "))
    # 30 tool spans and the HTTP spans ended; at most 4 queued plus one batch of 4 in flight.
    assert 30 + http_spans - 8 <= dropped <= 30 + http_spans, metrics
