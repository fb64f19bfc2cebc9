//! `kubernetes-mcp-operator`: parse flags, serve /metrics /healthz /readyz, win the leader Lease,
//! run the controller for the watched namespaces.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use anyhow::Context as _;
use clap::{Parser, ValueEnum};
use kube_lease_manager::LeaseManagerBuilder;
use kubernetes_mcp_operator::controller::{self, Context};
use kubernetes_mcp_operator::http::{self, Health};
use kubernetes_mcp_operator::metrics::Metrics;
use kubernetes_mcp_otel::{self as telemetry, Providers, ServiceIdentity, TelemetryConfig};
use opentelemetry::trace::TracerProvider as _;
use tokio::sync::watch;

const OPERATOR_NAME: &str = "kubernetes-mcp-operator";

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
    /// Namespaces to watch, repeated or comma-separated (default: all namespaces).
    #[arg(long, env = "KMCP_WATCH_NAMESPACES", value_delimiter = ',')]
    namespace: Vec<String>,
    /// Address of /metrics, /healthz and /readyz.
    #[arg(
        long,
        env = "KMCP_METRICS_BIND_ADDRESS",
        default_value = "0.0.0.0:8081"
    )]
    metrics_bind_address: SocketAddr,
    /// Reconcile only while holding the Lease, so that several replicas are safe.
    #[arg(long, env = "KMCP_LEADER_ELECT", default_value_t = true, action = clap::ArgAction::Set)]
    leader_elect: bool,
    /// Namespace of the leader Lease (in a pod: its own namespace).
    #[arg(long, env = "POD_NAMESPACE", default_value = "default")]
    lease_namespace: String,
    /// Name of the leader Lease.
    #[arg(long, default_value = "kubernetes-mcp-operator")]
    lease_name: String,
    /// Log line format.
    #[arg(long, env = "KMCP_LOG_FORMAT", value_enum, default_value_t = LogFormat::Text)]
    log_format: LogFormat,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
enum LogFormat {
    Text,
    Json,
}

/// Seconds a Lease is held without renewal before another replica may take it.
const LEASE_SECONDS: u64 = 15;
/// Renew this long before the Lease would expire.
const LEASE_GRACE_SECONDS: u64 = 5;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let _ = rustls::crypto::ring::default_provider().install_default();
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let logs = tracing_subscriber::fmt().with_env_filter(filter);
    match args.log_format {
        LogFormat::Text => logs.init(),
        LogFormat::Json => logs.json().init(),
    }

    let metrics = Arc::new(Metrics::new());
    let ready = Arc::new(AtomicBool::new(false));
    let listener = tokio::net::TcpListener::bind(args.metrics_bind_address)
        .await
        .with_context(|| format!("binding {}", args.metrics_bind_address))?;
    tracing::info!(address = %args.metrics_bind_address, "serving /metrics /healthz /readyz");
    let router = http::router(Health {
        metrics: metrics.clone(),
        ready: ready.clone(),
    });
    tokio::spawn(async move { axum::serve(listener, router).await });

    let client = kube::Client::try_default()
        .await
        .context("connecting to the apiserver")?;
    client
        .apiserver_version()
        .await
        .context("reaching the apiserver")?;
    ready.store(true, Ordering::Release);
    let providers = start_telemetry(&metrics).await;
    let mut context = Context::new(client.clone(), args.default_image.clone(), metrics.clone());
    if let Some(providers) = &providers {
        context = context.with_tracer(providers.tracer.tracer(OPERATOR_NAME));
    }
    let outcome = lead_and_run(&args, client, &Arc::new(context), &metrics).await;
    if let Some(providers) = providers {
        // Flushing blocks: off the async workers.
        let _ = tokio::task::spawn_blocking(move || providers.shutdown()).await;
    }
    outcome
}

/// Runs the controllers: at once, or once this replica holds the leader Lease.
async fn lead_and_run(
    args: &Args,
    client: kube::Client,
    context: &Arc<Context>,
    metrics: &Metrics,
) -> anyhow::Result<()> {
    if !args.leader_elect {
        metrics.leader.set(1);
        run_all(context, &args.namespace, watch::channel(true).1).await;
        return Ok(());
    }
    let identity = std::env::var("POD_NAME").unwrap_or_else(|_| {
        format!(
            "{}-{}",
            telemetry::host_name().unwrap_or_default(),
            std::process::id()
        )
    });
    let lease = LeaseManagerBuilder::new(client, &args.lease_name)
        .with_namespace(&args.lease_namespace)
        .with_identity(&identity)
        .with_duration(LEASE_SECONDS)
        .with_grace(LEASE_GRACE_SECONDS)
        .build()
        .await
        .context("preparing the leader Lease")?;
    let (mut leading, lease_task) = lease.watch().await;
    tracing::info!(%identity, lease = %args.lease_name, "waiting to lead");
    tokio::select! {
        won = leading.wait_for(|leads| *leads) => { won.context("the Lease watcher stopped")?; }
        () = stopped() => return Ok(()),
    }
    tracing::info!(%identity, "leading: reconciling");
    metrics.leader.set(1);
    run_all(context, &args.namespace, leading.clone()).await;
    metrics.leader.set(0);
    let lost = !*leading.borrow();
    // Dropping the last receiver makes the watcher release the Lease for the next replica.
    drop(leading);
    let _ = lease_task.await;
    if lost {
        anyhow::bail!("lost the leader Lease; exiting so that a fresh start rejoins the election");
    }
    Ok(())
}

/// OpenTelemetry from the standard `OTEL_*` environment, as the server reads it (service name
/// `kubernetes-mcp-operator` unless `OTEL_SERVICE_NAME` says otherwise; the operator has no
/// `[telemetry]` file section). None when not configured or when the exporter cannot be built
/// (a warning says why).
async fn start_telemetry(metrics: &Metrics) -> Option<Providers> {
    let identity = ServiceIdentity {
        name: OPERATOR_NAME,
        version: env!("CARGO_PKG_VERSION"),
    };
    telemetry::init(
        identity,
        &TelemetryConfig::default(),
        telemetry::process_env,
        metrics.spans_dropped.clone(),
    )
    .await
}

/// One controller per watched namespace (or one for all), until a signal or lost leadership.
async fn run_all(context: &Arc<Context>, namespaces: &[String], leading: watch::Receiver<bool>) {
    let lost = move || {
        let mut leading = leading.clone();
        async move {
            let _ = leading.wait_for(|leads| !*leads).await;
        }
    };
    if namespaces.is_empty() {
        controller::run(context.clone(), None, lost()).await;
        return;
    }
    futures::future::join_all(
        namespaces
            .iter()
            .map(|ns| controller::run(context.clone(), Some(ns.clone()), lost())),
    )
    .await;
}

/// SIGTERM or Ctrl-C.
async fn stopped() {
    use tokio::signal::unix::{SignalKind, signal};
    let Ok(mut term) = signal(SignalKind::terminate()) else {
        let _ = tokio::signal::ctrl_c().await;
        return;
    };
    tokio::select! {
        _ = term.recv() => {}
        _ = tokio::signal::ctrl_c() => {}
    }
}
