"""Spans that reached the stack's OpenTelemetry Collector, read back from its file exporter (one
OTLP/JSON object per line). Each span gets `attrs` and `resource` as plain dicts. Used by the MCP
client tests and the demo (the Rust harness has the same in `collector.rs`)."""

import json
import os


def _plain(attributes):
    return {a["key"]: next(iter(a["value"].values())) for a in attributes or []}


def spans_of(service, output=None):
    """Every span the collector wrote (to `output`, default the stack's collector file) for
    resource `service.name` = `service`."""
    found = []
    with open(output or os.environ["COLLECTOR_OUTPUT"]) as f:
        for line in f:
            try:
                data = json.loads(line)
            except json.JSONDecodeError:
                continue  # the last line may still be being written
            for rs in data.get("resourceSpans", []):
                resource = _plain(rs.get("resource", {}).get("attributes"))
                if resource.get("service.name") != service:
                    continue
                for ss in rs.get("scopeSpans", []):
                    for span in ss.get("spans", []):
                        span["attrs"] = _plain(span.get("attributes"))
                        span["resource"] = resource
                        found.append(span)
    return found
