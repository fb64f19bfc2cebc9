//! `kubernetes-mcp-server`: an MCP server whose tools read and change a Kubernetes cluster,
//! compatible with the Go server of the same name (tools, flags, TOML config, endpoints).

pub mod audit;
pub mod auth;
pub mod cluster;
pub mod config;
pub mod confirm;
pub mod drain;
pub mod guard;
pub mod http;
pub mod jsonrpc;
pub mod listener;
pub mod logging;
pub mod mcp;
pub mod observe;
pub mod prompts;
pub mod ratelimit;
pub mod rebinding;
pub mod reload;
pub mod serve;
pub mod sse;
pub mod streamable;
pub mod tls;
pub mod tools;

/// The name this server gives itself: MCP `serverInfo`, OTel `service.name` by default, the
/// tracer and meter scope.
pub const SERVER_NAME: &str = "kubernetes-mcp-server";
/// The server's version, from Cargo.
pub const VERSION: &str = env!("CARGO_PKG_VERSION");
