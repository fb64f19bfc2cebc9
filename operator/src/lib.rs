//! `kubernetes-mcp-operator`: reconciles `McpServer` resources into a running, observable,
//! least-privilege kubernetes-mcp-server. So far: the API, validation and the pure builders of
//! every child; the reconcile loop that applies them is next.

pub mod api;
pub mod controller;
pub mod desired;
pub mod validate;
