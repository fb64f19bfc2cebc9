//! Cost of the telemetry middleware per tool call, in process: the same 100 000 calls with
//! telemetry off and on (every span sampled, batch export to the collector at
//! `OTLP_GRPC_ENDPOINT`, or to an unreachable endpoint when unset, so spans are dropped once
//! the bounded queue is full). The tool is `namespaces_list` against no cluster (cluster
//! provider `disabled`), so what is measured is dispatch plus middleware, not the apiserver.
//!
//!   cargo bench -p kubernetes-mcp-server --bench tool_call
//!   e2e/stack.sh exec -- cargo bench -p kubernetes-mcp-server --bench tool_call   # live collector

#![allow(clippy::expect_used, reason = "benchmark setup: a panic is the report")]

use std::sync::Arc;
use std::time::{Duration, Instant};

use kubernetes_mcp_otel::TelemetryConfig;
use kubernetes_mcp_server::cluster::Cluster;
use kubernetes_mcp_server::config::{ClusterProvider, Config, Flags};
use kubernetes_mcp_server::mcp::{McpServer, Origin};
use kubernetes_mcp_server::observe::Observer;
use rmcp::model::CallToolRequestParams;

const CALLS: usize = 100_000;
const WARMUP: usize = 5_000;

fn rss_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmRSS:"))
                .and_then(|l| l.split_whitespace().nth(1)?.parse().ok())
        })
        .unwrap_or(0)
}

async fn run(label: &str, observer: Observer) -> (Duration, Duration) {
    let config = Config::from_toml("", Flags::default()).expect("default config");
    let cluster = Arc::new(Cluster::discover(ClusterProvider::Disabled, None));
    let observer = Arc::new(observer);
    let server = McpServer::new(&config, cluster, observer.clone(), None).over_tcp();
    let origin = Origin::default();
    let request = CallToolRequestParams::new("namespaces_list");
    for _ in 0..WARMUP {
        let _ = server.call(request.clone(), &origin).await;
    }
    let rss_before = rss_kib();
    let mut samples = Vec::with_capacity(CALLS);
    for _ in 0..CALLS {
        let started = Instant::now();
        let result = server.call(request.clone(), &origin).await;
        samples.push(started.elapsed());
        assert!(result.is_ok());
    }
    let rss_after = rss_kib();
    samples.sort_unstable();
    let median = samples[CALLS / 2];
    let p99 = samples[CALLS * 99 / 100];
    println!(
        "{label:<14} median {:>7.2} µs   p99 {:>7.2} µs   RSS growth over the burst {:>6} KiB   spans dropped at the queue bound {}",
        median.as_secs_f64() * 1e6,
        p99.as_secs_f64() * 1e6,
        rss_after.saturating_sub(rss_before),
        observer.metrics.spans_dropped.get()
    );
    observer.shutdown().await;
    (median, p99)
}

#[tokio::main]
async fn main() {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let endpoint =
        std::env::var("OTLP_GRPC_ENDPOINT").unwrap_or_else(|_| "http://127.0.0.1:9".into());
    println!("{CALLS} calls each; spans exported to {endpoint}");
    let (off_median, off_p99) = run("telemetry off", Observer::without_tracing()).await;
    let on = TelemetryConfig {
        enabled: Some(true),
        endpoint: Some(endpoint),
        traces_sampler: Some("always_on".into()),
        ..TelemetryConfig::default()
    };
    let (on_median, on_p99) = run("telemetry on", Observer::start(&on).await).await;
    println!(
        "added by telemetry: median {:.2} µs, p99 {:.2} µs",
        (on_median.as_secs_f64() - off_median.as_secs_f64()) * 1e6,
        (on_p99.as_secs_f64() - off_p99.as_secs_f64()) * 1e6
    );
}
