//! Running the server: logging, the stdio transport, or the HTTP listener with graceful
//! shutdown (SIGTERM/SIGINT: stop accepting, let in-flight calls finish for up to 25 s, then
//! close the sessions, exit 0). Does I/O.

use std::io::IsTerminal as _;
use std::net::SocketAddr;
use std::sync::Arc;

use kubernetes_mcp_otel::{LogGuard, lossy_writer};
use rmcp::ServiceExt as _;
use tokio_util::sync::CancellationToken;

use crate::audit::AuditLog;
use crate::cluster::Cluster;
use crate::config::Config;
use crate::http::{self, PeerAddr};
use crate::listener::NoDelayListener;
use crate::mcp::McpServer;
use crate::observe::Observer;
use crate::tls::{self, TlsListener};

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
    #[error("starting the log writer: {0}")]
    LogWriter(#[source] std::io::Error),
    #[error(transparent)]
    Tls(#[from] crate::tls::TlsError),
    #[error(transparent)]
    Audit(#[from] crate::audit::AuditError),
}

/// Logs to stderr (stdout belongs to MCP in stdio mode) or to `--log-file`, through a queue
/// that drops (and counts) lines rather than wait for a reader that stopped. Level 0 shows
/// warnings, 1 info, 2-5 debug, 6+ trace; `RUST_LOG` overrides. Keep the guard: its drop
/// flushes.
pub fn init_logging(config: &Config) -> Result<LogGuard, ServeError> {
    let level = match config.log_level {
        0 => "warn",
        1 => "info",
        2..=5 => "debug",
        _ => "trace",
    };
    let filter = tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| {
        tracing_subscriber::EnvFilter::new(format!(
            "warn,kubernetes_mcp_server={level},kubernetes_mcp_otel={level},{}",
            kubernetes_mcp_otel::QUIET_SDK_LOGS
        ))
    });
    let builder = tracing_subscriber::fmt().with_env_filter(filter);
    let (started, ansi) = if let Some(path) = &config.log_file {
        let file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)
            .map_err(|source| ServeError::LogFile {
                path: path.clone(),
                source,
            })?;
        (lossy_writer(file), false)
    } else {
        let ansi = std::io::stderr().is_terminal();
        (lossy_writer(std::io::stderr()), ansi)
    };
    let (writer, guard) = started.map_err(ServeError::LogWriter)?;
    builder.with_ansi(ansi).with_writer(writer).init();
    Ok(guard)
}

/// Serves until the client closes stdio or a signal arrives.
pub async fn run(config: Config) -> Result<(), ServeError> {
    let cluster = Arc::new(Cluster::discover(
        config.cluster_provider,
        config.kubeconfig.as_ref(),
    ));
    let audit = AuditLog::open(config.auth.is_some(), config.audit_log.as_deref())?;
    survive_hangups();
    let observer = Arc::new(Observer::start(&config.telemetry).await);
    let server = McpServer::new(&config, cluster, observer.clone(), audit);
    let result = match config.port {
        None => run_stdio(server).await,
        Some(port) => run_http(server, &config, port).await,
    };
    observer.shutdown().await;
    result
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

/// How long a graceful shutdown waits for tool calls in flight: within Kubernetes' default
/// 30 s termination grace period.
const DRAIN_LIMIT: std::time::Duration = std::time::Duration::from_secs(25);
/// Between the last call's end and closing the sessions' streams.
const ANSWER_FLUSH: std::time::Duration = std::time::Duration::from_millis(200);

async fn run_http(server: McpServer, config: &Config, port: u16) -> Result<(), ServeError> {
    let tls = config.tls.as_ref().map(tls::server_config).transpose()?;
    let signalled = shutdown_signal();
    let shutdown = CancellationToken::new();
    let app = http::router(&server, config, &shutdown);
    if let Some(metrics_port) = config.metrics_port {
        let address = format!("{}:{metrics_port}", config.bind_address);
        let listener = tokio::net::TcpListener::bind(&address)
            .await
            .map_err(|source| ServeError::Bind { address, source })?;
        let observability = http::observability_router(server.observer().clone());
        let stop = shutdown.clone();
        tokio::spawn(async move {
            let outcome = axum::serve(NoDelayListener::new(listener), observability)
                .with_graceful_shutdown(stop.cancelled_owned())
                .await;
            if let Err(e) = outcome {
                tracing::warn!(error = %e, "metrics listener stopped");
            }
        });
    }
    let address = format!("{}:{port}", config.bind_address);
    let listener = tokio::net::TcpListener::bind(&address)
        .await
        .map_err(|source| ServeError::Bind {
            address: address.clone(),
            source,
        })?;
    let local = listener.local_addr().map_err(ServeError::Http)?;
    let scheme = if tls.is_some() { "https" } else { "http" };
    tracing::info!(address = %local, scheme, "serving MCP on /mcp (streamable HTTP) and /sse (legacy SSE)");
    // The one line a supervisor or test may wait for, whatever the log level.
    eprintln!("kubernetes-mcp-server listening on {scheme}://{local}");
    // On SIGTERM stop accepting at once, let the calls in flight finish (their answers travel on
    // the sessions' event streams), then close those streams so the drain is not held open.
    let accepting = CancellationToken::new();
    let in_flight = server.in_flight().clone();
    tokio::spawn({
        let accepting = accepting.clone();
        async move {
            signalled.await;
            accepting.cancel();
            if !in_flight.idle(DRAIN_LIMIT).await {
                tracing::warn!(
                    calls = in_flight.count(),
                    "tool calls still running {} s after the signal; closing their sessions",
                    DRAIN_LIMIT.as_secs()
                );
            }
            // A call stops counting just before rmcp sends its answer: a moment to send it.
            tokio::time::sleep(ANSWER_FLUSH).await;
            shutdown.cancel();
        }
    });
    let stopping = accepting.cancelled_owned();
    match tls {
        Some(tls) => {
            let listener = TlsListener::new(listener, tls).map_err(ServeError::Http)?;
            serve_on(listener, app, stopping).await
        }
        None => serve_on(NoDelayListener::new(listener), app, stopping).await,
    }
}

async fn serve_on<L>(
    listener: L,
    app: axum::Router,
    stopping: impl std::future::Future<Output = ()> + Send + 'static,
) -> Result<(), ServeError>
where
    L: axum::serve::Listener<Addr = SocketAddr>,
    PeerAddr: for<'a> axum::extract::connect_info::Connected<axum::serve::IncomingStream<'a, L>>,
{
    axum::serve(
        listener,
        app.into_make_service_with_connect_info::<PeerAddr>(),
    )
    .with_graceful_shutdown(stopping)
    .await
    .map_err(ServeError::Http)
}

/// SIGHUP (a closed terminal, or a supervisor asking for a reload) would end the process by
/// default. Reloading the configuration is not implemented yet, so the server says so and goes
/// on with what it runs.
fn survive_hangups() {
    use tokio::signal::unix::{SignalKind, signal};
    match signal(SignalKind::hangup()) {
        Ok(mut hangups) => {
            tokio::spawn(async move {
                while hangups.recv().await.is_some() {
                    tracing::warn!(
                        "SIGHUP: reloading the configuration is not supported yet; the running configuration stays"
                    );
                }
            });
        }
        Err(e) => tracing::warn!(error = %e, "SIGHUP handler not installed"),
    }
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
