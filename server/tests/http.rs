//! The HTTP app of `http::router`, driven in process with `tower::ServiceExt::oneshot`: the
//! JSON-RPC guard in front of rmcp (-32700, -32600, 413), the session DELETE, the open session
//! count and the idle timeout of an abandoned session (and not of one in use), the Host rule,
//! `/healthz` outside the trace layer, `/stats`, `/metrics` and unknown paths. No cluster; the
//! span test binds one loopback port for its OTLP receiver.

#![allow(
    clippy::expect_used,
    reason = "helpers of tests: a panic is the failure report"
)]

mod support;

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::http::{HeaderMap, Request, StatusCode, header};
use kubernetes_mcp_server::config::Config;
use kubernetes_mcp_server::http;
use kubernetes_mcp_server::observe::Observer;
use kubernetes_mcp_server::observe::metrics::{OPENMETRICS, PROMETHEUS_TEXT};
use serde_json::{Value, json};
use tokio_util::sync::CancellationToken;
use tower::ServiceExt as _;

use support::otlp::{self, Receiver};

const INITIALIZE: &str = r#"{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-06-18","capabilities":{},"clientInfo":{"name":"http-test","version":"0"}}}"#;

/// The app and the observer it reports to.
fn app_with(config: &Config, observer: Observer) -> (Router, Arc<Observer>) {
    let server = support::server(config, observer);
    let app = http::router(&server, config, &CancellationToken::new());
    (app, server.observer().clone())
}

fn app(toml: &str) -> Router {
    app_with(&support::config(toml), Observer::without_tracing()).0
}

/// A POST to `/mcp` as an MCP client sends it.
fn post_mcp(host: &str, body: impl Into<Body>) -> Request<Body> {
    Request::post("/mcp")
        .header(header::HOST, host)
        .header(header::CONTENT_TYPE, "application/json")
        .header(header::ACCEPT, "application/json, text/event-stream")
        .body(body.into())
        .expect("request")
}

fn get(path: &str) -> Request<Body> {
    Request::get(path)
        .header(header::HOST, "localhost")
        .body(Body::empty())
        .expect("request")
}

struct Answer {
    status: StatusCode,
    headers: HeaderMap,
    body: String,
}

impl Answer {
    fn json(&self) -> Value {
        serde_json::from_str(&self.body).expect("a JSON body")
    }
}

/// Sends one request and reads the whole body (an SSE answer ends with its last event).
async fn send(app: &Router, request: Request<Body>) -> Answer {
    let response = app.clone().oneshot(request).await.expect("infallible");
    let (parts, body) = response.into_parts();
    let bytes = tokio::time::timeout(
        Duration::from_secs(5),
        axum::body::to_bytes(body, usize::MAX),
    )
    .await
    .expect("the body ends")
    .expect("body");
    Answer {
        status: parts.status,
        headers: parts.headers,
        body: String::from_utf8(bytes.to_vec()).expect("UTF-8 body"),
    }
}

/// The `error` of a JSON-RPC error body, after checking the envelope and the id.
fn jsonrpc_error(answer: &Answer, id: &Value) -> (i64, String) {
    let body = answer.json();
    assert_eq!(body["jsonrpc"], "2.0", "{body}");
    assert_eq!(&body["id"], id, "{body}");
    let code = body["error"]["code"].as_i64().expect("error.code");
    let message = body["error"]["message"].as_str().expect("error.message");
    (code, message.to_owned())
}

#[tokio::test]
async fn bytes_that_are_not_json_are_a_parse_error() {
    let answer = send(&app(""), post_mcp("localhost", "{not json")).await;
    assert_eq!(answer.status, StatusCode::BAD_REQUEST);
    let (code, message) = jsonrpc_error(&answer, &Value::Null);
    assert_eq!(code, -32700);
    assert!(message.starts_with("Parse error: "), "{message}");
}

