//! The HTTP side of authentication: the layer in front of `/mcp`, `/sse` and `/message` that
//! admits a caller or answers 401 (with `WWW-Authenticate: Bearer resource_metadata="…"`), 403
//! or 503 with a JSON-RPC error body, and the RFC 9728 protected-resource metadata document at
//! `/.well-known/oauth-protected-resource` (also under `/mcp` and `/sse`, the path-suffixed form
//! MCP clients try first). Pure apart from the reviews the layer awaits.

use std::sync::Arc;

use axum::Router;
use axum::extract::{Request, State};
use axum::http::header::{AUTHORIZATION, HOST, WWW_AUTHENTICATE};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use serde_json::{Value, json};

use super::{Authenticator, Refusal};
use crate::config::auth::AuthSettings;
use crate::jsonrpc::jsonrpc_error;

/// Where the protected-resource metadata lives (RFC 9728 §3).
pub const METADATA_PATH: &str = "/.well-known/oauth-protected-resource";

/// What the layer and the metadata routes share: the authenticator and the listener's scheme.
#[derive(Clone)]
pub struct Gate {
    pub authenticator: Arc<Authenticator>,
    pub scheme: &'static str,
}

/// The layer: admits the caller (into the request's extensions) or refuses the request.
pub async fn require_caller(
    State(gate): State<Gate>,
    mut request: Request,
    next: Next,
) -> Response {
    let Some(token) = bearer_token(request.headers()) else {
        return unauthorized(&gate, request.headers(), None);
    };
    match gate.authenticator.admit(token).await {
        Ok(caller) => {
            request.extensions_mut().insert(caller);
            next.run(request).await
        }
        Err(Refusal::Unauthenticated(reason)) => {
            tracing::info!(%reason, "refused a bearer token");
            unauthorized(&gate, request.headers(), Some(&reason))
        }
        Err(Refusal::Forbidden { username, rule }) => jsonrpc_error(
            StatusCode::FORBIDDEN,
            &Value::Null,
            -32003,
            &format!(
                "Forbidden: user {username:?} cannot {} (grant it with RBAC: verbs [{}], apiGroups \
                 [kubernetes-mcp.io], resources [mcpservers], resourceNames [{}])",
                rule.describe(),
                rule.verb,
                rule.name
            ),
        ),
        Err(Refusal::Unavailable(error)) => {
            tracing::warn!(%error, "cannot review a caller");
            jsonrpc_error(
                StatusCode::SERVICE_UNAVAILABLE,
                &Value::Null,
                -32002,
                &format!("the server cannot check callers right now: {error}"),
            )
        }
    }
}

