//! The HTTP application: streamable HTTP at `/mcp` (rmcp), legacy SSE at `/sse` + `/message`,
//! `/stats`, `/metrics` and `/healthz`, built in one place so tests can drive it with `oneshot`.
//! Every request but `/healthz` is traced and counted. No I/O until served.

use std::net::SocketAddr;
use std::sync::Arc;

use axum::Router;
use axum::body::Body;
use axum::extract::{ConnectInfo, DefaultBodyLimit, MatchedPath, Request, State};
use axum::http::{Method, StatusCode};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use futures::StreamExt as _;
use rmcp::model::{ClientJsonRpcMessage, ClientRequest, JsonRpcRequest};
use rmcp::transport::streamable_http_server::{StreamableHttpServerConfig, StreamableHttpService};
use serde::Deserialize as _;
use serde_json::Value;
use tokio_util::sync::CancellationToken;

use crate::auth::{self, Authenticator};
use crate::config::Config;
use crate::jsonrpc::jsonrpc_error;
use crate::mcp::McpServer;
use crate::observe::sessions::{SSE, STREAMABLE_HTTP};
use crate::observe::{
    EndSpanOnDrop, HttpContext, HttpRequestFacts, OTHER_METHOD, Observer, UNKNOWN as UNMATCHED,
};
use crate::ratelimit::{Buckets, RATE_LIMITED};
use crate::rebinding::{self, HostRule};
use crate::sse::{self, SseSessions};
use crate::streamable::{self, Sessions};

/// The client's address, for every listener (plain TCP or TLS).
#[derive(Debug, Clone, Copy)]
pub struct PeerAddr(pub SocketAddr);

macro_rules! peer_addr_from {
    ($listener:ty) => {
        impl axum::extract::connect_info::Connected<axum::serve::IncomingStream<'_, $listener>>
            for PeerAddr
        {
            fn connect_info(stream: axum::serve::IncomingStream<'_, $listener>) -> Self {
                Self(*stream.remote_addr())
            }
        }
    };
}
peer_addr_from!(crate::listener::NoDelayListener);
peer_addr_from!(crate::tls::TlsListener);

/// Upper bound on concurrent legacy SSE sessions.
const MAX_SSE_SESSIONS: usize = 1024;

/// The whole HTTP app. With `--metrics-port`, `/stats` and `/metrics` move to
/// [`observability_router`] on that port.
pub fn router(server: &McpServer, config: &Config, shutdown: &CancellationToken) -> Router {
    let server = server.over_tcp();
    let cluster = server.cluster().clone();
    let observer = server.observer().clone();
    // A session never DELETEd (a client gone) ends after this long without a request.
    let manager = Arc::new(Sessions::new(
        server.clone(),
        config.session_idle_timeout,
        shutdown.child_token(),
    ));
    let open = manager.clone();
    observer
        .sessions
        .register(STREAMABLE_HTTP, Arc::new(move || open.count()));
    let mcp = StreamableHttpService::new(
        {
            let server = server.clone();
            move || Ok(server.clone())
        },
        manager,
        streamable_config(config, shutdown.child_token()),
    );
    let rate_limits = server.rate_limits().clone();
    let sessions = SseSessions::new(server.clone(), MAX_SSE_SESSIONS, shutdown.child_token());
    let open = sessions.clone();
    observer
        .sessions
        .register(SSE, Arc::new(move || Some(open.count())));
    let mut mcp = Router::new().route_service("/mcp", mcp);
    if config.stateless {
        mcp = mcp.layer(middleware::from_fn_with_state(
            server.clone(),
            streamable::answer_stateless_call,
        ));
    }
    // Always in place: a SIGHUP may set a limit the start-up config did not have.
    let mcp = mcp.layer(middleware::from_fn_with_state(rate_limits, rate_limit));
    let mcp = mcp.layer(middleware::from_fn_with_state(
        config.max_body_bytes,
        jsonrpc_guard,
    ));
    let scheme = if config.tls.is_some() {
        "https"
    } else {
        "http"
    };
    let mut app = Router::new()
        .route("/sse", get(sse::connect))
        .route("/message", post(sse::message))
        .with_state(sessions)
        .merge(mcp)
        .layer(DefaultBodyLimit::max(config.max_body_bytes))
        .layer(middleware::from_fn_with_state(
            Arc::new(HostRule::new(config)),
            rebinding::guard,
        ));
    if let Some(settings) = &config.auth {
        // Only the MCP endpoints: the metadata, /healthz, /metrics and /stats stay open.
        let gate = auth::http::Gate {
            authenticator: Arc::new(Authenticator::new(settings.clone(), cluster)),
            scheme,
        };
        app = app
            .layer(middleware::from_fn_with_state(
                gate.clone(),
                auth::http::require_caller,
            ))
            .merge(auth::http::metadata_routes(gate));
    }
    if config.metrics_port.is_none() {
        app = app.merge(observability_routes(observer.clone()));
    }
    app.layer(middleware::from_fn_with_state(
        (observer, scheme),
        observe_http,
    ))
    .route("/healthz", get(|| async { "ok" }))
}

