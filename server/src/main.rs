//! `kubernetes-mcp-server`: parse flags, load config, init logging, serve.

use clap::Parser;
use kubernetes_mcp_server::config::{Config, Flags};
use kubernetes_mcp_server::reload::Reload;
use kubernetes_mcp_server::{logging, serve};

/// MCP server for Kubernetes: tools that read and change a cluster, over stdio, streamable
/// HTTP (/mcp) or legacy SSE (/sse).
#[derive(Debug, Parser)]
#[command(name = "kubernetes-mcp-server", version)]
struct Args {
    #[command(flatten)]
    flags: Flags,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let Args { flags } = Args::parse();
    // kube and the HTTP clients use rustls without a default provider: pick ring once.
    let _ = rustls::crypto::ring::default_provider().install_default();
    let config = Config::load(flags.clone())?;
    // The guard flushes the queued log lines when main returns.
    let (log_level, _logs) = logging::init(config.log_level, config.log_file.as_deref())?;
    for warning in &config.go.warnings {
        tracing::warn!("{warning}");
    }
    serve::run(config, Reload::new(flags, log_level)).await?;
    Ok(())
}
