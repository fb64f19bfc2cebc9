//! `kubernetes-mcp-operator`: reconciles `McpServer` resources into a running, observable,
//! least-privilege kubernetes-mcp-server: the API, validation, the pure builders of every child,
//! the reconcile loop that applies them, and the operator's own metrics and health endpoints.

pub mod api;
pub mod controller;
pub mod desired;
pub mod http;
pub mod metrics;
pub mod validate;
