//! Spans (and metrics) that reached the real OpenTelemetry Collector, read back from its file
//! exporter: one OTLP/JSON object per line. Does file I/O.

use std::collections::BTreeMap;
use std::path::PathBuf;

use serde_json::Value;

use crate::{HarnessError, Result, eventually};

/// One span as the collector wrote it, with its resource's attributes beside its own.
#[derive(Debug, Clone, PartialEq)]
pub struct Span {
    pub name: String,
    /// Lowercase hex, as the file exporter writes it.
    pub trace_id: String,
    pub span_id: String,
    /// Empty for a root span.
    pub parent_span_id: String,
    /// OTLP `SpanKind` number (1 internal, 2 server, 3 client …).
    pub kind: i64,
    /// OTLP status code: 0 unset, 1 ok, 2 error.
    pub status_code: i64,
    pub start_unix_nano: u64,
    pub end_unix_nano: u64,
    pub attributes: BTreeMap<String, Value>,
    pub resource: BTreeMap<String, Value>,
    pub scope: String,
}

impl Span {
    pub fn attr(&self, key: &str) -> Option<&Value> {
        self.attributes.get(key)
    }

    pub fn attr_str(&self, key: &str) -> Option<&str> {
        self.attributes.get(key).and_then(Value::as_str)
    }

    pub fn resource_str(&self, key: &str) -> Option<&str> {
        self.resource.get(key).and_then(Value::as_str)
    }
}

/// The collector's output file.
#[derive(Debug, Clone)]
pub struct Collector {
    output: PathBuf,
}

impl Collector {
    pub fn new(output: PathBuf) -> Self {
        Self { output }
    }

    /// Every span in the file so far.
    pub fn spans(&self) -> Result<Vec<Span>> {
        Ok(self.lines()?.iter().flat_map(spans_of).collect())
    }

    /// Every metric data line (`resourceMetrics` objects) so far, raw.
    pub fn metric_lines(&self) -> Result<Vec<Value>> {
        Ok(self
            .lines()?
            .into_iter()
            .filter(|line| line.get("resourceMetrics").is_some())
            .collect())
    }

    /// Waits until at least `count` spans match `filter`, and returns all that match.
    pub async fn wait_for_spans(
        &self,
        what: &str,
        count: usize,
        seconds: u64,
        filter: impl Fn(&Span) -> bool,
    ) -> Result<Vec<Span>> {
        eventually(what, seconds, || async {
            let found: Vec<Span> = self
                .spans()
                .ok()?
                .into_iter()
                .filter(|s| filter(s))
                .collect();
            (found.len() >= count).then_some(found)
        })
        .await
    }

    fn lines(&self) -> Result<Vec<Value>> {
        let text = match std::fs::read_to_string(&self.output) {
            Ok(text) => text,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => String::new(),
            Err(source) => {
                return Err(HarnessError::Io {
                    what: format!("reading {}", self.output.display()),
                    source,
                });
            }
        };
        // The last line may still be being written: skip what does not parse yet.
        Ok(text
            .lines()
            .filter_map(|line| serde_json::from_str(line).ok())
            .collect())
    }
}

fn spans_of(line: &Value) -> Vec<Span> {
    let mut out = Vec::new();
    for resource_spans in array(line, "resourceSpans") {
        let resource = attributes(resource_spans.pointer("/resource/attributes"));
        for scope_spans in array(resource_spans, "scopeSpans") {
            let scope = scope_spans
                .pointer("/scope/name")
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_owned();
            for span in array(scope_spans, "spans") {
                out.push(Span {
                    name: string(span, "name"),
                    trace_id: string(span, "traceId"),
                    span_id: string(span, "spanId"),
                    parent_span_id: string(span, "parentSpanId"),
                    kind: span.get("kind").and_then(Value::as_i64).unwrap_or_default(),
                    status_code: span
                        .pointer("/status/code")
                        .and_then(Value::as_i64)
                        .unwrap_or_default(),
                    start_unix_nano: number_string(span, "startTimeUnixNano"),
                    end_unix_nano: number_string(span, "endTimeUnixNano"),
                    attributes: attributes(span.get("attributes")),
                    resource: resource.clone(),
                    scope: scope.clone(),
                });
            }
        }
    }
    out
}

fn array<'a>(value: &'a Value, key: &str) -> &'a [Value] {
    value
        .get(key)
        .and_then(Value::as_array)
        .map_or(&[], Vec::as_slice)
}

fn string(value: &Value, key: &str) -> String {
    value
        .get(key)
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_owned()
}

fn number_string(value: &Value, key: &str) -> u64 {
    value
        .get(key)
        .and_then(Value::as_str)
        .and_then(|s| s.parse().ok())
        .unwrap_or_default()
}

/// OTLP/JSON `[{key, value: {stringValue | intValue | …}}]` → `{key: plain JSON value}`.
fn attributes(list: Option<&Value>) -> BTreeMap<String, Value> {
    list.and_then(Value::as_array)
        .map(|list| {
            list.iter()
                .filter_map(|kv| {
                    Some((
                        kv.get("key")?.as_str()?.to_owned(),
                        any_value(kv.get("value")?),
                    ))
                })
                .collect()
        })
        .unwrap_or_default()
}

fn any_value(value: &Value) -> Value {
    if let Some(v) = value.get("stringValue") {
        return v.clone();
    }
    if let Some(v) = value.get("intValue") {
        // Int64 travels as a JSON string in OTLP/JSON.
        return v
            .as_str()
            .and_then(|s| s.parse::<i64>().ok())
            .map_or_else(|| v.clone(), Value::from);
    }
    if let Some(v) = value.get("boolValue").or_else(|| value.get("doubleValue")) {
        return v.clone();
    }
    if let Some(values) = value
        .pointer("/arrayValue/values")
        .and_then(Value::as_array)
    {
        return Value::Array(values.iter().map(any_value).collect());
    }
    value.clone()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flattens_otlp_json_lines() {
        let line: Value = serde_json::from_str(
            r#"{"resourceSpans":[{"resource":{"attributes":[{"key":"service.name","value":{"stringValue":"svc"}}]},
            "scopeSpans":[{"scope":{"name":"lib"},"spans":[{"traceId":"aa","spanId":"bb","parentSpanId":"cc",
            "name":"tools/call x","kind":2,"startTimeUnixNano":"10","endTimeUnixNano":"25",
            "attributes":[{"key":"n","value":{"intValue":"2"}},{"key":"ok","value":{"boolValue":true}}],
            "status":{"code":2}}]}]}]}"#,
        )
        .unwrap();
        let spans = spans_of(&line);
        assert_eq!(spans.len(), 1);
        let span = &spans[0];
        assert_eq!(span.name, "tools/call x");
        assert_eq!(span.parent_span_id, "cc");
        assert_eq!(span.kind, 2);
        assert_eq!(span.status_code, 2);
        assert_eq!(span.end_unix_nano - span.start_unix_nano, 15);
        assert_eq!(span.attr("n"), Some(&Value::from(2)));
        assert_eq!(span.attr("ok"), Some(&Value::from(true)));
        assert_eq!(span.resource_str("service.name"), Some("svc"));
        assert_eq!(span.scope, "lib");
    }
}
