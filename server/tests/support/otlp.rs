//! An OTLP/HTTP receiver on an ephemeral loopback port, the one port these tests bind: the
//! server's only span exporter speaks OTLP over the network. It keeps what is posted to
//! `/v1/traces` and decodes it into spans.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::{Arc, Mutex};

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{StatusCode, Uri};
use kubernetes_mcp_otel::TelemetryConfig;
use kubernetes_mcp_server::observe::Observer;
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::common::v1::any_value::Value;
use opentelemetry_proto::tonic::trace::v1::Span;
use prost::Message as _;
use tokio_util::sync::CancellationToken;

type Posted = Arc<Mutex<Vec<Bytes>>>;

pub struct Receiver {
    endpoint: String,
    traces: Posted,
    stop: CancellationToken,
}

impl Receiver {
    pub async fn start() -> Self {
        let traces = Posted::default();
        let app = Router::new().fallback(collect).with_state(traces.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind a loopback port");
        let endpoint = format!("http://{}", listener.local_addr().expect("local address"));
        let stop = CancellationToken::new();
        let stopped = stop.clone().cancelled_owned();
        tokio::spawn(async move {
            axum::serve(listener, app)
                .with_graceful_shutdown(stopped)
                .await
                .expect("OTLP receiver");
        });
        Self {
            endpoint,
            traces,
            stop,
        }
    }

    /// An observer exporting every span (the default parent-based sampler: a caller's
    /// unsampled trace stays unsampled) to this receiver over OTLP/HTTP.
    pub async fn observer(&self) -> Observer {
        // reqwest is built without a default TLS provider; the server's main installs one.
        let _ = rustls::crypto::ring::default_provider().install_default();
        Observer::start(&TelemetryConfig {
            enabled: Some(true),
            endpoint: Some(self.endpoint.clone()),
            protocol: Some("http/protobuf".into()),
            ..TelemetryConfig::default()
        })
        .await
    }

    /// Every span received so far. Call after `Observer::shutdown`, which flushes the queue.
    pub fn spans(&self) -> Vec<Exported> {
        let posted = self.traces.lock().expect("lock").clone();
        posted
            .iter()
            .flat_map(|body| {
                ExportTraceServiceRequest::decode(body.as_ref())
                    .expect("an OTLP trace export")
                    .resource_spans
            })
            .flat_map(|r| r.scope_spans)
            .flat_map(|s| s.spans)
            .map(Exported::from)
            .collect()
    }
}

impl Drop for Receiver {
    fn drop(&mut self) {
        self.stop.cancel();
    }
}

async fn collect(State(traces): State<Posted>, uri: Uri, body: Bytes) -> StatusCode {
    if uri.path() == "/v1/traces" {
        traces.lock().expect("lock").push(body);
    }
    StatusCode::OK
}

/// A received span, ids in lower-case hex as `traceparent` writes them (a root span's parent
/// is empty) and attribute values as text.
#[derive(Debug)]
pub struct Exported {
    pub name: String,
    pub trace_id: String,
    pub span_id: String,
    pub parent_span_id: String,
    pub attributes: BTreeMap<String, String>,
}

impl From<Span> for Exported {
    fn from(span: Span) -> Self {
        let hex = |bytes: &[u8]| {
            bytes.iter().fold(String::new(), |mut text, b| {
                let _ = write!(text, "{b:02x}");
                text
            })
        };
        let attributes = span
            .attributes
            .into_iter()
            .filter_map(|a| {
                let text = match a.value?.value? {
                    Value::StringValue(s) => s,
                    Value::IntValue(i) => i.to_string(),
                    other => format!("{other:?}"),
                };
                Some((a.key, text))
            })
            .collect();
        Self {
            name: span.name,
            trace_id: hex(&span.trace_id),
            span_id: hex(&span.span_id),
            parent_span_id: hex(&span.parent_span_id),
            attributes,
        }
    }
}

impl Exported {
    pub fn attribute(&self, key: &str) -> Option<&str> {
        self.attributes.get(key).map(String::as_str)
    }
}

/// The span called `name`; exactly one must have been exported.
pub fn only<'a>(spans: &'a [Exported], name: &str) -> &'a Exported {
    let found: Vec<&Exported> = spans.iter().filter(|s| s.name == name).collect();
    assert_eq!(found.len(), 1, "one {name:?} span expected in {spans:#?}");
    found[0]
}
