//! `kubernetes-mcp-operator`: parse flags, serve /metrics /healthz /readyz, start telemetry,
//! then run the controller for the watched namespaces (as the leader, when elected).

mod defaults;
mod leader;

use std::net::SocketAddr;
use std::sync::Arc;

use anyhow::Context as _;
use clap::{Parser, ValueEnum};
use kubernetes_mcp_operator::controller::{AdmissionGate, Context, Reachable};
use kubernetes_mcp_operator::http::{self, Health};
use kubernetes_mcp_operator::metrics::Metrics;
use kubernetes_mcp_otel::{self as telemetry, Providers, ServiceIdentity, TelemetryConfig};
use opentelemetry::trace::TracerProvider as _;

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
    /// Namespaces whose pods may reach the servers' metrics port (/metrics, /stats, /healthz)
    /// when an McpServer's spec.network.metricsFrom is unset; repeated or comma-separated. Empty
    /// (`--scrape-namespaces=`): no one, unless the McpServer says.
    #[arg(
        long,
        env = "KMCP_SCRAPE_NAMESPACES",
        value_delimiter = ',',
        default_value = "monitoring"
    )]
    scrape_namespaces: Vec<String>,
    #[command(flatten)]
    defaults: defaults::DefaultsArgs,
    /// Grant no RBAC to McpServers (they get Ready=False, reason AdmissionPolicyMissing) while
    /// the admission policy kubernetes-mcp-access and its Deny binding are not in force. false:
    /// grant anyway, for clusters whose McpServer authors are trusted with every role the
    /// operator may bind.
    #[arg(
        long,
        env = "KMCP_REQUIRE_ADMISSION_POLICY",
        default_value_t = true,
        action = clap::ArgAction::Set
    )]
    require_admission_policy: bool,
    /// Ready (and status.url) only once a pod of the McpServer answers the MCP handshake
    /// (initialize, tools/list) on port 8080; false: once its Deployment is available.
    #[arg(long, env = "KMCP_MCP_PROBE", default_value_t = true, action = clap::ArgAction::Set)]
    mcp_probe: bool,
    /// The operator's namespace: every server's NetworkPolicy lets it in to the MCP port for the
    /// handshake. Unset: the policies do not (the handshake fails where they are enforced).
    #[arg(long, env = "POD_NAMESPACE")]
    operator_namespace: Option<String>,
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
    #[command(flatten)]
    election: leader::Election,
    /// This replica's pod: it reports the Events and holds the leader Lease under this name.
    #[arg(long, env = "POD_NAME")]
    pod_name: Option<String>,
    /// Log line format.
    #[arg(long, env = "KMCP_LOG_FORMAT", value_enum, default_value_t = LogFormat::Text)]
    log_format: LogFormat,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
enum LogFormat {
    Text,
    Json,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let defaults = args
        .defaults
        .defaults()
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    let _ = rustls::crypto::ring::default_provider().install_default();
    let filter = tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| {
        tracing_subscriber::EnvFilter::new(format!("info,{}", telemetry::QUIET_SDK_LOGS))
    });
    // Lines go to stderr through a queue that drops (and counts) rather than block a worker;
    // the guard flushes it when main returns.
    let (writer, _logs) = telemetry::lossy_writer(std::io::stderr())?;
    let logs = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(writer);
    match args.log_format {
        LogFormat::Text => logs.init(),
        LogFormat::Json => logs.json().init(),
    }

    let metrics = Arc::new(Metrics::new());
    let reachable = Reachable::new(false);
    let health = Health {
        metrics: metrics.clone(),
        reachable: reachable.clone(),
    };
    http::spawn(args.metrics_bind_address, health)
        .await
        .with_context(|| format!("binding {}", args.metrics_bind_address))?;

    let client = kube::Client::try_default()
        .await
        .context("connecting to the apiserver")?;
    client
        .apiserver_version()
        .await
        .context("reaching the apiserver")?;
    reachable.set(true);
    let providers = start_telemetry(&metrics).await;
    let mut context = Context::new(client.clone(), args.default_image.clone(), metrics.clone())
        .with_pod_name(args.pod_name.clone())
        .with_scrape_namespaces(args.scrape_namespaces.clone())
        .with_defaults(defaults)
        .with_mcp_probe(args.mcp_probe, args.operator_namespace.clone())
        .with_reachable(reachable);
    if args.require_admission_policy {
        context = context.with_admission_gate(AdmissionGate::start(client.clone()).await);
    }
    if let Some(providers) = &providers {
        context = context.with_tracer(providers.tracer.tracer(OPERATOR_NAME));
    }
    let outcome = leader::run(
        &args.election,
        args.pod_name.as_deref(),
        client,
        &Arc::new(context),
        &args.namespace,
        &metrics,
    )
    .await;
    if let Some(providers) = providers {
        // Flushing blocks: off the async workers.
        let _ = tokio::task::spawn_blocking(move || providers.shutdown()).await;
    }
    outcome
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
