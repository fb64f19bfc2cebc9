"""Spans and metrics that reached the stack's OpenTelemetry Collector, read back from its file
exporter (one OTLP/JSON object per line). The one reader of that file for the Python suite and the
demo; Rust tests read it with the harness's `collector.rs`. Does file I/O."""

import json
import os


def _plain(attributes):
    return {a["key"]: next(iter(a["value"].values())) for a in attributes or []}


def _resources(kind, service, output):
    """(resource attributes, item) for every `kind` item ("resourceSpans" or "resourceMetrics")
    whose resource has `service.name` = `service`, in file order."""
    with open(output or os.environ["COLLECTOR_OUTPUT"]) as f:
        for line in f:
            try:
                data = json.loads(line)
            except json.JSONDecodeError:
                continue  # the last line may still be being written
            for item in data.get(kind, []):
                resource = _plain(item.get("resource", {}).get("attributes"))
                if resource.get("service.name") == service:
                    yield resource, item


def spans_of(service, output=None):
    """Every span the collector wrote (to `output`, default the stack's collector file) for
    resource `service.name` = `service`, with `attrs` and `resource` as plain dicts."""
    found = []
    for resource, rs in _resources("resourceSpans", service, output):
        for ss in rs.get("scopeSpans", []):
            for span in ss.get("spans", []):
                span["attrs"] = _plain(span.get("attributes"))
                span["resource"] = resource
                found.append(span)
    return found


def metrics_of(service, output=None):
    """Every metric the collector wrote for `service.name` = `service`, as OTLP/JSON, in the
    order exported (a later export of the same metric comes after an earlier one)."""
    return [metric for _, rm in _resources("resourceMetrics", service, output)
            for sm in rm.get("scopeMetrics", []) for metric in sm.get("metrics", [])]
