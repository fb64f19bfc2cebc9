//! Observability as middleware: one span per tool call and per HTTP request (names and
//! attributes of shared/spec/telemetry.md), the `k8s_mcp_*` metrics and the `/stats` counters.
//! No tool contains telemetry code. With telemetry off no span is built at all. The exporters
//! come from the `kubernetes_mcp_otel` crate.

pub mod metrics;
mod otlp;
pub mod sessions;
pub mod stats;

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::Duration;

use opentelemetry::metrics::MeterProvider as _;
use opentelemetry::propagation::TextMapPropagator as _;
use opentelemetry::trace::{
    Span as _, SpanKind, Status, TraceContextExt as _, Tracer as _, TracerProvider as _,
};
use opentelemetry::{Context, KeyValue};
use opentelemetry_sdk::propagation::TraceContextPropagator;
use opentelemetry_sdk::trace::{SdkTracer, Span};

use kubernetes_mcp_otel::{Providers, ServiceIdentity, TelemetryConfig};
use metrics::{HttpLabels, Metrics, ToolLabels, TransportLabels, status_class};
use otlp::OtlpMetrics;
use sessions::OpenSessions;
use stats::Stats;

use crate::{SERVER_NAME, VERSION};

/// The trace context of the HTTP request a message arrived in, handed from the HTTP middleware
/// to the tool call (request extensions) so the tool span becomes its child.
#[derive(Clone, Debug)]
pub struct HttpContext(pub Context);

/// How a tool call ended, for the span status and the counters.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    Ok,
    /// The tool ran and reported failure (`isError`).
    ToolError,
    /// The call never reached a tool (unknown tool, bad request).
    ProtocolError,
}

pub struct Observer {
    tracer: Option<SdkTracer>,
    providers: Option<Providers>,
    propagator: TraceContextPropagator,
    /// The same metrics for the OTLP exporter, when it runs.
    otlp: Option<OtlpMetrics>,
    pub metrics: Metrics,
    pub stats: Arc<Stats>,
    /// The transports register how to count their open sessions here.
    pub sessions: OpenSessions,
}

/// The label for a tool name the router does not have, and for a path no route serves: one
/// value, so that garbage names cannot grow the metrics, /stats or span names without bound.
pub const UNKNOWN: &str = "_unknown";

/// The label for a request method HTTP does not define (OpenTelemetry's HTTP conventions).
pub const OTHER_METHOD: &str = "_OTHER";

impl Observer {
    /// Counters only, no spans.
    pub fn without_tracing() -> Self {
        Self {
            tracer: None,
            providers: None,
            propagator: TraceContextPropagator::new(),
            otlp: None,
            metrics: Metrics::new(),
            stats: Arc::new(Stats::new()),
            sessions: OpenSessions::default(),
        }
    }

    /// Starts telemetry from `[telemetry]` and the environment (`kubernetes_mcp_otel::init`).
    /// Never fails: a bad value or an exporter that cannot be built is a warning, and the
    /// server runs without tracing.
    pub async fn start(config: &TelemetryConfig) -> Self {
        let mut observer = Self::without_tracing();
        let identity = ServiceIdentity {
            name: SERVER_NAME,
            version: VERSION,
        };
        let dropped = observer.metrics.spans_dropped.clone();
        let Some(providers) = kubernetes_mcp_otel::init(
            identity,
            config,
            kubernetes_mcp_otel::process_env,
            dropped.clone(),
        )
        .await
        else {
            return observer;
        };
        observer.otlp = providers.meter.as_ref().map(|meter| {
            OtlpMetrics::new(
                &meter.meter(SERVER_NAME),
                dropped,
                observer.sessions.clone(),
            )
        });
        observer.tracer = Some(providers.tracer.tracer(SERVER_NAME));
        observer.providers = Some(providers);
        observer
    }

