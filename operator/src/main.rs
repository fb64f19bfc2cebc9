//! `kubernetes-mcp-operator`: parse flags, connect, run the controller.

use std::sync::Arc;

use clap::Parser;
use kubernetes_mcp_operator::controller::{self, Context};

/// Reconciles McpServer resources into kubernetes-mcp-server deployments.
#[derive(Debug, Parser)]
#[command(name = "kubernetes-mcp-operator", version)]
struct Args {
    /// Image of kubernetes-mcp-server for McpServers that name none.
    #[arg(
        long,
        env = "KMCP_DEFAULT_IMAGE",
        default_value = "ghcr.io/kubernetes-mcp/kubernetes-mcp-server:0.1.0"
    )]
    default_image: String,
    /// Watch only this namespace (default: all namespaces).
    #[arg(long, env = "KMCP_WATCH_NAMESPACE")]
    namespace: Option<String>,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let Args {
        default_image,
        namespace,
    } = Args::parse();
    let _ = rustls::crypto::ring::default_provider().install_default();
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .init();
    let client = kube::Client::try_default().await?;
    controller::run(Arc::new(Context::new(client, default_image)), namespace).await;
    Ok(())
}
