//! `kubernetes-mcp-operator`: reconciles `McpServer` resources into a running, observable,
//! least-privilege kubernetes-mcp-server.

pub mod api;
