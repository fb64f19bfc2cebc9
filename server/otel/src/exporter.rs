//! OpenTelemetry start-up: the tracer provider (batch export every 5 s from a bounded queue,
//! OTLP over gRPC or HTTP, TLS with a CA file) and the meter provider (OTLP every 30 s), with the
//! resource of shared/spec/telemetry.md. Does I/O (files, network) only through the exporters.

use std::time::Duration;

use opentelemetry::KeyValue;
use opentelemetry_otlp::{WithExportConfig, WithHttpConfig, WithTonicConfig};
use opentelemetry_sdk::Resource;
use opentelemetry_sdk::metrics::{PeriodicReader, SdkMeterProvider};
use opentelemetry_sdk::trace::{
    BatchConfigBuilder, BatchSpanProcessor, Sampler, SdkTracerProvider,
};

use prometheus_client::metrics::counter::Counter;

use crate::otlp_tls::{GrpcTls, grpc_tls};
use crate::settings::{Protocol, SamplerChoice, Settings};
use crate::span_queue::{BoundedProcessor, Pending, ReleasingExporter};

const EXPORT_TIMEOUT: Duration = Duration::from_secs(10);

#[derive(Debug, thiserror::Error)]
pub enum TelemetryError {
    #[error("reading OTEL_EXPORTER_OTLP_CERTIFICATE {path}: {source}")]
    Certificate {
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error("building the OTLP exporter: {0}")]
    Exporter(String),
}

/// The running providers; `shutdown` flushes what is queued.
#[derive(Clone)]
pub struct Providers {
    pub tracer: SdkTracerProvider,
    pub meter: Option<SdkMeterProvider>,
}

impl Providers {
    /// Flushes and stops both providers. Blocking: call from `spawn_blocking`.
    pub fn shutdown(&self) {
        if let Err(e) = self.tracer.shutdown() {
            tracing::warn!(error = %e, "flushing spans at shutdown");
        }
        if let Some(meter) = &self.meter
            && let Err(e) = meter.shutdown()
        {
            tracing::warn!(error = %e, "flushing metrics at shutdown");
        }
    }
}

/// Builds the exporters and providers. Must run inside the tokio runtime (the gRPC channel
/// lives on it). Spans dropped at the export queue's bound or lost with a failed export are
/// counted in `dropped_spans`.
pub async fn start(
    settings: &Settings,
    dropped_spans: Counter,
) -> Result<Providers, TelemetryError> {
    let resource = resource(settings);
    let ca = match &settings.certificate {
        Some(path) => {
            Some(
                tokio::fs::read(path)
                    .await
                    .map_err(|source| TelemetryError::Certificate {
                        path: path.clone(),
                        source,
                    })?,
            )
        }
        None => None,
    };
    // One TLS set-up (or unverified channel) for both gRPC exporters.
    let tls = match settings.protocol {
        Protocol::Grpc => grpc_tls(settings, ca.as_deref()).map_err(TelemetryError::Exporter)?,
        Protocol::HttpProtobuf => None,
    };
    let span_exporter = match settings.protocol {
        Protocol::Grpc => grpc(
            opentelemetry_otlp::SpanExporter::builder().with_tonic(),
            settings,
            tls.clone(),
        )
        .build(),
        Protocol::HttpProtobuf => http(
            opentelemetry_otlp::SpanExporter::builder().with_http(),
            settings,
            "traces",
            ca.clone(),
        )
        .await?
        .build(),
    }
    .map_err(|e| TelemetryError::Exporter(e.to_string()))?;
    // The SDK's default delay is the contract's (5 s, OTEL_BSP_SCHEDULE_DELAY honoured); the
    // queue bound is held by BoundedProcessor, which can count what it drops.
    let pending = Pending::default();
    let processor = BatchSpanProcessor::builder(ReleasingExporter::new(
        span_exporter,
        pending.clone(),
        dropped_spans.clone(),
    ))
    .with_batch_config(
        BatchConfigBuilder::default()
            .with_max_queue_size(settings.span_queue_size)
            .build(),
    )
    .build();
    let tracer = SdkTracerProvider::builder()
        .with_span_processor(BoundedProcessor::new(
            processor,
            pending,
            settings.span_queue_size,
            dropped_spans,
        ))
        .with_sampler(sampler(settings.sampler))
        .with_resource(resource.clone())
        .build();

    let meter = if settings.export_metrics {
        let exporter = match settings.protocol {
            Protocol::Grpc => grpc(
                opentelemetry_otlp::MetricExporter::builder().with_tonic(),
                settings,
                tls,
            )
            .build(),
            Protocol::HttpProtobuf => http(
                opentelemetry_otlp::MetricExporter::builder().with_http(),
                settings,
                "metrics",
                ca,
            )
            .await?
            .build(),
        }
        .map_err(|e| TelemetryError::Exporter(e.to_string()))?;
        let reader = PeriodicReader::builder(exporter)
            .with_interval(settings.metric_export_interval)
            .build();
        Some(
            SdkMeterProvider::builder()
                .with_reader(reader)
                .with_resource(resource)
                .build(),
        )
    } else {
        None
    };
    Ok(Providers { tracer, meter })
}