#[tokio::test]
async fn json_that_is_not_json_rpc_is_an_invalid_request_with_its_id() {
    let answer = send(
        &app(""),
        post_mcp("localhost", r#"{"id":7,"hello":"world"}"#),
    )
    .await;
    assert_eq!(answer.status, StatusCode::BAD_REQUEST);
    let (code, message) = jsonrpc_error(&answer, &json!(7));
    assert_eq!(code, -32600);
    assert!(message.starts_with("Invalid Request: "), "{message}");
}

#[tokio::test]
async fn a_batch_is_checked_message_by_message() {
    let batch = json!([
        {"jsonrpc": "2.0", "method": "notifications/initialized"},
        {"jsonrpc": "2.0", "id": "second", "params": {}},
    ]);
    let answer = send(&app(""), post_mcp("localhost", batch.to_string())).await;
    assert_eq!(answer.status, StatusCode::BAD_REQUEST);
    let (code, _) = jsonrpc_error(&answer, &json!("second"));
    assert_eq!(code, -32600);
}

#[tokio::test]
async fn a_body_over_the_limit_is_413_with_a_json_rpc_error() {
    let app = app("max_body_bytes = 64");
    // Just over the limit (read and dropped) and far over it (reading stops at four times).
    for size in [65, 1000] {
        let body = json!({"jsonrpc": "2.0", "id": 1, "method": "x".repeat(size)}).to_string();
        let answer = send(&app, post_mcp("localhost", body)).await;
        assert_eq!(answer.status, StatusCode::PAYLOAD_TOO_LARGE, "{size}");
        let (code, message) = jsonrpc_error(&answer, &Value::Null);
        assert_eq!(code, -32600);
        assert_eq!(message, "request body is larger than 64 bytes");
    }
    // A valid message is refused the same way: the limit comes before parsing.
    let answer = send(&app, post_mcp("localhost", INITIALIZE)).await;
    assert_eq!(answer.status, StatusCode::PAYLOAD_TOO_LARGE);
}

#[tokio::test]
async fn a_valid_message_reaches_rmcp_and_a_session_delete_answers_204() {
    let app = app("");
    let answer = send(&app, post_mcp("localhost", INITIALIZE)).await;
    assert_eq!(answer.status, StatusCode::OK, "{}", answer.body);
    assert!(
        answer.body.contains(r#""name":"kubernetes-mcp-server""#),
        "{}",
        answer.body
    );
    let session = answer
        .headers
        .get("mcp-session-id")
        .expect("a session id")
        .clone();
    let delete = Request::delete("/mcp")
        .header(header::HOST, "localhost")
        .header("mcp-session-id", session)
        .body(Body::empty())
        .expect("request");
    let answer = send(&app, delete).await;
    assert_eq!(answer.status, StatusCode::NO_CONTENT, "{}", answer.body);
}

#[tokio::test]
async fn open_sessions_are_counted_and_an_abandoned_one_is_closed_after_the_idle_timeout() {
    let app = app("session_idle_timeout_seconds = 1");
    let open = |app: Router| async move {
        send(&app, get("/stats")).await.json()["open_sessions"].clone()
    };
    assert_eq!(
        open(app.clone()).await,
        json!({"sse": 0, "streamable_http": 0})
    );
    // A client that initializes and goes away without its DELETE.
    let answer = send(&app, post_mcp("localhost", INITIALIZE)).await;
    assert_eq!(answer.status, StatusCode::OK, "{}", answer.body);
    assert_eq!(open(app.clone()).await["streamable_http"], 1);
    let metrics = send(&app, get("/metrics")).await.body;
    assert!(
        metrics.contains("k8s_mcp_open_sessions{transport=\"streamable_http\"} 1"),
        "{metrics}"
    );
    let started = std::time::Instant::now();
    while open(app.clone()).await["streamable_http"] != 0 {
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "the abandoned session is still open"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(
        started.elapsed() >= Duration::from_millis(500),
        "closed before its timeout"
    );
}

#[tokio::test]
async fn a_session_used_only_for_tool_calls_outlives_the_idle_timeout_and_ends_after_it() {
    // Tool calls are answered outside rmcp's session worker: its idle timer must not be what
    // ends a session in use.
    let app = app("session_idle_timeout_seconds = 1");
    let answer = send(&app, post_mcp("localhost", INITIALIZE)).await;
    assert_eq!(answer.status, StatusCode::OK, "{}", answer.body);
    let session = answer
        .headers
        .get("mcp-session-id")
        .expect("a session id")
        .clone();
    let call = r#"{"jsonrpc":"2.0","id":2,"method":"tools/call","params":{"name":"no_such_tool","arguments":{}}}"#;
    let started = std::time::Instant::now();
    while started.elapsed() < Duration::from_millis(2500) {
        let mut request = post_mcp("localhost", call);
        request
            .headers_mut()
            .insert("mcp-session-id", session.clone());
        let answer = send(&app, request).await;
        assert_eq!(answer.status, StatusCode::OK, "{}", answer.body);
        assert!(
            answer.body.contains("unknown tool: no_such_tool"),
            "{}",
            answer.body
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    let unused = std::time::Instant::now();
    while send(&app, get("/stats")).await.json()["open_sessions"]["streamable_http"] != 0 {
        assert!(
            unused.elapsed() < Duration::from_secs(10),
            "the unused session is still open"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test]
async fn the_host_rule_follows_the_bind_address_and_allowed_hosts() {
    // (config, Host header, accepted)
    let cases = [
        // Bound to a routable address: reached by Service names it cannot know.
        ("", "mcp.team.svc", true),
        // Bound to loopback: only loopback names (DNS-rebinding guard).
        ("bind_address = \"127.0.0.1\"", "localhost:8080", true),
        ("bind_address = \"127.0.0.1\"", "evil.example", false),
        ("bind_address = \"localhost\"", "evil.example", false),
        // --allowed-hosts narrows any bind address, loopback names stay allowed.
        ("allowed_hosts = [\"mcp.example\"]", "mcp.example", true),
        ("allowed_hosts = [\"mcp.example\"]", "127.0.0.1", true),
        ("allowed_hosts = [\"mcp.example\"]", "evil.example", false),
        // `*` accepts any Host, even on loopback.
        (
            "bind_address = \"127.0.0.1\"\nallowed_hosts = [\"*\"]",
            "evil.example",
            true,
        ),
    ];
    for (toml, host, accepted) in cases {
        let answer = send(&app(toml), post_mcp(host, INITIALIZE)).await;
        let expected = if accepted {
            StatusCode::OK
        } else {
            StatusCode::FORBIDDEN
        };
        assert_eq!(
            answer.status, expected,
            "{toml:?} Host {host}: {}",
            answer.body
        );
        if !accepted {
            assert!(
                answer.body.contains("Host header is not allowed"),
                "{}",
                answer.body
            );
        }
    }
}

#[tokio::test]
async fn a_foreign_origin_is_refused_on_every_mcp_endpoint_whatever_the_bind_address() {
    for toml in ["", "bind_address = \"127.0.0.1\""] {
        let app = app(toml);
        let with_origin = |request: Request<Body>, origin: &str| {
            let (mut parts, body) = request.into_parts();
            parts
                .headers
                .insert(header::ORIGIN, origin.parse().expect("origin"));
            Request::from_parts(parts, body)
        };
        let requests = [
            with_origin(post_mcp("localhost", INITIALIZE), "http://evil.example"),
            with_origin(get("/sse"), "http://evil.example"),
            with_origin(
                Request::post("/message?sessionId=0")
                    .header(header::HOST, "localhost")
                    .header(header::CONTENT_TYPE, "application/json")
                    .body(Body::from(INITIALIZE))
                    .expect("request"),
                "http://evil.example",
            ),
        ];
        for request in requests {
            let path = request.uri().path().to_owned();
            let answer = send(&app, request).await;
            assert_eq!(answer.status, StatusCode::FORBIDDEN, "{toml:?} {path}");
            assert!(
                answer.body.contains("Origin header is not allowed"),
                "{}",
                answer.body
            );
        }
        // The MCP Inspector's page on localhost is a client like any other.
        let local = with_origin(post_mcp("localhost", INITIALIZE), "http://localhost:6274");
        assert_eq!(send(&app, local).await.status, StatusCode::OK, "{toml:?}");
    }
}

#[tokio::test]
async fn healthz_is_answered_outside_the_counted_and_traced_layer() {
    let app = app("");
    for _ in 0..3 {
        let answer = send(&app, get("/healthz")).await;
        assert_eq!(answer.status, StatusCode::OK);
        assert_eq!(answer.body, "ok");
    }
    // A request is counted once its answer exists, so /stats does not see itself.
    let stats = send(&app, get("/stats")).await.json();
    assert_eq!(stats["total_http_requests"], 0, "{stats}");
    assert_eq!(stats["http_requests_by_path"], json!({}), "{stats}");
}

#[tokio::test]
async fn stats_has_the_go_field_names_and_counts_every_other_request() {
    let app = app("");
    assert_eq!(
        send(&app, post_mcp("localhost", "[")).await.status,
        StatusCode::BAD_REQUEST
    );
    assert_eq!(
        send(&app, get("/no/such/path")).await.status,
        StatusCode::NOT_FOUND
    );
    let answer = send(&app, get("/stats")).await;
    assert_eq!(answer.status, StatusCode::OK);
    assert_eq!(
        answer.headers[header::CONTENT_TYPE],
        "application/json",
        "{:?}",
        answer.headers
    );
    let mut stats = answer.json();
    let uptime = stats["uptime_seconds"].as_f64().expect("uptime_seconds");
    assert!((0.0..60.0).contains(&uptime), "{stats}");
    assert!(stats["start_time_unix"].as_u64().expect("start_time_unix") > 1_700_000_000);
    let object = stats.as_object_mut().expect("an object");
    object.remove("uptime_seconds");
    object.remove("start_time_unix");
    assert_eq!(
        stats,
        json!({
            "total_tool_calls": 0,
            "tool_call_errors": 0,
            "tool_calls_by_name": {},
            "tool_errors_by_name": {},
            "total_http_requests": 2,
            "http_requests_by_path": {"/mcp": 1, "_unknown": 1},
            "http_requests_by_status": {"4xx": 2},
            "http_requests_by_method": {"GET": 1, "POST": 1},
            "open_sessions": {"sse": 0, "streamable_http": 0},
        })
    );
}

#[tokio::test]
async fn a_scan_of_paths_and_methods_adds_no_labels() {
    let app = app("");
    for n in 0..300 {
        assert_eq!(
            send(&app, get(&format!("/scan/{n}"))).await.status,
            StatusCode::NOT_FOUND
        );
    }
    let custom = Request::builder()
        .method("BREW")
        .uri("/mcp")
        .body(Body::empty())
        .expect("a request");
    send(&app, custom).await;
    let stats = send(&app, get("/stats")).await.json();
    assert_eq!(
        stats["http_requests_by_path"],
        json!({"_unknown": 300, "/mcp": 1}),
        "{stats}"
    );
    assert_eq!(
        stats["http_requests_by_method"],
        json!({"GET": 300, "_OTHER": 1}),
        "{stats}"
    );
    let metrics = send(&app, get("/metrics")).await.body;
    let series = metrics
        .lines()
        .filter(|line| line.starts_with("k8s_mcp_http_requests_total{"))
        .count();
    // The scan, the made-up method and the /stats read above: nothing per path.
    assert_eq!(series, 3, "{metrics}");
}

#[tokio::test]
async fn metrics_are_prometheus_text_unless_openmetrics_is_asked_for() {
    let app = app("");
    assert_eq!(
        send(&app, get("/no/such/path")).await.status,
        StatusCode::NOT_FOUND
    );
    let answer = send(&app, get("/metrics")).await;
    assert_eq!(answer.status, StatusCode::OK);
    assert_eq!(answer.headers[header::CONTENT_TYPE], PROMETHEUS_TEXT);
    assert!(
        answer.body.contains(
            r#"k8s_mcp_http_requests_total{http_request_method="GET",url_path="_unknown",http_response_status_class="4xx"} 1"#
        ),
        "{}",
        answer.body
    );
    assert!(
        answer.body.contains("k8s_mcp_server_info{"),
        "{}",
        answer.body
    );
    assert!(!answer.body.contains("# EOF"), "{}", answer.body);

    let openmetrics = Request::get("/metrics")
        .header(
            header::ACCEPT,
            "application/openmetrics-text;version=1.0.0,text/plain;q=0.5",
        )
        .body(Body::empty())
        .expect("request");
    let answer = send(&app, openmetrics).await;
    assert_eq!(answer.headers[header::CONTENT_TYPE], OPENMETRICS);
    assert!(answer.body.ends_with("# EOF\n"), "{}", answer.body);
    assert!(
        answer.body.contains(r#"url_path="/metrics""#),
        "the first /metrics request is counted by now: {}",
        answer.body
    );
}

#[tokio::test]
async fn with_a_metrics_port_stats_and_metrics_leave_the_main_app() {
    let config = support::config("metrics_port = 9091");
    let (main, observer) = app_with(&config, Observer::without_tracing());
    for path in ["/stats", "/metrics"] {
        assert_eq!(
            send(&main, get(path)).await.status,
            StatusCode::NOT_FOUND,
            "{path}"
        );
    }
    assert_eq!(send(&main, get("/healthz")).await.status, StatusCode::OK);

    let observability = http::observability_router(observer);
    for path in ["/stats", "/metrics", "/healthz"] {
        assert_eq!(
            send(&observability, get(path)).await.status,
            StatusCode::OK,
            "{path}"
        );
    }
    let stats = send(&observability, get("/stats")).await.json();
    assert_eq!(
        stats["http_requests_by_path"],
        json!({"_unknown": 2}),
        "the main app counts its 404s under one label of the shared observer: {stats}"
    );
}

/// `--stateless` answers a plain tool call before rmcp; rmcp answers and checks the rest. Both
/// answers of the same call must be the same.
#[tokio::test]
async fn a_stateless_call_is_answered_alike_before_rmcp_and_by_it_and_rmcp_checks_the_rest() {
    let app = app("stateless = true");
    for (id, name) in [(5, "namespaces_list"), (6, "no_such_tool")] {
        let call = json!({"jsonrpc": "2.0", "id": id, "method": "tools/call",
            "params": {"name": name, "arguments": {}}})
        .to_string();
        let plain = send(&app, post_mcp("localhost", call.clone())).await;
        // A media type with a parameter is not plain: rmcp parses it and answers.
        let mut by_rmcp = post_mcp("localhost", call);
        by_rmcp.headers_mut().insert(
            header::ACCEPT,
            "application/json;q=1, text/event-stream;q=1"
                .parse()
                .expect("header"),
        );
        let by_rmcp = send(&app, by_rmcp).await;
        for answer in [&plain, &by_rmcp] {
            assert_eq!(answer.status, StatusCode::OK, "{}", answer.body);
            assert_eq!(
                answer.headers.get(header::CONTENT_TYPE).expect("a type"),
                "application/json"
            );
        }
        assert_eq!(plain.json(), by_rmcp.json());
        assert_eq!(plain.json()["id"], id, "{}", plain.body);
    }
    // A protocol version the server does not know is refused, by rmcp.
    let call = json!({"jsonrpc": "2.0", "id": 7, "method": "tools/call",
        "params": {"name": "namespaces_list", "arguments": {}}});
    let mut request = post_mcp("localhost", call.to_string());
    request.headers_mut().insert(
        "mcp-protocol-version",
        "1999-01-01".parse().expect("header"),
    );
    let answer = send(&app, request).await;
    assert_eq!(answer.status, StatusCode::BAD_REQUEST, "{}", answer.body);
}

/// The stateless mode answers a tool call with plain JSON, so one POST carries the whole call.
#[tokio::test]
async fn an_http_tool_call_is_a_child_of_its_request_span_in_the_callers_trace() {
    const TRACE: &str = "4bf92f3577b34da6a3ce929d0e0e4736";
    const CALLER: &str = "00f067aa0ba902b7";
    let receiver = Receiver::start().await;
    let config = support::config("stateless = true");
    let (app, observer) = app_with(&config, receiver.observer().await);
    let call = json!({"jsonrpc": "2.0", "id": 3, "method": "tools/call",
        "params": {"name": "namespaces_list", "arguments": {}}});
    let mut request = post_mcp("localhost", call.to_string());
    request.headers_mut().insert(
        "traceparent",
        format!("00-{TRACE}-{CALLER}-01").parse().expect("header"),
    );
    let answer = send(&app, request).await;
    assert_eq!(answer.status, StatusCode::OK, "{}", answer.body);
    let result = answer.json();
    assert_eq!(result["result"]["isError"], true, "{result}");
    assert_eq!(send(&app, get("/healthz")).await.status, StatusCode::OK);

    observer.shutdown().await;
    let spans = receiver.spans();
    let http_span = otlp::only(&spans, "POST /mcp");
    assert_eq!(http_span.trace_id, TRACE);
    assert_eq!(http_span.parent_span_id, CALLER);
    assert_eq!(
        http_span.attribute("http.response.status_code"),
        Some("200")
    );
    assert_eq!(http_span.attribute("url.scheme"), Some("http"));
    assert_eq!(http_span.attribute("server.address"), Some("localhost"));
    let tool_span = otlp::only(&spans, "tools/call namespaces_list");
    assert_eq!(tool_span.trace_id, TRACE);
    assert_eq!(tool_span.parent_span_id, http_span.span_id);
    assert_eq!(tool_span.attribute("network.transport"), Some("tcp"));
    assert_eq!(tool_span.attribute("error.type"), Some("tool_error"));
    assert!(
        spans.iter().all(|s| !s.name.contains("healthz")),
        "/healthz is never traced: {spans:#?}"
    );
}