    /// The open sessions by transport, now; `k8s_mcp_open_sessions` is set to them.
    pub fn open_sessions(&self) -> BTreeMap<&'static str, u64> {
        let open = self.sessions.now();
        for (transport, count) in &open {
            self.metrics
                .open_sessions
                .get_or_create(&TransportLabels {
                    transport: (*transport).to_owned(),
                })
                .set(i64::try_from(*count).unwrap_or(i64::MAX));
        }
        open
    }

    /// Flushes queued spans and metrics (blocking work, done off the async workers).
    pub async fn shutdown(&self) {
        if let Some(providers) = self.providers.clone() {
            let _ = tokio::task::spawn_blocking(move || providers.shutdown()).await;
        }
    }

    pub fn tracing_enabled(&self) -> bool {
        self.tracer.is_some()
    }

    /// The W3C trace context carried by `traceparent` / `tracestate` headers or `_meta` keys.
    pub fn extract(&self, carrier: &dyn opentelemetry::propagation::Extractor) -> Context {
        self.propagator.extract(carrier)
    }

    /// `traceparent` (and `tracestate`) for `cx`, to put in a message's `_meta`.
    pub fn inject(&self, cx: &Context) -> HashMap<String, String> {
        let mut carrier = HashMap::new();
        self.propagator.inject_context(cx, &mut carrier);
        carrier
    }

    /// Starts the span of a tool call, or nothing when tracing is off.
    pub fn start_tool_span(
        &self,
        tool: &str,
        network_transport: &'static str,
        parent: &Context,
    ) -> Option<Span> {
        let tracer = self.tracer.as_ref()?;
        Some(
            tracer
                .span_builder(format!("tools/call {tool}"))
                .with_kind(SpanKind::Server)
                .with_attributes([
                    KeyValue::new("mcp.method.name", "tools/call"),
                    KeyValue::new("gen_ai.tool.name", tool.to_owned()),
                    KeyValue::new("gen_ai.operation.name", "execute_tool"),
                    KeyValue::new("rpc.jsonrpc.version", "2.0"),
                    KeyValue::new("network.transport", network_transport),
                ])
                .start_with_context(tracer, parent),
        )
    }

    /// Ends the span and counts the call under `label` (a registered tool name or
    /// [`UNKNOWN`]).
    pub fn finish_tool_call(
        &self,
        span: Option<Span>,
        label: &str,
        elapsed: Duration,
        outcome: Outcome,
    ) {
        if let Some(mut span) = span {
            match outcome {
                Outcome::Ok => span.set_status(Status::Ok),
                Outcome::ToolError => {
                    span.set_attribute(KeyValue::new("error.type", "tool_error"));
                    span.set_status(Status::error("tool reported an error"));
                }
                Outcome::ProtocolError => {
                    span.set_attribute(KeyValue::new("error.type", "_OTHER"));
                    span.set_status(Status::error("the call did not reach a tool"));
                }
            }
            span.end();
        }
        let labels = ToolLabels {
            tool_name: label.to_owned(),
        };
        self.metrics.tool_calls.get_or_create(&labels).inc();
        self.metrics
            .tool_duration
            .get_or_create(&labels)
            .observe(elapsed.as_secs_f64());
        let failed = outcome != Outcome::Ok;
        if failed {
            self.metrics.tool_errors.get_or_create(&labels).inc();
        }
        if let Some(otlp) = &self.otlp {
            otlp.tool_call(label, elapsed, failed);
        }
        self.stats.tool_call(label, failed);
    }

    /// Starts the span of an HTTP request: `"{METHOD} {path}"`, a server span whose parent is
    /// the caller's `traceparent`, if any. The returned context holds it (or only the parent
    /// when tracing is off); tool calls of the request become its children.
    pub fn start_http_span(&self, request: &HttpRequestFacts, parent: Context) -> Context {
        let Some(tracer) = self.tracer.as_ref() else {
            return parent;
        };
        let mut attributes = vec![
            KeyValue::new("http.request.method", request.method),
            KeyValue::new("url.path", request.path.clone()),
            KeyValue::new("url.scheme", request.scheme),
            KeyValue::new("network.protocol.name", "http"),
            KeyValue::new("network.protocol.version", request.protocol_version),
        ];
        let optional = [
            ("server.address", &request.server_address),
            ("client.address", &request.client_address),
            ("user_agent.original", &request.user_agent),
            ("http.route", &request.route),
            ("http.request.method_original", &request.method_original),
        ];
        attributes.extend(
            optional
                .into_iter()
                .filter_map(|(k, v)| v.clone().map(|v| KeyValue::new(k, v))),
        );
        if let Some(size) = request.body_size {
            attributes.push(KeyValue::new("http.request.body.size", size));
        }
        let span = tracer
            .span_builder(match &request.route {
                Some(route) => format!("{} {route}", request.method),
                None => request.method.to_owned(),
            })
            .with_kind(SpanKind::Server)
            .with_attributes(attributes)
            .start_with_context(tracer, &parent);
        parent.with_span(span)
    }

    /// Records the response on the HTTP span held by `cx` (if this server started one) and
    /// counts the request. The span itself ends with [`end_span`], when the body is done.
    pub fn record_http_response(&self, cx: &Context, method: &str, path: &str, status: u16) {
        if self.tracer.is_some() {
            let span = cx.span();
            span.set_attribute(KeyValue::new(
                "http.response.status_code",
                i64::from(status),
            ));
            if status >= 400 {
                span.set_attribute(KeyValue::new("error.type", status.to_string()));
            }
            if status >= 500 {
                span.set_status(Status::error(format!("HTTP {status}")));
            }
        }
        let class = status_class(status);
        self.metrics
            .http_requests
            .get_or_create(&HttpLabels {
                http_request_method: method.to_owned(),
                url_path: path.to_owned(),
                http_response_status_class: class.clone(),
            })
            .inc();
        if let Some(otlp) = &self.otlp {
            otlp.http_request(method, path, &class);
        }
        self.stats.http_request(method, path, &class);
    }
}

/// Ends the span held by the context when dropped: the HTTP middleware keeps one with the
/// response body, so the span covers the answer streamed after the headers.
pub struct EndSpanOnDrop(pub Context);

impl Drop for EndSpanOnDrop {
    fn drop(&mut self) {
        self.0.span().end();
    }
}

/// What the HTTP span records about a request, gathered by the HTTP middleware.
#[derive(Debug, Clone)]
pub struct HttpRequestFacts {
    /// A known HTTP method, or `_OTHER`.
    pub method: &'static str,
    /// The method as sent, when `method` is `_OTHER`.
    pub method_original: Option<String>,
    pub path: String,
    /// The route template the request matched; none for a path no route serves.
    pub route: Option<String>,
    pub scheme: &'static str,
    pub protocol_version: &'static str,
    pub server_address: Option<String>,
    pub client_address: Option<String>,
    pub user_agent: Option<String>,
    pub body_size: Option<i64>,
}