/// A gRPC exporter builder (spans or metrics) pointed at the endpoint, with TLS for https.
fn grpc<B: WithExportConfig + WithTonicConfig>(
    builder: B,
    settings: &Settings,
    tls: Option<GrpcTls>,
) -> B {
    let builder = builder
        .with_endpoint(&settings.endpoint)
        .with_timeout(EXPORT_TIMEOUT);
    match tls {
        Some(GrpcTls::Verified(tls)) => builder.with_tls_config(tls),
        Some(GrpcTls::Unverified(channel)) => builder.with_channel(channel),
        None => builder,
    }
}

/// An HTTP exporter builder pointed at `{endpoint}/v1/{signal}` (used verbatim by the SDK).
async fn http<B: WithExportConfig + WithHttpConfig>(
    builder: B,
    settings: &Settings,
    signal: &str,
    ca: Option<Vec<u8>>,
) -> Result<B, TelemetryError> {
    Ok(builder
        .with_endpoint(format!(
            "{}/v1/{signal}",
            settings.endpoint.trim_end_matches('/')
        ))
        .with_timeout(EXPORT_TIMEOUT)
        .with_http_client(http_client(ca, settings.insecure).await?))
}

/// The blocking reqwest client the batch processor's own thread uses; built off the tokio
/// workers because reqwest's blocking client owns a runtime of its own.
async fn http_client(
    ca: Option<Vec<u8>>,
    insecure: bool,
) -> Result<reqwest::blocking::Client, TelemetryError> {
    tokio::task::spawn_blocking(move || {
        let mut builder = reqwest::blocking::Client::builder()
            .timeout(EXPORT_TIMEOUT)
            .tls_danger_accept_invalid_certs(insecure);
        if let Some(pem) = ca {
            let certs = reqwest::Certificate::from_pem_bundle(&pem).map_err(|e| {
                TelemetryError::Exporter(format!("OTEL_EXPORTER_OTLP_CERTIFICATE: {e}"))
            })?;
            for cert in certs {
                builder = builder.add_root_certificate(cert);
            }
        }
        builder
            .build()
            .map_err(|e| TelemetryError::Exporter(e.to_string()))
    })
    .await
    .map_err(|e| TelemetryError::Exporter(e.to_string()))?
}

