//! The HTTP application: streamable HTTP at `/mcp` (rmcp), legacy SSE at `/sse` + `/message`,
//! and `/healthz`, built in one place so tests can drive it with `oneshot`. No I/O until served.

use std::net::IpAddr;
use std::sync::Arc;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::routing::{get, post};
use rmcp::transport::streamable_http_server::session::local::LocalSessionManager;
use rmcp::transport::streamable_http_server::{StreamableHttpServerConfig, StreamableHttpService};
use tokio_util::sync::CancellationToken;

use crate::config::Config;
use crate::mcp::McpServer;
use crate::sse::{self, SseSessions};

/// Upper bound on concurrent legacy SSE sessions.
const MAX_SSE_SESSIONS: usize = 1024;

/// The whole HTTP app.
pub fn router(server: McpServer, config: &Config, shutdown: &CancellationToken) -> Router {
    let mcp = StreamableHttpService::new(
        {
            let server = server.clone();
            move || Ok(server.clone())
        },
        Arc::new(LocalSessionManager::default()),
        streamable_config(config, shutdown.child_token()),
    );
    let sessions = SseSessions::new(server, MAX_SSE_SESSIONS, shutdown.child_token());
    Router::new()
        .nest_service("/mcp", mcp)
        .route("/sse", get(sse::connect))
        .route("/message", post(sse::message))
        .with_state(sessions)
        .layer(DefaultBodyLimit::max(config.max_body_bytes))
        .route("/healthz", get(|| async { "ok" }))
}

fn streamable_config(config: &Config, cancel: CancellationToken) -> StreamableHttpServerConfig {
    let base = StreamableHttpServerConfig::default()
        .with_legacy_session_mode(!config.stateless)
        .with_json_response(config.stateless)
        .with_max_request_body_bytes(config.max_body_bytes)
        .with_cancellation_token(cancel);
    // DNS-rebinding guard: a server bound to loopback accepts only loopback Host headers (rmcp's
    // default); one bound to a routable address is reached by Service names it cannot know, so
    // it accepts any Host unless --allowed-hosts narrows it.
    if config.allowed_hosts.iter().any(|h| h == "*") {
        base.disable_allowed_hosts()
    } else if !config.allowed_hosts.is_empty() {
        let mut hosts = vec![
            "localhost".to_owned(),
            "127.0.0.1".to_owned(),
            "::1".to_owned(),
        ];
        hosts.extend(config.allowed_hosts.iter().cloned());
        base.with_allowed_hosts(hosts)
    } else if is_loopback(&config.bind_address) {
        base
    } else {
        base.disable_allowed_hosts()
    }
}

fn is_loopback(bind_address: &str) -> bool {
    bind_address == "localhost"
        || bind_address
            .parse::<IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
}
