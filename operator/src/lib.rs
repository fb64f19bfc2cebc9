//! `kubernetes-mcp-operator`: reconciles `McpServer` resources into a running, observable,
//! kubernetes-mcp-server: the API, validation, what tenants may hand out (`tenancy`), the pure builders of every child,
//! the reconcile loop that applies them, and the operator's own metrics and health endpoints.

pub mod api;
pub mod controller;
pub mod desired;
pub mod http;
pub mod metrics;
pub mod tenancy;
pub mod validate;
