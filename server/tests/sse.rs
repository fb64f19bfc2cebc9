//! The legacy SSE transport (`GET /sse` + `POST /message`) driven in process: the event stream
//! is read from the response body as it comes. The endpoint event, a whole MCP exchange,
//! unknown and closed sessions, the session bound and count, and the tool span parented on the
//! `POST /message` span. No cluster; the span test binds one loopback port for its receiver.

#![allow(
    clippy::expect_used,
    reason = "helpers of tests: a panic is the failure report"
)]

mod support;

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::body::{Body, BodyDataStream};
use axum::http::{Request, StatusCode, header};
use axum::routing;
use futures::StreamExt as _;
use kubernetes_mcp_server::http;
use kubernetes_mcp_server::observe::Observer;
use kubernetes_mcp_server::sse::{self, SseSessions};
use serde_json::{Value, json};
use tokio_util::sync::CancellationToken;
use tower::ServiceExt as _;

use support::otlp::{self, Receiver};

/// One open `GET /sse` stream.
struct Stream {
    body: BodyDataStream,
    buffer: String,
}

impl Stream {
    async fn open(app: &Router) -> Self {
        let response = app.clone().oneshot(get("/sse")).await.expect("infallible");
        assert_eq!(response.status(), StatusCode::OK);
        assert_eq!(
            response.headers()[header::CONTENT_TYPE],
            "text/event-stream"
        );
        Self {
            body: response.into_body().into_data_stream(),
            buffer: String::new(),
        }
    }

    /// The next event that is not a keep-alive comment: (event, data).
    async fn next(&mut self) -> (String, String) {
        loop {
            if let Some(end) = self.buffer.find("\n\n") {
                let block: String = self.buffer.drain(..end + 2).collect();
                let field = |name: &str| {
                    block
                        .lines()
                        .find_map(|l| l.strip_prefix(name))
                        .map(|v| v.trim_start().to_owned())
                };
                if let Some(data) = field("data:") {
                    return (field("event:").unwrap_or_default(), data);
                }
                continue;
            }
            let chunk = tokio::time::timeout(Duration::from_secs(5), self.body.next())
                .await
                .expect("an event within 5 s")
                .expect("the stream is open")
                .expect("a body chunk");
            self.buffer
                .push_str(std::str::from_utf8(&chunk).expect("UTF-8"));
        }
    }

    /// The `endpoint` event's path, which names the session.
    async fn endpoint(&mut self) -> String {
        let (event, data) = self.next().await;
        assert_eq!(event, "endpoint");
        data
    }

    /// The next `message` event, parsed.
    async fn message(&mut self) -> Value {
        let (event, data) = self.next().await;
        assert_eq!(event, "message");
        serde_json::from_str(&data).expect("a JSON-RPC message")
    }
}

fn get(path: &str) -> Request<Body> {
    Request::get(path)
        .header(header::HOST, "localhost")
        .body(Body::empty())
        .expect("request")
}

async fn post(app: &Router, path: &str, body: &str) -> (StatusCode, String) {
    let request = Request::post(path)
        .header(header::HOST, "localhost")
        .header(header::CONTENT_TYPE, "application/json")
        .body(Body::from(body.to_owned()))
        .expect("request");
    let response = app.clone().oneshot(request).await.expect("infallible");
    let status = response.status();
    let bytes = axum::body::to_bytes(response.into_body(), usize::MAX)
        .await
        .expect("body");
    (status, String::from_utf8_lossy(&bytes).into_owned())
}

fn app_with(observer: Observer) -> (Router, Arc<Observer>) {
    let config = support::config("");
    let server = support::server(&config, observer);
    let app = http::router(&server, &config, &CancellationToken::new());
    (app, server.observer().clone())
}

/// initialize, then initialized: the session is ready for calls.
async fn initialize(app: &Router, stream: &mut Stream, endpoint: &str) {
    let initialize = json!({"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {
        "protocolVersion": "2024-11-05", "capabilities": {},
        "clientInfo": {"name": "sse-test", "version": "0"}}});
    assert_eq!(
        post(app, endpoint, &initialize.to_string()).await.0,
        StatusCode::ACCEPTED
    );
    let answer = stream.message().await;
    assert_eq!(answer["id"], 1, "{answer}");
    assert_eq!(
        answer["result"]["serverInfo"]["name"], "kubernetes-mcp-server",
        "{answer}"
    );
    let initialized = r#"{"jsonrpc":"2.0","method":"notifications/initialized"}"#;
    assert_eq!(
        post(app, endpoint, initialized).await.0,
        StatusCode::ACCEPTED
    );
}

const CALL: &str = r#"{"jsonrpc":"2.0","id":2,"method":"tools/call","params":{"name":"namespaces_list","arguments":{}}}"#;

