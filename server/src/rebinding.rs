//! The DNS-rebinding guard of every MCP endpoint (`/mcp`, `/sse`, `/message`): which `Host` and
//! `Origin` headers a request may carry. Pure rules plus an axum middleware; no I/O.
//!
//! A browser page can reach a server on the user's machine in two ways: across origins (its
//! `Origin` names the page's site) or by DNS rebinding (its `Host` and `Origin` both name the
//! attacker's domain, now resolving to 127.0.0.1). Agents and SDKs send no `Origin`. So:
//! - `Origin`, when present, must name an allowed host: a browser page of another site is
//!   refused whatever the bind address (the MCP specification asks servers to validate it);
//! - `Host` must name an allowed host when the server is bound to loopback or `allowed_hosts`
//!   is set; a server bound to a routable address is reached by names it cannot know (Service
//!   DNS names, pod IPs), so any `Host` passes there;
//! - allowed hosts are the loopback names plus `allowed_hosts`; `*` there allows everything.

use std::net::IpAddr;
use std::sync::Arc;

use axum::extract::{Request, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::middleware::Next;
use axum::response::Response;

use crate::config::Config;
use crate::jsonrpc::jsonrpc_error;

const LOOPBACK_NAMES: [&str; 3] = ["localhost", "127.0.0.1", "::1"];

/// What the guard allows, decided once from the configuration.
#[derive(Debug, Clone)]
pub struct HostRule {
    /// `None`: any host (`allowed_hosts = ["*"]`).
    allowed: Option<Vec<String>>,
    /// Whether `Host` is checked as well as `Origin`.
    check_host: bool,
}

impl HostRule {
    pub fn new(config: &Config) -> Self {
        if config.allowed_hosts.iter().any(|h| h == "*") {
            return Self {
                allowed: None,
                check_host: false,
            };
        }
        let mut allowed: Vec<String> = LOOPBACK_NAMES.map(str::to_owned).to_vec();
        allowed.extend(config.allowed_hosts.iter().map(|h| h.to_ascii_lowercase()));
        Self {
            allowed: Some(allowed),
            check_host: !config.allowed_hosts.is_empty() || is_loopback(&config.bind_address),
        }
    }

    /// Why a request with these headers is refused, or `None` when it may go on.
    pub fn refusal(&self, headers: &HeaderMap) -> Option<String> {
        let allowed = self.allowed.as_ref()?;
        let is_allowed = |host: &str| allowed.iter().any(|a| a == host);
        let text = |name| headers.get(name).and_then(|v| v.to_str().ok());
        if let Some(origin) = text(header::ORIGIN) {
            // `null` (sandboxed frames, local files) names no host and is refused like any other.
            let host = origin_host(origin);
            if !host.as_deref().is_some_and(is_allowed) {
                return Some(format!("Origin header is not allowed: {origin}"));
            }
        }
        if self.check_host {
            let host = text(header::HOST).map(host_name);
            if !host.as_deref().is_some_and(is_allowed) {
                return Some(format!(
                    "Host header is not allowed: {}",
                    text(header::HOST).unwrap_or("(none)")
                ));
            }
        }
        None
    }
}

/// Refuses a request the rule does not allow with 403 and a JSON-RPC error body.
pub async fn guard(State(rule): State<Arc<HostRule>>, request: Request, next: Next) -> Response {
    match rule.refusal(request.headers()) {
        None => next.run(request).await,
        Some(reason) => jsonrpc_error(
            StatusCode::FORBIDDEN,
            &serde_json::Value::Null,
            -32600,
            &format!("{reason} (DNS-rebinding protection; see allowed_hosts)"),
        ),
    }
}

fn is_loopback(bind_address: &str) -> bool {
    bind_address == "localhost"
        || bind_address
            .parse::<IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
}

/// `example.com:8080` → `example.com`; `[::1]:8080` → `::1`; lower case.
fn host_name(authority: &str) -> String {
    let host = match authority.strip_prefix('[') {
        Some(rest) => rest.split_once(']').map_or(rest, |(ip, _)| ip),
        None => authority
            .rsplit_once(':')
            .filter(|(_, port)| port.bytes().all(|b| b.is_ascii_digit()))
            .map_or(authority, |(host, _)| host),
    };
    host.to_ascii_lowercase()
}

/// The host of an `Origin` (`scheme://host[:port]`), if it has one.
fn origin_host(origin: &str) -> Option<String> {
    let (_, authority) = origin.split_once("://")?;
    Some(host_name(authority.split('/').next().unwrap_or(authority)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{Config, Flags};

    fn rule(toml: &str) -> HostRule {
        HostRule::new(&Config::from_toml(toml, Flags::default()).unwrap())
    }

    fn headers(host: &str, origin: Option<&str>) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert(header::HOST, host.parse().unwrap());
        if let Some(origin) = origin {
            h.insert(header::ORIGIN, origin.parse().unwrap());
        }
        h
    }

    #[test]
    fn host_names_drop_ports_and_brackets() {
        assert_eq!(host_name("Example.COM:8080"), "example.com");
        assert_eq!(host_name("[::1]:8080"), "::1");
        assert_eq!(host_name("[::1]"), "::1");
        assert_eq!(host_name("localhost"), "localhost");
        assert_eq!(
            origin_host("http://evil.example:9000").as_deref(),
            Some("evil.example")
        );
        assert_eq!(origin_host("null"), None);
    }

    #[test]
    fn a_foreign_origin_is_refused_whatever_the_bind_address() {
        for toml in [
            "",
            "bind_address = \"127.0.0.1\"",
            "allowed_hosts = [\"mcp.example\"]",
        ] {
            let rule = rule(toml);
            let refused = rule.refusal(&headers("localhost:8080", Some("http://evil.example")));
            assert!(refused.is_some_and(|r| r.contains("Origin")), "{toml:?}");
            assert!(
                rule.refusal(&headers("localhost:8080", Some("null")))
                    .is_some(),
                "{toml:?}"
            );
            assert_eq!(
                rule.refusal(&headers("localhost:8080", Some("http://localhost:6274"))),
                None,
                "{toml:?}: the Inspector's page on localhost"
            );
            assert_eq!(
                rule.refusal(&headers("localhost:8080", None)),
                None,
                "{toml:?}"
            );
        }
        assert_eq!(
            rule("allowed_hosts = [\"mcp.example\"]")
                .refusal(&headers("mcp.example", Some("https://MCP.example"))),
            None
        );
    }

    #[test]
    fn rebinding_is_refused_on_loopback_and_star_allows_everything() {
        let rebound = headers("evil.example:8080", Some("http://evil.example:8080"));
        assert!(
            rule("bind_address = \"127.0.0.1\"")
                .refusal(&rebound)
                .is_some()
        );
        assert!(
            rule("").refusal(&rebound).is_some(),
            "0.0.0.0: the Origin gives it away"
        );
        assert_eq!(rule("").refusal(&headers("mcp.team.svc", None)), None);
        assert_eq!(rule("allowed_hosts = [\"*\"]").refusal(&rebound), None);
    }
}