/// `/stats`, `/metrics` and `/healthz` alone, for `--metrics-port`.
pub fn observability_router(observer: Arc<Observer>) -> Router {
    observability_routes(observer).route("/healthz", get(|| async { "ok" }))
}

fn observability_routes(observer: Arc<Observer>) -> Router {
    Router::new()
        .route("/stats", get(stats))
        .route("/metrics", get(metrics))
        .with_state(observer)
}

async fn stats(State(observer): State<Arc<Observer>>) -> Response {
    let mut snapshot = observer.stats.snapshot();
    snapshot.open_sessions = observer.open_sessions();
    axum::Json(snapshot).into_response()
}

async fn metrics(
    State(observer): State<Arc<Observer>>,
    headers: axum::http::HeaderMap,
) -> Response {
    let accept = headers
        .get(axum::http::header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    observer.open_sessions();
    let (content_type, body) = observer.metrics.render(accept);
    ([(axum::http::header::CONTENT_TYPE, content_type)], body).into_response()
}

/// The HTTP span and counters around every request (`/healthz` is routed outside this layer).
async fn observe_http(
    State((observer, scheme)): State<(Arc<Observer>, &'static str)>,
    mut request: Request,
    next: Next,
) -> Response {
    // Labels and span names from the route and a known method only: a scan of made-up paths
    // or methods must not grow the metrics, /stats or the set of span names.
    let method = request_method(request.method());
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map(|matched| matched.as_str().to_owned());
    let context = if observer.tracing_enabled() {
        let headers = request.headers();
        let text = |name: axum::http::header::HeaderName| {
            headers
                .get(name)
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned)
        };
        let facts = HttpRequestFacts {
            method,
            method_original: (method == OTHER_METHOD).then(|| request.method().to_string()),
            path: request.uri().path().to_owned(),
            route: route.clone(),
            scheme,
            protocol_version: match request.version() {
                axum::http::Version::HTTP_2 => "2",
                axum::http::Version::HTTP_10 => "1.0",
                _ => "1.1",
            },
            server_address: text(axum::http::header::HOST).map(|h| {
                h.rsplit_once(':')
                    .map_or(h.clone(), |(host, _)| host.to_owned())
            }),
            client_address: request
                .extensions()
                .get::<axum::extract::ConnectInfo<PeerAddr>>()
                .map(|c| c.0.0.ip().to_string()),
            user_agent: text(axum::http::header::USER_AGENT),
            body_size: text(axum::http::header::CONTENT_LENGTH).and_then(|l| l.parse().ok()),
        };
        let parent = observer.extract(&opentelemetry_http::HeaderExtractor(headers));
        observer.start_http_span(&facts, parent)
    } else {
        opentelemetry::Context::new()
    };
    request
        .extensions_mut()
        .insert(HttpContext(context.clone()));
    let response = next.run(request).await;
    observer.record_http_response(
        &context,
        method,
        route.as_deref().unwrap_or(UNMATCHED),
        response.status().as_u16(),
    );
    if !observer.tracing_enabled() {
        return response;
    }
    // On streamable HTTP and SSE the answer comes on the body after the headers: end the span
    // when the body is done (or the client goes away), so it covers the tool calls it carries.
    let guard = EndSpanOnDrop(context);
    let (parts, body) = response.into_parts();
    let body = Body::from_stream(body.into_data_stream().map(move |chunk| {
        let _span_open_until_the_body_ends = &guard;
        chunk
    }));
    Response::from_parts(parts, body)
}

/// The method as a label: one of HTTP's own, or `_OTHER` (OpenTelemetry's HTTP conventions).
fn request_method(method: &Method) -> &'static str {
    const KNOWN: [&Method; 9] = [
        &Method::GET,
        &Method::HEAD,
        &Method::POST,
        &Method::PUT,
        &Method::DELETE,
        &Method::CONNECT,
        &Method::OPTIONS,
        &Method::TRACE,
        &Method::PATCH,
    ];
    KNOWN
        .into_iter()
        .find(|known| *known == method)
        .map_or(OTHER_METHOD, Method::as_str)
}

