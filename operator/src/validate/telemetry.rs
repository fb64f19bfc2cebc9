//! Telemetry decided in one place: the explicit on/off for config.toml, the environment of the
//! server container (downward API first, then OTEL_*), and the collector's CA bundle. Pure.

use k8s_openapi::api::core::v1::{EnvVar, EnvVarSource, ObjectFieldSelector};
use serde::Serialize;

use crate::api::{CaSecret, MetricsExporter, OtlpProtocol, Telemetry, TracesSampler};

/// Where the collector's CA bundle (`spec.telemetry.caSecret`) is mounted.
pub const OTLP_CA_DIR: &str = "/etc/kubernetes-mcp-otlp-ca";

/// What the pod needs for telemetry.
#[derive(Debug, Clone, PartialEq)]
pub struct TelemetryPlan {
    /// Downward API first (OTEL_RESOURCE_ATTRIBUTES may reference them), then OTEL_*.
    pub env: Vec<EnvVar>,
    /// The Secret key with the collector's CA bundle, mounted at [`OTLP_CA_DIR`].
    pub ca_secret: Option<CaSecret>,
}

/// `[telemetry]` of config.toml: only the explicit switch; the rest travels as OTEL_* variables.
#[derive(Serialize)]
pub(super) struct TelemetryToml {
    enabled: bool,
}

pub(super) fn toml_section(t: &Telemetry) -> Option<TelemetryToml> {
    t.enabled.map(|enabled| TelemetryToml { enabled })
}

pub(super) fn plan(t: &Telemetry) -> TelemetryPlan {
    let mut env = Vec::new();
    if t.kubernetes_metadata.unwrap_or(true) {
        env.extend(
            [
                ("KUBERNETES_POD_NAME", "metadata.name"),
                ("KUBERNETES_NAMESPACE", "metadata.namespace"),
                ("KUBERNETES_NODE_NAME", "spec.nodeName"),
            ]
            .map(|(name, path)| EnvVar {
                name: name.into(),
                value_from: Some(EnvVarSource {
                    field_ref: Some(ObjectFieldSelector {
                        field_path: path.into(),
                        ..Default::default()
                    }),
                    ..Default::default()
                }),
                ..Default::default()
            }),
        );
    }
    env.extend(otel_env(t).into_iter().map(|(name, value)| EnvVar {
        name: name.into(),
        value: Some(value),
        ..Default::default()
    }));
    TelemetryPlan {
        env,
        ca_secret: t.ca_secret.clone(),
    }
}

fn otel_env(t: &Telemetry) -> Vec<(&'static str, String)> {
    let mut env = Vec::new();
    if let Some(endpoint) = &t.endpoint {
        env.push(("OTEL_EXPORTER_OTLP_ENDPOINT", endpoint.clone()));
    }
    if let Some(protocol) = t.protocol {
        env.push((
            "OTEL_EXPORTER_OTLP_PROTOCOL",
            protocol_name(protocol).into(),
        ));
    }
    if let Some(sampler) = t.traces_sampler {
        env.push(("OTEL_TRACES_SAMPLER", sampler_name(sampler).into()));
    }
    if let Some(arg) = &t.traces_sampler_arg {
        env.push(("OTEL_TRACES_SAMPLER_ARG", arg.clone()));
    }
    if let Some(name) = &t.service_name {
        env.push(("OTEL_SERVICE_NAME", name.clone()));
    }
    if !t.resource_attributes.is_empty() {
        let pairs: Vec<String> = t
            .resource_attributes
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect();
        env.push(("OTEL_RESOURCE_ATTRIBUTES", pairs.join(",")));
    }
    if t.metrics_exporter == Some(MetricsExporter::None) {
        env.push(("OTEL_METRICS_EXPORTER", "none".into()));
    }
    if let Some(ca) = &t.ca_secret {
        env.push((
            "OTEL_EXPORTER_OTLP_CERTIFICATE",
            format!("{OTLP_CA_DIR}/{}", ca.key),
        ));
    }
    env
}

/// The OTEL_EXPORTER_OTLP_PROTOCOL value; the same text as the CRD's (a test keeps them equal).
fn protocol_name(protocol: OtlpProtocol) -> &'static str {
    match protocol {
        OtlpProtocol::Grpc => "grpc",
        OtlpProtocol::HttpProtobuf => "http/protobuf",
    }
}

/// The OTEL_TRACES_SAMPLER value; the same text as the CRD's (a test keeps them equal).
fn sampler_name(sampler: TracesSampler) -> &'static str {
    match sampler {
        TracesSampler::AlwaysOn => "always_on",
        TracesSampler::AlwaysOff => "always_off",
        TracesSampler::Traceidratio => "traceidratio",
        TracesSampler::ParentbasedAlwaysOn => "parentbased_always_on",
        TracesSampler::ParentbasedAlwaysOff => "parentbased_always_off",
        TracesSampler::ParentbasedTraceidratio => "parentbased_traceidratio",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn env_values_are_the_names_the_crd_accepts() {
        for protocol in [OtlpProtocol::Grpc, OtlpProtocol::HttpProtobuf] {
            assert_eq!(
                serde_json::to_value(protocol).unwrap(),
                protocol_name(protocol)
            );
        }
        for sampler in [
            TracesSampler::AlwaysOn,
            TracesSampler::AlwaysOff,
            TracesSampler::Traceidratio,
            TracesSampler::ParentbasedAlwaysOn,
            TracesSampler::ParentbasedAlwaysOff,
            TracesSampler::ParentbasedTraceidratio,
        ] {
            assert_eq!(
                serde_json::to_value(sampler).unwrap(),
                sampler_name(sampler)
            );
        }
    }

    #[test]
    fn without_kubernetes_metadata_there_is_no_downward_api() {
        let t = Telemetry {
            kubernetes_metadata: Some(false),
            endpoint: Some("http://collector:4317".into()),
            ..Default::default()
        };
        let names: Vec<String> = plan(&t).env.into_iter().map(|e| e.name).collect();
        assert_eq!(names, ["OTEL_EXPORTER_OTLP_ENDPOINT"]);
    }
}
