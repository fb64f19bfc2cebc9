//! Streamable HTTP sessions: rmcp's local session manager, except that a session's `tools/call`
//! that can never ask the client anything is answered in the HTTP request's own task. Through
//! the session worker a call is handed from the request to the worker, the session's serve loop
//! and a task of its own, and its answer back the same way; on a few cores those hand-offs cost
//! more than the rest of a small call. The idle timeout is kept here, since rmcp's own timer
//! only sees what passes its session worker. With `--stateless`, rmcp starts an MCP service of
//! two tasks for each request; a plain `tools/call` is answered before it instead.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock, PoisonError, Weak};
use std::time::{Duration, Instant};

use axum::extract::{Request, State};
use axum::http::{HeaderMap, header};
use axum::middleware::Next;
use axum::response::{IntoResponse as _, Response};
use futures::{Stream, StreamExt as _, stream};
use rmcp::model::{ClientJsonRpcMessage, ProtocolVersion, ServerJsonRpcMessage};
use rmcp::transport::streamable_http_server::SessionManager;
use rmcp::transport::streamable_http_server::session::local::{
    LocalSessionManager, LocalSessionManagerError,
};
use rmcp::transport::streamable_http_server::session::{
    EventStore, RestoreOutcome, ServerSseMessage, SessionId,
};

use tokio_util::sync::CancellationToken;

use crate::http::ParsedRequest;
use crate::mcp::{McpServer, Route};

pub struct Sessions {
    local: Arc<LocalSessionManager>,
    server: McpServer,
    idle: Option<IdleTimeout>,
}

/// Closes a session no request has used for `after`.
struct IdleTimeout {
    after: Duration,
    last_used: Arc<Mutex<HashMap<SessionId, Instant>>>,
    /// Started with the first session, stopped by `shutdown` or with the sessions.
    closer: OnceLock<()>,
    shutdown: CancellationToken,
}

impl Sessions {
    /// Sessions that end after `idle_timeout` without a request (`None`: only on DELETE or
    /// shutdown).
    pub fn new(
        server: McpServer,
        idle_timeout: Option<Duration>,
        shutdown: CancellationToken,
    ) -> Self {
        let mut local = LocalSessionManager::default();
        local.session_config.keep_alive = None;
        Self {
            local: Arc::new(local),
            server,
            idle: idle_timeout.map(|after| IdleTimeout {
                after,
                last_used: Arc::default(),
                closer: OnceLock::new(),
                shutdown,
            }),
        }
    }

    fn used(&self, id: &SessionId) {
        if let Some(idle) = &self.idle {
            idle.last_used
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .insert(id.clone(), Instant::now());
        }
    }

    /// The number of open sessions, if known without waiting.
    pub fn count(&self) -> Option<u64> {
        self.local.sessions.try_read().ok().map(|s| s.len() as u64)
    }
}

impl SessionManager for Sessions {
    type Error = LocalSessionManagerError;
    type Transport = <LocalSessionManager as SessionManager>::Transport;

    async fn create_session(&self) -> Result<(SessionId, Self::Transport), Self::Error> {
        let (id, transport) = self.local.create_session().await?;
        if let Some(idle) = &self.idle {
            idle.closer.get_or_init(|| {
                tokio::spawn(close_idle(
                    Arc::downgrade(&self.local),
                    idle.last_used.clone(),
                    idle.after,
                    idle.shutdown.clone(),
                ));
            });
        }
        self.used(&id);
        Ok((id, transport))
    }

    async fn initialize_session(
        &self,
        id: &SessionId,
        message: ClientJsonRpcMessage,
    ) -> Result<ServerJsonRpcMessage, Self::Error> {
        self.local.initialize_session(id, message).await
    }

    /// Asked first by every request that names a session: a use of it.
    async fn has_session(&self, id: &SessionId) -> Result<bool, Self::Error> {
        let open = self.local.has_session(id).await?;
        if open {
            self.used(id);
        }
        Ok(open)
    }

    async fn close_session(&self, id: &SessionId) -> Result<(), Self::Error> {
        if let Some(idle) = &self.idle {
            idle.last_used
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .remove(id);
        }
        self.local.close_session(id).await
    }

    async fn create_stream(
        &self,
        id: &SessionId,
        message: ClientJsonRpcMessage,
    ) -> Result<impl Stream<Item = ServerSseMessage> + Send + Sync + 'static, Self::Error> {
        Ok(match self.server.route(message) {
            Route::Here(call) => {
                let answer = self.server.call_directly(call).await;
                // A call may run longer than the idle timeout.
                self.used(id);
                stream::iter([ServerSseMessage::from_message(answer)]).left_stream()
            }
            Route::Session(message) => self.local.create_stream(id, message).await?.right_stream(),
        })
    }

    async fn accept_message(
        &self,
        id: &SessionId,
        message: ClientJsonRpcMessage,
    ) -> Result<(), Self::Error> {
        self.local.accept_message(id, message).await
    }

    async fn create_standalone_stream(
        &self,
        id: &SessionId,
    ) -> Result<impl Stream<Item = ServerSseMessage> + Send + Sync + 'static, Self::Error> {
        self.local.create_standalone_stream(id).await
    }

    async fn resume(
        &self,
        id: &SessionId,
        last_event_id: String,
    ) -> Result<impl Stream<Item = ServerSseMessage> + Send + Sync + 'static, Self::Error> {
        self.local.resume(id, last_event_id).await
    }

    async fn restore_session(
        &self,
        id: SessionId,
    ) -> Result<RestoreOutcome<Self::Transport>, Self::Error> {
        self.local.restore_session(id).await
    }

    fn event_store(&self) -> Option<Arc<dyn EventStore>> {
        self.local.event_store()
    }
}