/// Answers what is not a JSON-RPC message with a JSON-RPC error instead of rmcp's plain-text
/// 415: -32700 for bytes that are not JSON, -32600 for JSON that is not a JSON-RPC message,
/// and 413 past the body limit. Valid messages go on unchanged, with the id of the request
/// they carry (if any) in the extensions for the rate limit: the body is parsed once here.
async fn jsonrpc_guard(State(limit): State<usize>, request: Request, next: Next) -> Response {
    if request.method() == Method::DELETE {
        // rmcp acknowledges a session DELETE with 202; clients (the Python SDK among them)
        // expect 200 or 204 for a completed termination.
        let mut response = next.run(request).await;
        if response.status() == StatusCode::ACCEPTED {
            *response.status_mut() = StatusCode::NO_CONTENT;
        }
        return response;
    }
    if request.method() != Method::POST {
        return next.run(request).await;
    }
    let (mut parts, body) = request.into_parts();
    let Some(bytes) = read_bounded(body, limit).await else {
        return jsonrpc_error(
            StatusCode::PAYLOAD_TOO_LARGE,
            &Value::Null,
            -32600,
            &format!("request body is larger than {limit} bytes"),
        );
    };
    let checked = match serde_json::from_slice::<ClientJsonRpcMessage>(&bytes) {
        // The common case, one valid message, in one typed parse.
        Ok(message) => Ok(match message {
            ClientJsonRpcMessage::Request(request) => {
                let id = serde_json::to_value(&request.id).ok();
                parts.extensions.insert(ParsedRequest(request));
                id
            }
            _ => None,
        }),
        Err(_) => check_each(&bytes),
    };
    match checked {
        Ok(id) => {
            if let Some(id) = id {
                parts.extensions.insert(RequestId(id));
            }
            next.run(Request::from_parts(parts, Body::from(bytes)))
                .await
        }
        Err(refusal) => *refusal,
    }
}

/// The id of the JSON-RPC request a valid `/mcp` POST carries (the first of a batch), put in
/// its extensions by the JSON-RPC guard.
#[derive(Debug, Clone)]
struct RequestId(Value);

/// The one JSON-RPC request a `/mcp` POST carries, as the JSON-RPC guard parsed it.
#[derive(Debug, Clone)]
pub struct ParsedRequest(pub JsonRpcRequest<ClientRequest>);

/// What is not one valid message: a batch, checked message by message (the id of its first
/// request, if all are valid), or the JSON-RPC error that refuses it (boxed: the cold path).
fn check_each(bytes: &[u8]) -> Result<Option<Value>, Box<Response>> {
    let value: Value = serde_json::from_slice(bytes).map_err(|e| {
        Box::new(jsonrpc_error(
            StatusCode::BAD_REQUEST,
            &Value::Null,
            -32700,
            &format!("Parse error: {e}"),
        ))
    })?;
    let messages = match &value {
        Value::Array(items) => items.iter().collect(),
        single => vec![single],
    };
    for message in &messages {
        if let Err(e) = ClientJsonRpcMessage::deserialize(*message) {
            let id = message.get("id").cloned().unwrap_or(Value::Null);
            return Err(Box::new(jsonrpc_error(
                StatusCode::BAD_REQUEST,
                &id,
                -32600,
                &format!("Invalid Request: {e}"),
            )));
        }
    }
    Ok(messages
        .first()
        .filter(|first| first.get("method").is_some())
        .and_then(|first| first.get("id"))
        .cloned())
}

/// The body, or `None` when it is larger than `limit`. An oversized body is still read (and
/// dropped) up to four times the limit, so that the client, which sends before it reads, gets
/// the 413 instead of a reset connection.
async fn read_bounded(body: Body, limit: usize) -> Option<bytes::Bytes> {
    let mut stream = body.into_data_stream();
    let mut kept = bytes::BytesMut::new();
    let mut seen = 0usize;
    while let Some(Ok(chunk)) = stream.next().await {
        seen = seen.saturating_add(chunk.len());
        if seen <= limit {
            kept.extend_from_slice(&chunk);
        } else if seen > limit.saturating_mul(4) {
            break;
        }
    }
    (seen <= limit).then(|| kept.freeze())
}

fn streamable_config(config: &Config, cancel: CancellationToken) -> StreamableHttpServerConfig {
    let base = StreamableHttpServerConfig::default()
        .with_legacy_session_mode(!config.stateless)
        .with_json_response(config.stateless)
        .with_max_request_body_bytes(config.max_body_bytes)
        .with_cancellation_token(cancel);
    // One DNS-rebinding guard for every MCP endpoint: crate::rebinding, in front of this.
    base.disable_allowed_hosts()
}

/// `http.rate_limit_rps` on `/mcp` (inside the JSON-RPC guard, so the body is bounded and
/// valid): a request over its session's limit gets JSON-RPC error -32029 "rate limit exceeded"
/// with HTTP 200, as from the Go server. Without a session (stateless mode) the bucket is the
/// client's address. Notifications and responses, which have no request id, are never limited.
async fn rate_limit(State(buckets): State<Arc<Buckets>>, request: Request, next: Next) -> Response {
    if !buckets.limited() {
        return next.run(request).await;
    }
    let Some(RequestId(id)) = request.extensions().get::<RequestId>() else {
        return next.run(request).await;
    };
    let key = request
        .headers()
        .get("mcp-session-id")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned)
        .or_else(|| {
            request
                .extensions()
                .get::<ConnectInfo<PeerAddr>>()
                .map(|ConnectInfo(PeerAddr(addr))| addr.ip().to_string())
        })
        .unwrap_or_default();
    if !buckets.admit(&key, std::time::Instant::now()) {
        return jsonrpc_error(StatusCode::OK, id, RATE_LIMITED, "rate limit exceeded");
    }
    next.run(request).await
}
