//! Telemetry settings from the `[telemetry]` TOML section and the `OTEL_*` / `KUBERNETES_*`
//! environment, environment winning (shared/spec/telemetry.md), over the defaults of the
//! binary's [`ServiceIdentity`]. Pure: the environment is passed in, and every invalid value
//! becomes a warning naming the variable and the fallback used.

use std::collections::BTreeMap;
use std::time::Duration;

use serde::Deserialize;

/// Who exports: the default `service.name` and `service.version`, which `OTEL_SERVICE_NAME` and
/// `OTEL_SERVICE_VERSION` override.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ServiceIdentity {
    pub name: &'static str,
    pub version: &'static str,
}

/// The `[telemetry]` section of a TOML config (shared/spec/telemetry.md). `OTEL_*` environment
/// variables win over it.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TelemetryConfig {
    /// Explicit on/off; overrides everything else.
    pub enabled: Option<bool>,
    /// OTLP endpoint URL.
    pub endpoint: Option<String>,
    /// `grpc` or `http/protobuf`.
    pub protocol: Option<String>,
    pub traces_sampler: Option<String>,
    pub traces_sampler_arg: Option<f64>,
}

/// OTLP transport.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Protocol {
    Grpc,
    HttpProtobuf,
}

/// The six samplers of the OpenTelemetry SDK environment specification.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum SamplerChoice {
    AlwaysOn,
    AlwaysOff,
    TraceIdRatio(f64),
    ParentBasedAlwaysOn,
    ParentBasedAlwaysOff,
    ParentBasedTraceIdRatio(f64),
}

/// Everything telemetry start-up needs, every default applied.
#[derive(Debug, Clone, PartialEq)]
pub struct Settings {
    /// False: no exporter is built and no span is recorded.
    pub enabled: bool,
    pub endpoint: String,
    pub protocol: Protocol,
    pub sampler: SamplerChoice,
    pub service_name: String,
    pub service_version: String,
    /// `OTEL_RESOURCE_ATTRIBUTES` plus `k8s.*` from the downward API, in that order of strength.
    pub resource_attributes: BTreeMap<String, String>,
    /// PEM CA bundle for an `https` endpoint.
    pub certificate: Option<String>,
    /// Skip certificate verification of an `https` endpoint (testing only).
    pub insecure: bool,
    pub export_metrics: bool,
    /// Spans that may wait for export at once (`OTEL_BSP_MAX_QUEUE_SIZE`); more are dropped
    /// and counted.
    pub span_queue_size: usize,
    /// How often metrics are exported (`OTEL_METRIC_EXPORT_INTERVAL`, in milliseconds).
    pub metric_export_interval: Duration,
}

/// The SDK environment specification's default for `OTEL_BSP_MAX_QUEUE_SIZE`.
pub const DEFAULT_SPAN_QUEUE_SIZE: usize = 2048;

/// The contract's OTLP metric interval, when `OTEL_METRIC_EXPORT_INTERVAL` gives none.
pub const DEFAULT_METRIC_EXPORT_INTERVAL: Duration = Duration::from_secs(30);

