//! Telemetry decided in one place: the spec over the operator's cluster-wide defaults, the
//! explicit on/off for config.toml, the environment of the server container (downward API
//! first, then OTEL_*), the collector's CA bundle, and where the endpoint came from. Pure.

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::{EnvVar, EnvVarSource, ObjectFieldSelector};
use serde::Serialize;

use crate::api::{
    CaSecret, EndpointSource, MetricsExporter, OtlpProtocol, Telemetry, TelemetryStatus,
    TracesSampler,
};

/// Where the collector's CA bundle (`spec.telemetry.caSecret`) is mounted.
pub const OTLP_CA_DIR: &str = "/etc/kubernetes-mcp-otlp-ca";

/// What the pod needs for telemetry.
#[derive(Debug, Clone, PartialEq)]
pub struct TelemetryPlan {
    /// Downward API first (OTEL_RESOURCE_ATTRIBUTES may reference them), then OTEL_*.
    pub env: Vec<EnvVar>,
    /// The Secret key with the collector's CA bundle, mounted at [`OTLP_CA_DIR`].
    pub ca_secret: Option<CaSecret>,
    /// The effective endpoint and whose it is; None when there is none or telemetry is off.
    pub status: Option<TelemetryStatus>,
}

/// The operator's cluster-wide telemetry (its --default-otlp-* flags), for what an McpServer's
/// spec.telemetry leaves unset.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TelemetryDefaults {
    pub endpoint: Option<String>,
    pub protocol: Option<OtlpProtocol>,
    pub traces_sampler: Option<TracesSampler>,
    pub traces_sampler_arg: Option<String>,
    pub resource_attributes: BTreeMap<String, String>,
}

/// The spec over the defaults, field by field. A sampler and its argument are one setting (an
/// argument means nothing to another sampler): both come from the spec when it names a sampler.
/// Resource attributes are merged, the spec's winning per key.
fn merge(spec: &Telemetry, defaults: &TelemetryDefaults) -> Telemetry {
    let (traces_sampler, traces_sampler_arg) = if spec.traces_sampler.is_some() {
        (spec.traces_sampler, spec.traces_sampler_arg.clone())
    } else {
        (defaults.traces_sampler, defaults.traces_sampler_arg.clone())
    };
    let mut resource_attributes = defaults.resource_attributes.clone();
    resource_attributes.extend(spec.resource_attributes.clone());
    Telemetry {
        endpoint: spec.endpoint.clone().or_else(|| defaults.endpoint.clone()),
        protocol: spec.protocol.or(defaults.protocol),
        traces_sampler,
        traces_sampler_arg,
        resource_attributes,
        ..spec.clone()
    }
}

/// `[telemetry]` of config.toml: only the explicit switch; the rest travels as OTEL_* variables.
#[derive(Serialize)]
pub(super) struct TelemetryToml {
    enabled: bool,
}

pub(super) fn toml_section(t: &Telemetry) -> Option<TelemetryToml> {
    t.enabled.map(|enabled| TelemetryToml { enabled })
}

pub(super) fn plan(spec: &Telemetry, defaults: &TelemetryDefaults) -> TelemetryPlan {
    let t = &merge(spec, defaults);
    let status = match (&spec.endpoint, &t.endpoint) {
        _ if spec.enabled == Some(false) => None,
        (Some(endpoint), _) => Some((endpoint, EndpointSource::Spec)),
        (None, Some(endpoint)) => Some((endpoint, EndpointSource::OperatorDefault)),
        (None, None) => None,
    }
    .map(|(endpoint, source)| TelemetryStatus {
        endpoint: endpoint.clone(),
        source,
    });
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
        status,
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
        let names: Vec<String> = plan(&t, &TelemetryDefaults::default())
            .env
            .into_iter()
            .map(|e| e.name)
            .collect();
        assert_eq!(names, ["OTEL_EXPORTER_OTLP_ENDPOINT"]);
    }

    fn defaults() -> TelemetryDefaults {
        TelemetryDefaults {
            endpoint: Some("http://collector.observability:4317".into()),
            protocol: Some(OtlpProtocol::Grpc),
            traces_sampler: Some(TracesSampler::ParentbasedTraceidratio),
            traces_sampler_arg: Some("0.1".into()),
            resource_attributes: BTreeMap::from([
                ("deployment.environment".into(), "production".into()),
                ("k8s.cluster.name".into(), "east".into()),
            ]),
        }
    }

    fn otel(spec: &Telemetry) -> BTreeMap<String, String> {
        plan(spec, &defaults())
            .env
            .into_iter()
            .filter_map(|e| Some((e.name, e.value?)))
            .collect()
    }

    #[test]
    fn an_empty_spec_gets_every_default_and_says_so() {
        insta::assert_yaml_snapshot!(otel(&Telemetry::default()));
        assert_eq!(
            plan(&Telemetry::default(), &defaults()).status,
            Some(TelemetryStatus {
                endpoint: "http://collector.observability:4317".into(),
                source: EndpointSource::OperatorDefault,
            })
        );
    }

    #[test]
    fn the_spec_overrides_field_by_field() {
        let spec = Telemetry {
            endpoint: Some("http://mine:4318".into()),
            protocol: Some(OtlpProtocol::HttpProtobuf),
            resource_attributes: BTreeMap::from([(
                "deployment.environment".into(),
                "staging".into(),
            )]),
            ..Default::default()
        };
        insta::assert_yaml_snapshot!(otel(&spec));
        assert_eq!(
            plan(&spec, &defaults()).status.map(|s| s.source),
            Some(EndpointSource::Spec)
        );
    }

    #[test]
    fn a_sampler_in_the_spec_brings_its_own_argument_or_none() {
        let spec = Telemetry {
            traces_sampler: Some(TracesSampler::AlwaysOn),
            ..Default::default()
        };
        let env = otel(&spec);
        assert_eq!(env["OTEL_TRACES_SAMPLER"], "always_on");
        assert!(!env.contains_key("OTEL_TRACES_SAMPLER_ARG"));
    }

    #[test]
    fn without_defaults_or_endpoint_there_is_no_status_and_off_reports_none() {
        assert_eq!(
            plan(&Telemetry::default(), &TelemetryDefaults::default()).status,
            None
        );
        let off = Telemetry {
            enabled: Some(false),
            ..Default::default()
        };
        assert_eq!(plan(&off, &defaults()).status, None);
    }
}
