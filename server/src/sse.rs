//! The legacy HTTP+SSE transport (MCP 2024-11-05), which rmcp no longer ships: `GET /sse` opens
//! an event stream whose first event, `endpoint`, names `/message?sessionId=…`; each `POST` there
//! carries one JSON-RPC message (202 Accepted) whose answer arrives on the stream. Sessions and
//! their queues are bounded; a session ends when its stream closes. Does network I/O.

use std::collections::HashMap;
use std::convert::Infallible;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use axum::Extension;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use futures::channel::mpsc;
use futures::{SinkExt as _, Stream, StreamExt as _};
use rmcp::ServiceExt as _;
use rmcp::model::{ClientJsonRpcMessage, ServerJsonRpcMessage};
use serde::Deserialize;
use serde_json::Value;
use tokio_util::sync::CancellationToken;

use crate::auth::Caller;
use crate::jsonrpc::jsonrpc_error;
use crate::mcp::{McpServer, Route};
use crate::observe::HttpContext;

/// Messages waiting for a slow peer, per direction and session, before senders wait.
const QUEUE: usize = 32;

/// Open SSE sessions: session id → its queues.
#[derive(Clone)]
pub struct SseSessions {
    inner: Arc<Mutex<HashMap<String, Queues>>>,
    max_sessions: usize,
    server: McpServer,
    shutdown: CancellationToken,
}

impl SseSessions {
    pub fn new(server: McpServer, max_sessions: usize, shutdown: CancellationToken) -> Self {
        Self {
            inner: Arc::default(),
            max_sessions,
            server,
            shutdown,
        }
    }

    /// How many sessions are open.
    pub fn count(&self) -> u64 {
        self.sessions().len() as u64
    }

