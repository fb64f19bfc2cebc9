//! `kubernetes-mcp-server`: parse flags, load config, init logging, serve.

use clap::Parser;
use kubernetes_mcp_server::config::{Config, Flags};
use kubernetes_mcp_server::serve;

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
    let config = Config::load(flags)?;
    // Flushes the queued log lines when main returns.
    let _logs = serve::init_logging(&config)?;
    for warning in &config.go.warnings {
        tracing::warn!("{warning}");
    }
    serve::run(config).await?;
    Ok(())
}