/// Resolves the settings. `env` looks a variable up (`std::env::var` in production).
pub fn resolve(
    identity: ServiceIdentity,
    toml: &TelemetryConfig,
    env: &dyn Fn(&str) -> Option<String>,
) -> (Settings, Vec<String>) {
    let mut warnings = Vec::new();
    let var = |name: &str| env(name).filter(|v| !v.trim().is_empty());

    let endpoint = var("OTEL_EXPORTER_OTLP_ENDPOINT").or_else(|| toml.endpoint.clone());
    let enabled = toml.enabled.unwrap_or(endpoint.is_some());

    let protocol_text = var("OTEL_EXPORTER_OTLP_PROTOCOL")
        .map(|v| ("OTEL_EXPORTER_OTLP_PROTOCOL", v))
        .or_else(|| toml.protocol.clone().map(|v| ("[telemetry] protocol", v)));
    let protocol = match protocol_text {
        None => Protocol::Grpc,
        Some((_, v)) if v == "grpc" => Protocol::Grpc,
        Some((_, v)) if v == "http/protobuf" => Protocol::HttpProtobuf,
        Some((source, v)) => {
            warnings.push(format!(
                "{source}={v:?} is not grpc or http/protobuf; using grpc"
            ));
            Protocol::Grpc
        }
    };
    let endpoint = endpoint.unwrap_or_else(|| match protocol {
        Protocol::Grpc => "http://localhost:4317".to_owned(),
        Protocol::HttpProtobuf => "http://localhost:4318".to_owned(),
    });

    let sampler_name = var("OTEL_TRACES_SAMPLER")
        .map(|v| ("OTEL_TRACES_SAMPLER", v))
        .or_else(|| {
            toml.traces_sampler
                .clone()
                .map(|v| ("[telemetry] traces_sampler", v))
        });
    let ratio = sampler_ratio(toml, &var, &mut warnings);
    let sampler = match sampler_name.as_ref().map(|(s, v)| (*s, v.as_str())) {
        None | Some((_, "parentbased_always_on")) => SamplerChoice::ParentBasedAlwaysOn,
        Some((_, "always_on")) => SamplerChoice::AlwaysOn,
        Some((_, "always_off")) => SamplerChoice::AlwaysOff,
        Some((_, "traceidratio")) => SamplerChoice::TraceIdRatio(ratio),
        Some((_, "parentbased_always_off")) => SamplerChoice::ParentBasedAlwaysOff,
        Some((_, "parentbased_traceidratio")) => SamplerChoice::ParentBasedTraceIdRatio(ratio),
        Some((source, other)) => {
            warnings.push(format!(
                "{source}={other:?} is not a known sampler; using parentbased_always_on"
            ));
            SamplerChoice::ParentBasedAlwaysOn
        }
    };

    let mut resource_attributes = resource_attributes(&var, &mut warnings);
    // OpenTelemetry's order: OTEL_SERVICE_NAME, then a service.name among the resource
    // attributes, then the binary's own name. Taken out of the map so it cannot override.
    let service_name = var("OTEL_SERVICE_NAME")
        .or(resource_attributes.remove("service.name"))
        .unwrap_or_else(|| identity.name.to_owned());

    let insecure = match var("OTEL_EXPORTER_OTLP_INSECURE").as_deref() {
        None | Some("false") => false,
        Some("true") => true,
        Some(other) => {
            warnings.push(format!(
                "OTEL_EXPORTER_OTLP_INSECURE={other:?} is not true or false; using false"
            ));
            false
        }
    };
    let export_metrics = match var("OTEL_METRICS_EXPORTER").as_deref() {
        None | Some("otlp") => true,
        Some("none") => false,
        Some(other) => {
            warnings.push(format!(
                "OTEL_METRICS_EXPORTER={other:?} is not otlp or none; using otlp"
            ));
            true
        }
    };

    let span_queue_size = match var("OTEL_BSP_MAX_QUEUE_SIZE") {
        None => DEFAULT_SPAN_QUEUE_SIZE,
        Some(text) => match text.trim().parse::<usize>() {
            Ok(n) if n > 0 => n,
            _ => {
                warnings.push(format!(
                    "OTEL_BSP_MAX_QUEUE_SIZE={text:?} is not a positive integer; using {DEFAULT_SPAN_QUEUE_SIZE}"
                ));
                DEFAULT_SPAN_QUEUE_SIZE
            }
        },
    };

    // Not a number of milliseconds: the default, without a warning, as the SDK does.
    let metric_export_interval = var("OTEL_METRIC_EXPORT_INTERVAL")
        .and_then(|ms| ms.parse().ok())
        .map_or(DEFAULT_METRIC_EXPORT_INTERVAL, Duration::from_millis);

    let settings = Settings {
        enabled,
        endpoint,
        protocol,
        sampler,
        service_name,
        service_version: var("OTEL_SERVICE_VERSION").unwrap_or_else(|| identity.version.to_owned()),
        resource_attributes,
        certificate: var("OTEL_EXPORTER_OTLP_CERTIFICATE"),
        insecure,
        export_metrics,
        span_queue_size,
        metric_export_interval,
    };
    (settings, warnings)
}

/// `k8s.*` from the downward-API variables, then `OTEL_RESOURCE_ATTRIBUTES` (which wins).
fn resource_attributes(
    var: &dyn Fn(&str) -> Option<String>,
    warnings: &mut Vec<String>,
) -> BTreeMap<String, String> {
    let mut attributes = BTreeMap::new();
    for (key, name) in [
        ("k8s.pod.name", "KUBERNETES_POD_NAME"),
        ("k8s.namespace.name", "KUBERNETES_NAMESPACE"),
        ("k8s.node.name", "KUBERNETES_NODE_NAME"),
    ] {
        if let Some(v) = var(name) {
            attributes.insert(key.to_owned(), v);
        }
    }
    if let Some(list) = var("OTEL_RESOURCE_ATTRIBUTES") {
        for pair in list.split(',').filter(|p| !p.trim().is_empty()) {
            match pair.split_once('=') {
                Some((k, v)) if !k.trim().is_empty() => {
                    attributes.insert(k.trim().to_owned(), v.trim().to_owned());
                }
                _ => warnings.push(format!(
                    "OTEL_RESOURCE_ATTRIBUTES: {pair:?} is not key=value; ignored"
                )),
            }
        }
    }
    attributes
}