    fn sessions(&self) -> std::sync::MutexGuard<'_, HashMap<String, Queues>> {
        // A panic while holding this lock cannot leave the map half-changed: recover it.
        self.inner
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

/// A session's queues: into its MCP service, and onto its event stream (the answers of the
/// tool calls answered outside the service, once the service has answered `initialize`).
#[derive(Clone)]
struct Queues {
    to_server: mpsc::Sender<ClientJsonRpcMessage>,
    to_client: mpsc::Sender<ServerJsonRpcMessage>,
    initialized: Arc<AtomicBool>,
}

/// Removes the session and stops its service when the client's stream goes away.
struct SessionGuard {
    id: String,
    sessions: SseSessions,
    cancel: CancellationToken,
}

impl Drop for SessionGuard {
    fn drop(&mut self) {
        self.sessions.sessions().remove(&self.id);
        self.cancel.cancel();
    }
}

/// `GET /sse`
pub async fn connect(State(sessions): State<SseSessions>) -> Response {
    let Some(id) = session_id() else {
        return (
            StatusCode::SERVICE_UNAVAILABLE,
            "no randomness for a session id",
        )
            .into_response();
    };
    let (to_server, from_client) = mpsc::channel::<ClientJsonRpcMessage>(QUEUE);
    let (to_client, from_server) = mpsc::channel::<ServerJsonRpcMessage>(QUEUE);
    let initialized = Arc::new(AtomicBool::new(false));
    {
        let mut open = sessions.sessions();
        if open.len() >= sessions.max_sessions {
            return (StatusCode::SERVICE_UNAVAILABLE, "too many SSE sessions").into_response();
        }
        open.insert(
            id.clone(),
            Queues {
                to_server,
                to_client: to_client.clone(),
                initialized: initialized.clone(),
            },
        );
    }
    let cancel = sessions.shutdown.child_token();
    let server = sessions.server.clone();
    let service_cancel = cancel.clone();
    tokio::spawn(async move {
        match server
            .serve_with_ct((to_client, from_client), service_cancel)
            .await
        {
            Ok(running) => {
                initialized.store(true, Ordering::Release);
                let _ = running.waiting().await;
            }
            Err(e) => tracing::debug!(error = %e, "SSE session ended before initialize"),
        }
    });
    let guard = SessionGuard {
        id,
        sessions,
        cancel,
    };
    Sse::new(events(from_server, guard))
        .keep_alive(KeepAlive::default())
        .into_response()
}

fn events(
    from_server: mpsc::Receiver<ServerJsonRpcMessage>,
    guard: SessionGuard,
) -> impl Stream<Item = Result<Event, Infallible>> {
    let endpoint = Event::default()
        .event("endpoint")
        .data(format!("/message?sessionId={}", guard.id));
    let cancelled = guard.cancel.clone().cancelled_owned();
    let messages = from_server
        .map(move |message| {
            // The guard lives as long as the stream: dropping the stream ends the session.
            let _ = &guard;
            let data = serde_json::to_string(&message).unwrap_or_default();
            Ok(Event::default().event("message").data(data))
        })
        .take_until(cancelled);
    futures::stream::once(async move { Ok(endpoint) }).chain(messages)
}

#[derive(Deserialize)]
pub struct MessageQuery {
    #[serde(rename = "sessionId")]
    session_id: Option<String>,
}

/// `POST /message?sessionId=…`
pub async fn message(
    State(sessions): State<SseSessions>,
    Query(query): Query<MessageQuery>,
    http_context: Option<Extension<HttpContext>>,
    caller: Option<Extension<Caller>>,
    body: axum::body::Bytes,
) -> Response {
    let Some(id) = query.session_id else {
        return (StatusCode::BAD_REQUEST, "missing sessionId query parameter").into_response();
    };
    let parsed = serde_json::from_slice::<Value>(&body).and_then(|mut value| {
        if let Some(Extension(HttpContext(cx))) = &http_context
            && sessions.server.observer().tracing_enabled()
        {
            carry_trace_context(&mut value, &sessions.server.observer().inject(cx));
        }
        serde_json::from_value::<ClientJsonRpcMessage>(value)
    });
    let mut message = match parsed {
        Ok(m) => m,
        Err(e) => {
            return jsonrpc_error(
                StatusCode::BAD_REQUEST,
                &serde_json::Value::Null,
                -32700,
                &format!("Parse error: {e}"),
            );
        }
    };
    // The caller of this POST (not of the stream) is who the call acts as.
    if let Some(Extension(caller)) = caller {
        message.insert_extension(caller);
    }
    let queues = sessions.sessions().get(&id).cloned();
    let Some(Queues {
        mut to_server,
        mut to_client,
        initialized,
    }) = queues
    else {
        return (StatusCode::NOT_FOUND, "unknown or closed session").into_response();
    };
    let route = if initialized.load(Ordering::Acquire) {
        sessions.server.route(message)
    } else {
        Route::Session(message)
    };
    let message = match route {
        Route::Here(call) => {
            // Answered in a task of its own, not through the session's service (four task
            // hand-offs less); the POST is acknowledged at once, as for any message.
            let server = sessions.server.clone();
            tokio::spawn(async move {
                let answer = server.call_directly(call).await;
                // The stream may have closed meanwhile: then nobody waits for the answer.
                let _ = to_client.send(answer).await;
            });
            return StatusCode::ACCEPTED.into_response();
        }
        Route::Session(message) => message,
    };
    match to_server.send(message).await {
        Ok(()) => StatusCode::ACCEPTED.into_response(),
        Err(_) => (StatusCode::GONE, "session closed").into_response(),
    }
}

/// The answer arrives in the session's own task, not this request's: the message carries the
/// HTTP span's context in `params._meta` (unless the client put one there), so the tool span
/// becomes its child, as on streamable HTTP.
fn carry_trace_context(message: &mut Value, carrier: &std::collections::HashMap<String, String>) {
    let Some(params) = message.get_mut("params").and_then(Value::as_object_mut) else {
        return;
    };
    let meta = params
        .entry("_meta")
        .or_insert_with(|| Value::Object(serde_json::Map::new()));
    if let Some(meta) = meta.as_object_mut()
        && !meta.contains_key("traceparent")
    {
        for (key, value) in carrier {
            meta.insert(key.clone(), Value::String(value.clone()));
        }
    }
}

/// 128 bits from the operating system's CSPRNG, as hex: unguessable, so one client cannot post
/// into another's session. Without randomness the server cannot keep sessions apart: `None`.
fn session_id() -> Option<String> {
    use ring::rand::SecureRandom as _;
    let mut bytes = [0u8; 16];
    ring::rand::SystemRandom::new().fill(&mut bytes).ok()?;
    Some(format!("{:032x}", u128::from_be_bytes(bytes)))
}
