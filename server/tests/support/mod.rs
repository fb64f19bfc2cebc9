//! Shared set-up of the in-process protocol tests: a server built from a TOML config the way
//! `serve::run` builds it, and an OTLP/HTTP receiver that collects the spans the server exports.

pub mod otlp;

use std::sync::Arc;

use kubernetes_mcp_server::cluster::Cluster;
use kubernetes_mcp_server::config::{ClusterProvider, Config, Flags};
use kubernetes_mcp_server::mcp::McpServer;
use kubernetes_mcp_server::observe::Observer;

/// The configuration a TOML document gives, with no flags.
pub fn config(toml: &str) -> Config {
    Config::from_toml(toml, Flags::default()).expect("test config parses")
}

/// A server with no cluster (provider `None`): tools that need one answer with an error.
pub fn server(config: &Config, observer: Observer) -> McpServer {
    let cluster = Arc::new(Cluster::discover(ClusterProvider::None, None));
    McpServer::new(config, cluster, Arc::new(observer), None)
}