fn sampler_ratio(
    toml: &TelemetryConfig,
    var: &dyn Fn(&str) -> Option<String>,
    warnings: &mut Vec<String>,
) -> f64 {
    let (source, value) = if let Some(text) = var("OTEL_TRACES_SAMPLER_ARG") {
        let Ok(v) = text.trim().parse::<f64>() else {
            warnings.push(format!(
                "OTEL_TRACES_SAMPLER_ARG={text:?} is not a number; using 1.0"
            ));
            return 1.0;
        };
        ("OTEL_TRACES_SAMPLER_ARG", v)
    } else if let Some(v) = toml.traces_sampler_arg {
        ("[telemetry] traces_sampler_arg", v)
    } else {
        return 1.0;
    };
    if (0.0..=1.0).contains(&value) {
        value
    } else {
        warnings.push(format!("{source}={value} is outside 0.0..=1.0; using 1.0"));
        1.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const IDENTITY: ServiceIdentity = ServiceIdentity {
        name: "some-binary",
        version: "1.2.3",
    };

    fn with(env: &[(&str, &str)], toml: &TelemetryConfig) -> (Settings, Vec<String>) {
        let env: BTreeMap<String, String> = env
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        resolve(IDENTITY, toml, &|name| env.get(name).cloned())
    }

    #[test]
    fn off_by_default_and_on_with_an_endpoint() {
        let (s, w) = with(&[], &TelemetryConfig::default());
        assert!(!s.enabled && w.is_empty());
        assert_eq!(s.sampler, SamplerChoice::ParentBasedAlwaysOn);
        assert_eq!(s.service_name, IDENTITY.name);
        let (s, _) = with(
            &[("OTEL_EXPORTER_OTLP_ENDPOINT", "http://c:4317")],
            &TelemetryConfig::default(),
        );
        assert!(s.enabled);
        let toml = TelemetryConfig {
            endpoint: Some("http://c:4317".into()),
            ..TelemetryConfig::default()
        };
        assert!(with(&[], &toml).0.enabled);
    }

    #[test]
    fn enabled_false_wins_over_an_endpoint_and_true_forces_on() {
        let toml = TelemetryConfig {
            enabled: Some(false),
            endpoint: Some("http://c:4317".into()),
            ..TelemetryConfig::default()
        };
        assert!(
            !with(&[("OTEL_EXPORTER_OTLP_ENDPOINT", "http://x:4317")], &toml)
                .0
                .enabled
        );
        let toml = TelemetryConfig {
            enabled: Some(true),
            ..TelemetryConfig::default()
        };
        let (s, _) = with(&[], &toml);
        assert!(s.enabled);
        assert_eq!(s.endpoint, "http://localhost:4317");
    }

    #[test]
    fn environment_wins_over_toml() {
        let toml = TelemetryConfig {
            endpoint: Some("http://toml:4317".into()),
            protocol: Some("grpc".into()),
            traces_sampler: Some("always_on".into()),
            traces_sampler_arg: Some(0.5),
            ..TelemetryConfig::default()
        };
        let (s, w) = with(
            &[
                ("OTEL_EXPORTER_OTLP_ENDPOINT", "http://env:4318"),
                ("OTEL_EXPORTER_OTLP_PROTOCOL", "http/protobuf"),
                ("OTEL_TRACES_SAMPLER", "traceidratio"),
                ("OTEL_TRACES_SAMPLER_ARG", "0.25"),
            ],
            &toml,
        );
        assert!(w.is_empty(), "{w:?}");
        assert_eq!(s.endpoint, "http://env:4318");
        assert_eq!(s.protocol, Protocol::HttpProtobuf);
        assert_eq!(s.sampler, SamplerChoice::TraceIdRatio(0.25));
        let (s, _) = with(&[], &toml);
        assert_eq!(
            (s.endpoint.as_str(), s.sampler),
            ("http://toml:4317", SamplerChoice::AlwaysOn)
        );
    }

    #[test]
    fn every_sampler_name_is_known() {
        for (name, expected) in [
            ("always_on", SamplerChoice::AlwaysOn),
            ("always_off", SamplerChoice::AlwaysOff),
            ("traceidratio", SamplerChoice::TraceIdRatio(0.1)),
            ("parentbased_always_on", SamplerChoice::ParentBasedAlwaysOn),
            (
                "parentbased_always_off",
                SamplerChoice::ParentBasedAlwaysOff,
            ),
            (
                "parentbased_traceidratio",
                SamplerChoice::ParentBasedTraceIdRatio(0.1),
            ),
        ] {
            let (s, w) = with(
                &[
                    ("OTEL_TRACES_SAMPLER", name),
                    ("OTEL_TRACES_SAMPLER_ARG", "0.1"),
                ],
                &TelemetryConfig::default(),
            );
            assert_eq!(s.sampler, expected, "{name}");
            assert!(w.is_empty());
        }
    }

    #[test]
    fn otel_service_name_beats_a_service_name_in_the_resource_attributes() {
        let attributes = (
            "OTEL_RESOURCE_ATTRIBUTES",
            "service.name=from-attributes,team=sre",
        );
        let (s, _) = with(&[attributes], &TelemetryConfig::default());
        assert_eq!(s.service_name, "from-attributes");
        let (s, _) = with(
            &[attributes, ("OTEL_SERVICE_NAME", "from-variable")],
            &TelemetryConfig::default(),
        );
        assert_eq!(s.service_name, "from-variable");
        assert!(!s.resource_attributes.contains_key("service.name"));
        assert_eq!(s.resource_attributes["team"], "sre");
    }

    #[test]
    fn bad_values_warn_with_the_variable_and_the_fallback() {
        let (s, w) = with(
            &[
                ("OTEL_TRACES_SAMPLER", "sometimes"),
                ("OTEL_EXPORTER_OTLP_PROTOCOL", "carrier-pigeon"),
                ("OTEL_TRACES_SAMPLER_ARG", "1.5"),
                ("OTEL_RESOURCE_ATTRIBUTES", "team=sre,broken"),
                ("OTEL_METRICS_EXPORTER", "prometheus"),
                ("OTEL_BSP_MAX_QUEUE_SIZE", "-3"),
                ("OTEL_EXPORTER_OTLP_INSECURE", "yes"),
            ],
            &TelemetryConfig::default(),
        );
        assert_eq!(s.sampler, SamplerChoice::ParentBasedAlwaysOn);
        assert_eq!(s.protocol, Protocol::Grpc);
        assert_eq!(s.span_queue_size, DEFAULT_SPAN_QUEUE_SIZE);
        assert!(!s.insecure);
        assert_eq!(
            s.resource_attributes.get("team").map(String::as_str),
            Some("sre")
        );
        let all = w.join("\n");
        for expected in [
            "OTEL_TRACES_SAMPLER=\"sometimes\"",
            "OTEL_EXPORTER_OTLP_PROTOCOL",
            "OTEL_TRACES_SAMPLER_ARG=1.5",
            "\"broken\"",
            "OTEL_METRICS_EXPORTER",
            "OTEL_BSP_MAX_QUEUE_SIZE=\"-3\" is not a positive integer; using 2048",
            "OTEL_EXPORTER_OTLP_INSECURE=\"yes\" is not true or false; using false",
        ] {
            assert!(all.contains(expected), "missing {expected} in {all}");
        }
        assert!(all.contains("using parentbased_always_on") && all.contains("using grpc"));
    }

    #[test]
    fn downward_api_variables_become_k8s_attributes_and_explicit_attributes_win() {
        let (s, _) = with(
            &[
                ("KUBERNETES_POD_NAME", "web-0"),
                ("KUBERNETES_NAMESPACE", "apps"),
                ("KUBERNETES_NODE_NAME", "node-1"),
                (
                    "OTEL_RESOURCE_ATTRIBUTES",
                    "deployment.environment=prod,k8s.node.name=override",
                ),
            ],
            &TelemetryConfig::default(),
        );
        assert_eq!(s.resource_attributes["k8s.pod.name"], "web-0");
        assert_eq!(s.resource_attributes["k8s.namespace.name"], "apps");
        assert_eq!(s.resource_attributes["k8s.node.name"], "override");
        assert_eq!(s.resource_attributes["deployment.environment"], "prod");
    }

    #[test]
    fn the_identity_names_the_service_unless_the_environment_does() {
        let (s, _) = with(&[], &TelemetryConfig::default());
        assert_eq!(
            (s.service_name.as_str(), s.service_version.as_str()),
            (IDENTITY.name, IDENTITY.version)
        );
        let (s, _) = with(
            &[
                ("OTEL_SERVICE_NAME", "renamed"),
                ("OTEL_SERVICE_VERSION", "9"),
            ],
            &TelemetryConfig::default(),
        );
        assert_eq!(
            (s.service_name.as_str(), s.service_version.as_str()),
            ("renamed", "9")
        );
    }

    #[test]
    fn metric_export_interval_is_milliseconds_from_the_environment() {
        let interval = |env: &[(&str, &str)]| {
            with(env, &TelemetryConfig::default())
                .0
                .metric_export_interval
        };
        assert_eq!(interval(&[]), DEFAULT_METRIC_EXPORT_INTERVAL);
        assert_eq!(
            interval(&[("OTEL_METRIC_EXPORT_INTERVAL", "1500")]),
            Duration::from_millis(1500)
        );
        assert_eq!(
            interval(&[("OTEL_METRIC_EXPORT_INTERVAL", "soon")]),
            DEFAULT_METRIC_EXPORT_INTERVAL
        );
    }
}
