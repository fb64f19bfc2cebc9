//! `kubernetes-mcp-otel`: the OpenTelemetry set-up both kubernetes-mcp binaries share. The
//! `[telemetry]` TOML section and the `OTEL_*` environment are resolved into settings (pure,
//! bad values become warnings), then the OTLP span and metric exporters, the sampler and the
//! resource are started from them. It knows nothing of the binary it serves: each names itself
//! with a [`ServiceIdentity`] and calls [`init`]. Their log lines reach stderr through
//! [`lossy_writer`], which never blocks. I/O only in the exporters (and the CA file) and the
//! log writer.

mod exporter;
mod logs;
mod otlp_tls;
mod settings;
mod span_queue;

use prometheus_client::metrics::counter::Counter;

pub use exporter::{Providers, host_name};
pub use logs::{LogGuard, LossyWriter, log_lines_dropped, lossy_writer};
pub use settings::{ServiceIdentity, TelemetryConfig};
pub use span_queue::QUIET_SDK_LOGS;

/// The process environment, as `init`'s `env` outside tests.
pub fn process_env(name: &str) -> Option<String> {
    std::env::var(name).ok()
}

/// Resolves the settings from `file` and `env` (which wins), logs each warning, and when
/// telemetry is enabled starts the exporters, counting spans dropped at the export queue's bound
/// in `dropped_spans`. Never fails: `None` when telemetry is off or its exporter cannot be built
/// (a warning says why), and the binary runs untraced. Must run inside the tokio runtime.
pub async fn init(
    identity: ServiceIdentity,
    file: &TelemetryConfig,
    env: impl Fn(&str) -> Option<String>,
    dropped_spans: Counter,
) -> Option<Providers> {
    let (settings, warnings) = settings::resolve(identity, file, &env);
    for warning in warnings {
        tracing::warn!("telemetry: {warning}");
    }
    if !settings.enabled {
        return None;
    }
    match exporter::start(&settings, dropped_spans).await {
        Ok(providers) => {
            tracing::debug!(endpoint = %settings.endpoint, "OpenTelemetry tracing initialized successfully");
            Some(providers)
        }
        Err(e) => {
            tracing::warn!("Failed to create OTLP exporter, tracing disabled: {e}");
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const IDENTITY: ServiceIdentity = ServiceIdentity {
        name: "some-binary",
        version: "1.2.3",
    };

    #[tokio::test]
    async fn nothing_starts_without_an_endpoint() {
        let providers = init(
            IDENTITY,
            &TelemetryConfig::default(),
            |_| None,
            Counter::default(),
        )
        .await;
        assert!(providers.is_none());
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 1)]
    async fn an_endpoint_starts_both_providers_and_a_bad_one_starts_none() {
        // Port 1: nothing listens, so the final export at shutdown fails at once.
        let file = TelemetryConfig {
            endpoint: Some("http://127.0.0.1:1".into()),
            ..TelemetryConfig::default()
        };
        let providers = init(IDENTITY, &file, |_| None, Counter::default())
            .await
            .unwrap();
        assert!(providers.meter.is_some());
        tokio::task::spawn_blocking(move || providers.shutdown())
            .await
            .unwrap();

        let env = |name: &str| {
            (name == "OTEL_EXPORTER_OTLP_CERTIFICATE").then(|| "/nonexistent/ca.pem".to_owned())
        };
        assert!(
            init(IDENTITY, &file, env, Counter::default())
                .await
                .is_none()
        );
    }
}