fn sampler(choice: SamplerChoice) -> Sampler {
    match choice {
        SamplerChoice::AlwaysOn => Sampler::AlwaysOn,
        SamplerChoice::AlwaysOff => Sampler::AlwaysOff,
        SamplerChoice::TraceIdRatio(r) => Sampler::TraceIdRatioBased(r),
        SamplerChoice::ParentBasedAlwaysOn => Sampler::ParentBased(Box::new(Sampler::AlwaysOn)),
        SamplerChoice::ParentBasedAlwaysOff => Sampler::ParentBased(Box::new(Sampler::AlwaysOff)),
        SamplerChoice::ParentBasedTraceIdRatio(r) => {
            Sampler::ParentBased(Box::new(Sampler::TraceIdRatioBased(r)))
        }
    }
}

/// Service, host, OS, process and container attributes, then the configured ones (which win).
pub fn resource(settings: &Settings) -> Resource {
    let mut attributes = vec![
        KeyValue::new("service.version", settings.service_version.clone()),
        KeyValue::new("host.arch", host_arch()),
        KeyValue::new("os.type", std::env::consts::OS),
        KeyValue::new("process.pid", i64::from(std::process::id())),
        KeyValue::new("process.runtime.name", "rust"),
    ];
    if let Some(host) = host_name() {
        attributes.push(KeyValue::new("host.name", host));
    }
    if let Some(exe) = std::env::current_exe()
        .ok()
        .and_then(|p| p.file_name().map(|f| f.to_string_lossy().into_owned()))
    {
        attributes.push(KeyValue::new("process.executable.name", exe));
    }
    if let Some(id) = container_id() {
        attributes.push(KeyValue::new("container.id", id));
    }
    attributes.extend(
        settings
            .resource_attributes
            .iter()
            .map(|(k, v)| KeyValue::new(k.clone(), v.clone())),
    );
    Resource::builder_empty()
        .with_service_name(settings.service_name.clone())
        .with_attributes(attributes)
        .build()
}

fn host_arch() -> &'static str {
    match std::env::consts::ARCH {
        "x86_64" => "amd64",
        "aarch64" => "arm64",
        other => other,
    }
}

/// The kernel's host name (a pod's name in Kubernetes), when it has one.
pub fn host_name() -> Option<String> {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .ok()
        .map(|h| h.trim().to_owned())
        .filter(|h| !h.is_empty())
}

/// The 64-hex container id from the cgroup path, when the process runs in a container.
fn container_id() -> Option<String> {
    container_id_in(&std::fs::read_to_string("/proc/self/cgroup").ok()?)
}

fn container_id_in(cgroup: &str) -> Option<String> {
    cgroup.lines().find_map(|line| {
        line.split(['/', '-', '.'])
            .find(|part| part.len() == 64 && part.chars().all(|c| c.is_ascii_hexdigit()))
            .map(str::to_owned)
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::settings::{ServiceIdentity, TelemetryConfig, resolve};

    #[test]
    fn resource_has_service_host_process_and_configured_attributes() {
        let identity = ServiceIdentity {
            name: "some-binary",
            version: "1.2.3",
        };
        let (settings, _) = resolve(identity, &TelemetryConfig::default(), &|name| {
            (name == "KUBERNETES_POD_NAME").then(|| "web-0".to_owned())
        });
        let resource = resource(&settings);
        let get = |k: &str| {
            resource
                .get(&opentelemetry::Key::from(k.to_owned()))
                .map(|v| v.to_string())
        };
        assert_eq!(get("service.name").as_deref(), Some("some-binary"));
        assert_eq!(get("service.version").as_deref(), Some("1.2.3"));
        assert_eq!(get("k8s.pod.name").as_deref(), Some("web-0"));
        assert_eq!(get("os.type").as_deref(), Some("linux"));
        assert!(get("process.pid").is_some() && get("host.arch").is_some());
    }

    #[test]
    fn container_ids_are_found_in_cgroup_paths() {
        let id = "a".repeat(64);
        let cgroup = format!("0::/kubepods/burstable/pod1/cri-containerd-{id}.scope\n");
        assert_eq!(container_id_in(&cgroup), Some(id));
        assert_eq!(container_id_in("0::/user.slice/session-3.scope\n"), None);
    }
}