#[tokio::test]
async fn a_session_carries_a_whole_exchange_and_ends_with_its_stream() {
    let (app, _) = app_with(Observer::without_tracing());
    let mut stream = Stream::open(&app).await;
    let endpoint = stream.endpoint().await;
    let id = endpoint
        .strip_prefix("/message?sessionId=")
        .expect("the endpoint names the session");
    assert!(
        id.len() == 32 && id.chars().all(|c| c.is_ascii_hexdigit()),
        "{endpoint}"
    );
    initialize(&app, &mut stream, &endpoint).await;
    assert_eq!(post(&app, &endpoint, CALL).await.0, StatusCode::ACCEPTED);
    let answer = stream.message().await;
    assert_eq!(answer["id"], 2, "{answer}");
    assert_eq!(answer["result"]["isError"], true, "{answer}");
    assert_eq!(open_sse_sessions(&app).await, 1);

    drop(stream);
    let (status, body) = post(&app, &endpoint, CALL).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(body, "unknown or closed session");
    assert_eq!(open_sse_sessions(&app).await, 0);
}

/// Tool calls may be answered outside the session's MCP service, but not before that service has
/// answered `initialize`: until then the service answers (rmcp: without `initialize`, a request
/// must carry the 2026-07-28 `_meta`, so this one is refused), not the tool.
#[tokio::test]
async fn a_tool_call_before_initialize_is_answered_by_the_sessions_service() {
    let (app, _) = app_with(Observer::without_tracing());
    let mut stream = Stream::open(&app).await;
    let endpoint = stream.endpoint().await;
    for _ in 0..2 {
        assert_eq!(post(&app, &endpoint, CALL).await.0, StatusCode::ACCEPTED);
        let answer = stream.message().await;
        assert_eq!(answer["id"], 2, "{answer}");
        assert!(answer.get("result").is_none(), "{answer}");
        assert_eq!(answer["error"]["code"], -32602, "{answer}");
    }
}

/// The open SSE sessions `/stats` counts.
async fn open_sse_sessions(app: &Router) -> u64 {
    let response = app
        .clone()
        .oneshot(get("/stats"))
        .await
        .expect("infallible");
    let body = axum::body::to_bytes(response.into_body(), usize::MAX)
        .await
        .expect("body");
    let stats: Value = serde_json::from_slice(&body).expect("JSON stats");
    stats["open_sessions"]["sse"]
        .as_u64()
        .expect("a count of SSE sessions")
}

#[tokio::test]
async fn messages_without_a_live_session_or_json_are_refused() {
    let (app, _) = app_with(Observer::without_tracing());
    let (status, body) = post(&app, "/message?sessionId=0123456789abcdef", CALL).await;
    assert_eq!(
        (status, body.as_str()),
        (StatusCode::NOT_FOUND, "unknown or closed session")
    );
    let (status, body) = post(&app, "/message", CALL).await;
    assert_eq!(
        (status, body.as_str()),
        (StatusCode::BAD_REQUEST, "missing sessionId query parameter")
    );
    let (status, body) = post(&app, "/message?sessionId=0123456789abcdef", "{oops").await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    let body: Value = serde_json::from_str(&body).expect("a JSON-RPC error");
    assert_eq!(body["error"]["code"], -32700, "{body}");
}

#[tokio::test]
async fn sessions_are_bounded_and_a_closed_one_frees_its_place() {
    let server = support::server(&support::config(""), Observer::without_tracing());
    let sessions = SseSessions::new(server.over_tcp(), 1, CancellationToken::new());
    let app = Router::new()
        .route("/sse", routing::get(sse::connect))
        .route("/message", routing::post(sse::message))
        .with_state(sessions);
    let mut first = Stream::open(&app).await;
    first.endpoint().await;
    let refused = app.clone().oneshot(get("/sse")).await.expect("infallible");
    assert_eq!(refused.status(), StatusCode::SERVICE_UNAVAILABLE);
    drop(first);
    let mut second = Stream::open(&app).await;
    assert!(second.endpoint().await.starts_with("/message?sessionId="));
}

#[tokio::test]
async fn a_tool_call_over_sse_is_a_child_of_its_post_message_span() {
    let receiver = Receiver::start().await;
    let (app, observer) = app_with(receiver.observer().await);
    let mut stream = Stream::open(&app).await;
    let endpoint = stream.endpoint().await;
    initialize(&app, &mut stream, &endpoint).await;
    assert_eq!(post(&app, &endpoint, CALL).await.0, StatusCode::ACCEPTED);
    assert_eq!(stream.message().await["id"], 2);
    drop(stream);
    observer.shutdown().await;

    let spans = receiver.spans();
    let tool = otlp::only(&spans, "tools/call namespaces_list");
    assert_eq!(tool.attribute("network.transport"), Some("tcp"));
    let parent = spans
        .iter()
        .find(|s| s.span_id == tool.parent_span_id)
        .unwrap_or_else(|| panic!("the tool span's parent was exported: {spans:#?}"));
    assert_eq!(parent.name, "POST /message");
    assert_eq!(parent.trace_id, tool.trace_id);
    assert_eq!(parent.attribute("http.response.status_code"), Some("202"));
}
