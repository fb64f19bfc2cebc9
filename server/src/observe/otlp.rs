//! The `k8s_mcp_*` metrics as OTLP instruments, so that a collector receives what `/metrics`
//! shows: the same names (Prometheus adds `_total` to counters, OTLP carries the unit `s` of
//! the duration beside its name), help texts, histogram buckets and labels, from the
//! declarations of `metrics.rs`. Recording is in memory; the SDK's periodic reader exports.

use std::time::Duration;

use opentelemetry::KeyValue;
use opentelemetry::metrics::{Counter, Histogram, Meter};

use super::metrics::{
    DURATION_BUCKETS, Describe, HTTP_REQUESTS, LOG_LINES_DROPPED, OPEN_SESSIONS, SERVER_INFO,
    SPANS_DROPPED, TOOL_CALLS, TOOL_DURATION, TOOL_ERRORS, server_info,
};
use super::sessions::OpenSessions;

pub struct OtlpMetrics {
    tool_calls: Counter<u64>,
    tool_errors: Counter<u64>,
    tool_duration: Histogram<f64>,
    http_requests: Counter<u64>,
}

impl OtlpMetrics {
    /// The instruments on `meter`; `spans_dropped` (counted by the span queue), the log lines
    /// dropped, the open `sessions` and the constant `server_info` are read at each export.
    pub fn new(
        meter: &Meter,
        spans_dropped: prometheus_client::metrics::counter::Counter,
        sessions: OpenSessions,
    ) -> Self {
        let counter = |describe: &Describe| {
            meter
                .u64_counter(describe.name)
                .with_description(sentence(describe))
                .build()
        };
        meter
            .u64_observable_counter(SPANS_DROPPED.name)
            .with_description(sentence(&SPANS_DROPPED))
            .with_callback(move |observer| observer.observe(spans_dropped.get(), &[]))
            .build();
        let log_lines_dropped = kubernetes_mcp_otel::log_lines_dropped();
        meter
            .u64_observable_counter(LOG_LINES_DROPPED.name)
            .with_description(sentence(&LOG_LINES_DROPPED))
            .with_callback(move |observer| observer.observe(log_lines_dropped.get(), &[]))
            .build();
        meter
            .u64_observable_gauge(OPEN_SESSIONS.name)
            .with_description(sentence(&OPEN_SESSIONS))
            .with_callback(move |observer| {
                for (transport, open) in sessions.now() {
                    observer.observe(open, &[KeyValue::new("transport", transport)]);
                }
            })
            .build();
        let info: Vec<KeyValue> = server_info()
            .into_iter()
            .map(|(key, value)| KeyValue::new(key, value))
            .collect();
        meter
            .u64_observable_gauge(SERVER_INFO.name)
            .with_description(sentence(&SERVER_INFO))
            .with_callback(move |observer| observer.observe(1, &info))
            .build();
        Self {
            tool_calls: counter(&TOOL_CALLS),
            tool_errors: counter(&TOOL_ERRORS),
            tool_duration: meter
                .f64_histogram(format!("{}_seconds", TOOL_DURATION.name))
                .with_unit("s")
                .with_description(sentence(&TOOL_DURATION))
                .with_boundaries(DURATION_BUCKETS.to_vec())
                .build(),
            http_requests: counter(&HTTP_REQUESTS),
        }
    }

    /// Counts a tool call and its duration under `tool` (a tool name or `_unknown`).
    pub fn tool_call(&self, tool: &str, elapsed: Duration, failed: bool) {
        let labels = [KeyValue::new("tool_name", tool.to_owned())];
        self.tool_calls.add(1, &labels);
        self.tool_duration.record(elapsed.as_secs_f64(), &labels);
        if failed {
            self.tool_errors.add(1, &labels);
        }
    }

    /// Counts an HTTP request under its route-bounded method and path.
    pub fn http_request(&self, method: &str, path: &str, status_class: &str) {
        self.http_requests.add(
            1,
            &[
                KeyValue::new("http_request_method", method.to_owned()),
                KeyValue::new("url_path", path.to_owned()),
                KeyValue::new("http_response_status_class", status_class.to_owned()),
            ],
        );
    }
}

/// The help text as prometheus-client writes it (it appends a full stop), so that both
/// expositions describe a metric with the same words.
fn sentence(describe: &Describe) -> String {
    format!("{}.", describe.help)
}