/// `--stateless` `POST /mcp`: answers a plain `tools/call` (see [`plain_request`]) here, as rmcp
/// would with `json_response`: HTTP 200, the JSON-RPC answer as `application/json`. Anything
/// else goes on to rmcp, which checks and answers it.
pub async fn answer_stateless_call(
    State(server): State<McpServer>,
    request: Request,
    next: Next,
) -> Response {
    if !plain_request(request.headers()) {
        return next.run(request).await;
    }
    let (mut parts, body) = request.into_parts();
    let Some(ParsedRequest(request)) = parts.extensions.remove::<ParsedRequest>() else {
        return next.run(Request::from_parts(parts, body)).await;
    };
    // Not answered here: rmcp reads the body again.
    let Route::Here(mut call) = server.route(ClientJsonRpcMessage::Request(request)) else {
        return next.run(Request::from_parts(parts, body)).await;
    };
    call.insert_extension(parts);
    axum::Json(server.call_directly(call).await).into_response()
}

/// Headers with nothing for rmcp to check beyond what [`answer_stateless_call`] does: the client
/// accepts JSON and event streams, sends JSON, names no protocol version or a known one before
/// 2026-07-28 (the session-less lifecycle, with its own result shape), and sends no other
/// `Mcp-*` header (SEP-2243 method and parameter headers, a session id).
fn plain_request(headers: &HeaderMap) -> bool {
    let accepts = |essence: &str| {
        headers
            .get_all(header::ACCEPT)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(','))
            .any(|media| media.trim().eq_ignore_ascii_case(essence))
    };
    let sends_json = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| {
            v.split(';')
                .next()
                .is_some_and(|essence| essence.trim().eq_ignore_ascii_case("application/json"))
        });
    let known_version = headers.get_all("mcp-protocol-version").iter().all(|v| {
        v.to_str().is_ok_and(|v| {
            v < ProtocolVersion::V_2026_07_28.as_str()
                && ProtocolVersion::KNOWN_VERSIONS
                    .iter()
                    .any(|known| known.as_str() == v)
        })
    });
    let other_mcp_header = headers
        .keys()
        .any(|name| name.as_str().starts_with("mcp-") && name.as_str() != "mcp-protocol-version");
    accepts("application/json")
        && accepts("text/event-stream")
        && sends_json
        && known_version
        && !other_mcp_header
}

/// Every quarter of the timeout, closes the sessions unused for longer than it.
async fn close_idle(
    local: Weak<LocalSessionManager>,
    last_used: Arc<Mutex<HashMap<SessionId, Instant>>>,
    after: Duration,
    shutdown: CancellationToken,
) {
    let mut tick = tokio::time::interval((after / 4).max(Duration::from_millis(1)));
    loop {
        tokio::select! {
            () = shutdown.cancelled() => return,
            _ = tick.tick() => {}
        }
        let Some(local) = local.upgrade() else {
            return;
        };
        let idle: Vec<SessionId> = last_used
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .extract_if(|_, used| used.elapsed() > after)
            .map(|(id, _)| id)
            .collect();
        for id in idle {
            if let Err(error) = local.close_session(&id).await {
                tracing::warn!(%id, %error, "closing an idle session failed");
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
        pairs
            .iter()
            .map(|(name, value)| {
                (
                    header::HeaderName::from_static(name),
                    header::HeaderValue::from_static(value),
                )
            })
            .collect()
    }

    const ACCEPT: (&str, &str) = ("accept", "application/json, text/event-stream");
    const JSON: (&str, &str) = ("content-type", "application/json");

    #[test]
    fn only_requests_with_nothing_left_for_rmcp_to_check_are_plain() {
        assert!(plain_request(&headers(&[ACCEPT, JSON])));
        assert!(plain_request(&headers(&[
            ("accept", "text/event-stream , Application/JSON"),
            ("content-type", "application/json; charset=utf-8"),
            ("mcp-protocol-version", "2025-06-18"),
        ])));
        for not_plain in [
            headers(&[JSON]),
            headers(&[("accept", "application/json"), JSON]),
            headers(&[("accept", "application/json;q=0, text/event-stream"), JSON]),
            headers(&[ACCEPT]),
            headers(&[ACCEPT, ("content-type", "text/plain")]),
            headers(&[ACCEPT, JSON, ("mcp-protocol-version", "1999-01-01")]),
            headers(&[ACCEPT, JSON, ("mcp-protocol-version", "2026-07-28")]),
            headers(&[ACCEPT, JSON, ("mcp-method", "tools/call")]),
            headers(&[ACCEPT, JSON, ("mcp-name", "pods_list")]),
            headers(&[ACCEPT, JSON, ("mcp-session-id", "abc")]),
        ] {
            assert!(!plain_request(&not_plain), "{not_plain:?}");
        }
    }
}