/// The token of `Authorization: Bearer TOKEN` (scheme case-insensitive), if there is one.
pub fn bearer_token(headers: &HeaderMap) -> Option<&str> {
    let value = headers.get(AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = value.split_once(' ')?;
    let token = token.trim();
    (scheme.eq_ignore_ascii_case("bearer") && !token.is_empty()).then_some(token)
}

/// 401 with the challenge that sends MCP clients to the metadata (RFC 9728 §5.1); `error` only
/// when a token was presented (RFC 6750 §3.1).
fn unauthorized(gate: &Gate, headers: &HeaderMap, reason: Option<&str>) -> Response {
    let base = base_url(gate.authenticator.settings(), headers, gate.scheme);
    let mut challenge = format!("Bearer resource_metadata=\"{base}{METADATA_PATH}\"");
    if reason.is_some() {
        challenge.push_str(", error=\"invalid_token\"");
    }
    let message = match reason {
        None => "Unauthorized: this server needs an Authorization: Bearer token".to_owned(),
        Some(reason) => format!("Unauthorized: {reason}"),
    };
    let mut response = jsonrpc_error(StatusCode::UNAUTHORIZED, &Value::Null, -32001, &message);
    if let Ok(value) = HeaderValue::from_str(&challenge) {
        response.headers_mut().insert(WWW_AUTHENTICATE, value);
    }
    response
}

/// `GET /.well-known/oauth-protected-resource[/mcp|/sse]`, open to everyone.
pub fn metadata_routes(gate: Gate) -> Router {
    let paths = [
        METADATA_PATH.to_owned(),
        format!("{METADATA_PATH}/mcp"),
        format!("{METADATA_PATH}/sse"),
    ];
    paths
        .iter()
        .fold(Router::new(), |router, path| {
            router.route(path, get(metadata))
        })
        .with_state(gate)
}

async fn metadata(State(gate): State<Gate>, headers: HeaderMap) -> Response {
    let settings = gate.authenticator.settings();
    axum::Json(metadata_document(
        settings,
        &base_url(settings, &headers, gate.scheme),
    ))
    .into_response()
}

/// The RFC 9728 document: the resource is the `/mcp` endpoint under the server's base URL.
pub fn metadata_document(settings: &AuthSettings, base: &str) -> Value {
    let mut document = json!({
        "resource": format!("{base}/mcp"),
        "bearer_methods_supported": ["header"],
        "resource_name": crate::SERVER_NAME,
    });
    if !settings.authorization_servers.is_empty() {
        document["authorization_servers"] = json!(settings.authorization_servers);
    }
    document
}

/// `server_url`, else the scheme and Host this request came with (a Host that is not a plain
/// host[:port] falls back to `localhost`, so it can never break the quoted challenge).
fn base_url(settings: &AuthSettings, headers: &HeaderMap, scheme: &str) -> String {
    if let Some(url) = &settings.server_url {
        return url.clone();
    }
    let host = headers
        .get(HOST)
        .and_then(|h| h.to_str().ok())
        .filter(|h| {
            !h.is_empty()
                && h.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b".-:[]".contains(&b))
        })
        .unwrap_or("localhost");
    format!("{scheme}://{host}")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::auth::ClusterAuthMode;

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        pairs
            .iter()
            .map(|(k, v)| {
                (
                    axum::http::HeaderName::from_static(k),
                    HeaderValue::from_str(v).unwrap(),
                )
            })
            .collect()
    }

    fn settings(server_url: Option<&str>, servers: &[&str]) -> AuthSettings {
        AuthSettings {
            audience: "aud".into(),
            authorization_servers: servers.iter().map(|s| (*s).to_owned()).collect(),
            server_url: server_url.map(str::to_owned),
            mode: ClusterAuthMode::Kubeconfig,
            access: None,
        }
    }

    #[test]
    fn bearer_tokens_are_parsed_strictly() {
        let token = |v: &str| bearer_token(&headers(&[("authorization", v)])).map(str::to_owned);
        assert_eq!(token("Bearer abc").as_deref(), Some("abc"));
        assert_eq!(token("bearer  abc ").as_deref(), Some("abc"));
        assert_eq!(token("Basic abc"), None);
        assert_eq!(token("Bearer "), None);
        assert_eq!(token("Bearer"), None);
        assert_eq!(bearer_token(&HeaderMap::new()), None);
    }

    #[test]
    fn the_metadata_names_the_resource_and_the_authorization_servers() {
        let open = settings(None, &[]);
        let base = base_url(&open, &headers(&[("host", "127.0.0.1:8080")]), "http");
        assert_eq!(base, "http://127.0.0.1:8080");
        assert_eq!(
            metadata_document(&open, &base),
            json!({"resource": "http://127.0.0.1:8080/mcp", "bearer_methods_supported": ["header"],
                   "resource_name": "kubernetes-mcp-server"})
        );
        let public = settings(
            Some("https://mcp.example.com"),
            &["https://issuer.example.com"],
        );
        let base = base_url(&public, &headers(&[("host", "ignored")]), "http");
        let document = metadata_document(&public, &base);
        assert_eq!(document["resource"], "https://mcp.example.com/mcp");
        assert_eq!(
            document["authorization_servers"],
            json!(["https://issuer.example.com"])
        );
    }

    /// The whole app, auth on, no cluster: what is decided before any review.
    async fn get(uri: &str, authorization: Option<&str>) -> Response {
        use tower::ServiceExt as _;
        let config = crate::config::Config::from_toml(
            "port = 8080\nrequire_oauth = true\noauth_audience = \"aud\"",
            crate::config::Flags::default(),
        )
        .unwrap();
        let cluster = Arc::new(crate::cluster::Cluster::discover(
            crate::config::ClusterProvider::None,
            None,
        ));
        let observer = Arc::new(crate::observe::Observer::without_tracing());
        let server = crate::mcp::McpServer::new(&config, cluster, observer, None);
        let app = crate::http::router(
            &server,
            &config,
            &tokio_util::sync::CancellationToken::new(),
        );
        let mut request = Request::builder().uri(uri).header(HOST, "mcp.test:8080");
        if let Some(value) = authorization {
            request = request.header(AUTHORIZATION, value);
        }
        app.oneshot(request.body(axum::body::Body::empty()).unwrap())
            .await
            .unwrap()
    }

    #[tokio::test]
    async fn the_mcp_endpoints_need_a_token_and_the_rest_stays_open() {
        for path in ["/mcp", "/sse", "/message?sessionId=x"] {
            let response = get(path, None).await;
            assert_eq!(response.status(), StatusCode::UNAUTHORIZED, "{path}");
            assert_eq!(
                response.headers()[WWW_AUTHENTICATE],
                "Bearer resource_metadata=\"http://mcp.test:8080/.well-known/oauth-protected-resource\""
            );
        }
        for path in [
            "/healthz",
            "/metrics",
            "/stats",
            METADATA_PATH,
            "/.well-known/oauth-protected-resource/mcp",
        ] {
            assert_eq!(get(path, None).await.status(), StatusCode::OK, "{path}");
        }
        // A token that cannot be reviewed (no cluster) is neither admitted nor blamed on the caller.
        let response = get("/mcp", Some("Bearer abc")).await;
        assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
    }

    #[test]
    fn a_strange_host_never_reaches_the_challenge() {
        let open = settings(None, &[]);
        let base = base_url(&open, &headers(&[("host", "a\"b")]), "https");
        assert_eq!(base, "https://localhost");
    }
}
