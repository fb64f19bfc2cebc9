//! The Prometheus metrics of shared/spec/telemetry.md (`k8s_mcp_*`), in a prometheus-client
//! registry, rendered as OpenMetrics when the scraper asks for it and as the classic text format
//! otherwise. Their names, help texts, buckets and `server_info` labels are declared once here,
//! for `otlp.rs` to export the same set. Pure apart from atomic counters.

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::{Registry, Unit};

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ToolLabels {
    pub tool_name: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct HttpLabels {
    pub http_request_method: String,
    pub url_path: String,
    pub http_response_status_class: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct TransportLabels {
    pub transport: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct InfoLabels {
    version: String,
    rust_version: String,
}

/// The name (as OTLP carries it; Prometheus appends `_total` to counters) and help text of a
/// metric.
pub struct Describe {
    pub name: &'static str,
    pub help: &'static str,
}

impl Describe {
    const fn new(name: &'static str, help: &'static str) -> Self {
        Self { name, help }
    }
}

pub const TOOL_CALLS: Describe = Describe::new("k8s_mcp_tool_calls", "Tool calls, by tool");
pub const TOOL_ERRORS: Describe =
    Describe::new("k8s_mcp_tool_errors", "Tool calls that failed, by tool");
/// Without its unit: the registry appends `_seconds`, OTLP carries the unit `s` beside the name.
pub const TOOL_DURATION: Describe = Describe::new(
    "k8s_mcp_tool_duration",
    "Duration of tool calls in seconds, by tool",
);
pub const HTTP_REQUESTS: Describe = Describe::new(
    "k8s_mcp_http_requests",
    "HTTP requests, by method, path and status class",
);
pub const SPANS_DROPPED: Describe = Describe::new(
    "k8s_mcp_spans_dropped",
    "Spans dropped because the export queue was full or their export failed",
);
pub const LOG_LINES_DROPPED: Describe = Describe::new(
    "k8s_mcp_log_lines_dropped",
    "Log lines dropped because their writer (stderr, the log file) was not keeping up",
);
pub const OPEN_SESSIONS: Describe = Describe::new(
    "k8s_mcp_open_sessions",
    "Open MCP sessions, by transport (streamable_http, sse)",
);
pub const SERVER_INFO: Describe = Describe::new("k8s_mcp_server_info", "Server version and build");

/// Seconds, from half a millisecond (a cached read) to ten seconds (a slow list).
pub const DURATION_BUCKETS: [f64; 14] = [
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];

/// The labels of `k8s_mcp_server_info`: this server's version and the compiler that built it.
pub fn server_info() -> [(&'static str, &'static str); 2] {
    [
        ("version", crate::VERSION),
        ("rust_version", env!("KMCP_RUSTC_VERSION")),
    ]
}

pub struct Metrics {
    registry: Registry,
    pub tool_calls: Family<ToolLabels, Counter>,
    pub tool_errors: Family<ToolLabels, Counter>,
    pub tool_duration: Family<ToolLabels, Histogram>,
    pub http_requests: Family<HttpLabels, Counter>,
    /// Spans dropped because the export queue was full (a slow collector) or their export
    /// failed (an absent one).
    pub spans_dropped: Counter,
    /// Set from the transports' own counts when the metrics are rendered.
    pub open_sessions: Family<TransportLabels, Gauge>,
}

/// The OpenMetrics content type, served when the scraper's Accept header asks for it.
pub const OPENMETRICS: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";
/// The classic Prometheus text format, served otherwise.
pub const PROMETHEUS_TEXT: &str = "text/plain; version=0.0.4; charset=utf-8";

impl Metrics {
    pub fn new() -> Self {
        let mut registry = Registry::default();
        let tool_calls = Family::<ToolLabels, Counter>::default();
        let tool_errors = Family::<ToolLabels, Counter>::default();
        let tool_duration = Family::<ToolLabels, Histogram>::new_with_constructor(|| {
            Histogram::new(DURATION_BUCKETS)
        });
        let http_requests = Family::<HttpLabels, Counter>::default();
        let info = Family::<InfoLabels, Gauge>::default();
        let spans_dropped = Counter::default();
        let open_sessions = Family::<TransportLabels, Gauge>::default();
        // prometheus-client appends `_total` to counters itself.
        registry.register(TOOL_CALLS.name, TOOL_CALLS.help, tool_calls.clone());
        registry.register(TOOL_ERRORS.name, TOOL_ERRORS.help, tool_errors.clone());
        registry.register_with_unit(
            TOOL_DURATION.name,
            TOOL_DURATION.help,
            Unit::Seconds,
            tool_duration.clone(),
        );
        registry.register(
            HTTP_REQUESTS.name,
            HTTP_REQUESTS.help,
            http_requests.clone(),
        );
        registry.register(
            SPANS_DROPPED.name,
            SPANS_DROPPED.help,
            spans_dropped.clone(),
        );
        registry.register(
            OPEN_SESSIONS.name,
            OPEN_SESSIONS.help,
            open_sessions.clone(),
        );
        // The process's one count, whichever `Metrics` shows it.
        registry.register(
            LOG_LINES_DROPPED.name,
            LOG_LINES_DROPPED.help,
            kubernetes_mcp_otel::log_lines_dropped(),
        );
        registry.register(SERVER_INFO.name, SERVER_INFO.help, info.clone());
        let [(_, version), (_, rust_version)] = server_info();
        info.get_or_create(&InfoLabels {
            version: version.to_owned(),
            rust_version: rust_version.to_owned(),
        })
        .set(1);
        Self {
            registry,
            tool_calls,
            tool_errors,
            tool_duration,
            http_requests,
            spans_dropped,
            open_sessions,
        }
    }

    /// The exposition for a scraper's `Accept` header: (content type, body).
    pub fn render(&self, accept: &str) -> (&'static str, String) {
        let mut body = String::new();
        if accept.contains("application/openmetrics-text") {
            // Writing to a String cannot fail.
            let _ = prometheus_client::encoding::text::encode(&mut body, &self.registry);
            (OPENMETRICS, body)
        } else {
            let _ = prometheus_client::encoding::prometheus_text::encode(&mut body, &self.registry);
            (PROMETHEUS_TEXT, body)
        }
    }
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

/// `2xx`, `4xx` … for a status code.
pub fn status_class(status: u16) -> String {
    format!("{}xx", status / 100)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn server_info_names_the_compiler_that_built_it() {
        let rustc = std::process::Command::new("rustc")
            .arg("--version")
            .output()
            .unwrap();
        let version = String::from_utf8(rustc.stdout).unwrap();
        let (_, text) = Metrics::new().render("text/plain");
        let expected = format!(
            "rust_version=\"{}\"",
            version.split_whitespace().nth(1).unwrap()
        );
        assert!(text.contains(&expected), "{expected} not in {text}");
    }

    #[test]
    fn negotiates_openmetrics_and_names_every_family() {
        let m = Metrics::new();
        let labels = ToolLabels {
            tool_name: "pods_list".into(),
        };
        m.tool_calls.get_or_create(&labels).inc();
        m.tool_duration.get_or_create(&labels).observe(0.003);
        let (kind, text) = m.render("text/plain");
        assert_eq!(kind, PROMETHEUS_TEXT);
        assert!(
            text.contains("k8s_mcp_tool_calls_total{tool_name=\"pods_list\"} 1"),
            "{text}"
        );
        assert!(
            text.contains(
                "k8s_mcp_tool_duration_seconds_bucket{tool_name=\"pods_list\",le=\"0.005\"} 1"
            ),
            "{text}"
        );
        assert!(text.contains("k8s_mcp_server_info{"), "{text}");
        assert!(text.contains("k8s_mcp_spans_dropped_total 0"), "{text}");
        assert!(text.contains("k8s_mcp_log_lines_dropped_total "), "{text}");
        let (kind, text) = m.render("application/openmetrics-text;version=1.0.0");
        assert_eq!(kind, OPENMETRICS);
        assert!(text.ends_with("# EOF\n"), "{text}");
    }

    #[test]
    fn status_classes() {
        assert_eq!(status_class(204), "2xx");
        assert_eq!(status_class(404), "4xx");
    }
}
