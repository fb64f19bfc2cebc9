//! Running the server: logging, the stdio transport, or the HTTP listener with graceful
//! shutdown (SIGTERM/SIGINT: stop accepting, let in-flight calls finish, exit 0). Does I/O.

use std::net::SocketAddr;
use std::sync::Arc;

use rmcp::ServiceExt as _;
use tokio_util::sync::CancellationToken;

use crate::cluster::Cluster;
use crate::config::Config;
use crate::http;
use crate::mcp::McpServer;

#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    #[error("binding {address}: {source}")]
    Bind {
        address: String,
        #[source]
        source: std::io::Error,
    },
    #[error("serving HTTP: {0}")]
    Http(#[source] std::io::Error),
    #[error("MCP over stdio: {0}")]
    Stdio(String),
    #[error("opening log file {path}: {source}")]
    LogFile {
        path: std::path::PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error(
        "TLS is not supported by this build yet: serve plain HTTP behind a TLS-terminating proxy"
    )]
    TlsUnsupported,
}

/// Logs to stderr (stdout belongs to MCP in stdio mode) or to `--log-file`. Level 0 shows
/// warnings, 1 info, 2-5 debug, 6+ trace; `RUST_LOG` overrides.
pub fn init_logging(config: &Config) -> Result<(), ServeError> {
    let level = match config.log_level {
        0 => "warn",
        1 => "info",
        2..=5 => "debug",
        _ => "trace",
    };
    let filter = tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| {
        tracing_subscriber::EnvFilter::new(format!("warn,kubernetes_mcp_server={level}"))
    });
    let builder = tracing_subscriber::fmt().with_env_filter(filter);
    match &config.log_file {
        Some(path) => {
            let file = std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(path)
                .map_err(|source| ServeError::LogFile {
                    path: path.clone(),
                    source,
                })?;
            builder.with_ansi(false).with_writer(Arc::new(file)).init();
        }
        None => builder.with_writer(std::io::stderr).init(),
    }
    Ok(())
}

/// Serves until the client closes stdio or a signal arrives.
pub async fn run(config: Config) -> Result<(), ServeError> {
    let cluster = Arc::new(Cluster::discover(
        config.cluster_provider,
        config.kubeconfig.as_ref(),
    ));
    let server = McpServer::new(&config, cluster);
    match config.port {
        None => run_stdio(server).await,
        Some(port) => run_http(server, &config, port).await,
    }
}

async fn run_stdio(server: McpServer) -> Result<(), ServeError> {
    let signalled = shutdown_signal();
    let running = server
        .serve(rmcp::transport::stdio())
        .await
        .map_err(|e| ServeError::Stdio(e.to_string()))?;
    tokio::select! {
        result = running.waiting() => {
            result.map_err(|e| ServeError::Stdio(e.to_string()))?;
        }
        () = signalled => {}
    }
    Ok(())
}

async fn run_http(server: McpServer, config: &Config, port: u16) -> Result<(), ServeError> {
    if config.tls.is_some() {
        return Err(ServeError::TlsUnsupported);
    }
    let signalled = shutdown_signal();
    let shutdown = CancellationToken::new();
    let app = http::router(server, config, &shutdown);
    let address = format!("{}:{port}", config.bind_address);
    let listener = tokio::net::TcpListener::bind(&address)
        .await
        .map_err(|source| ServeError::Bind {
            address: address.clone(),
            source,
        })?;
    let local = listener.local_addr().map_err(ServeError::Http)?;
    tracing::info!(address = %local, "serving MCP on /mcp (streamable HTTP) and /sse (legacy SSE)");
    // The one line a supervisor or test may wait for, whatever the log level.
    eprintln!("kubernetes-mcp-server listening on http://{local}");
    let stop = shutdown.clone();
    axum::serve(
        listener,
        app.into_make_service_with_connect_info::<SocketAddr>(),
    )
    .with_graceful_shutdown(async move {
        signalled.await;
        // Close sessions' event streams so the graceful drain is not held open by them.
        stop.cancel();
    })
    .await
    .map_err(ServeError::Http)
}

/// Resolves on SIGTERM or SIGINT. The handlers are installed when this is called, not when the
/// future is first polled, so a signal sent right after start-up is never missed.
fn shutdown_signal() -> impl std::future::Future<Output = ()> {
    use tokio::signal::unix::{SignalKind, signal};
    let terminate = signal(SignalKind::terminate());
    let interrupt = signal(SignalKind::interrupt());
    async move {
        let wait = |s: std::io::Result<tokio::signal::unix::Signal>| async move {
            match s {
                Ok(mut s) => {
                    s.recv().await;
                }
                Err(_) => std::future::pending::<()>().await,
            }
        };
        tokio::select! {
            () = wait(terminate) => {}
            () = wait(interrupt) => {}
        }
        tracing::info!("shutting down");
    }
}
