//! The operator's cluster-wide defaults as flags (or `KMCP_DEFAULT_*` variables, or Helm values):
//! the telemetry and ServiceMonitor labels an McpServer gets for what its spec leaves unset.
//! Parsed and checked at start, as the CRD checks the same fields. Pure.

use std::collections::BTreeMap;

use clap::Args;
use kubernetes_mcp_operator::api::{OtlpProtocol, TracesSampler};
use kubernetes_mcp_operator::controller::Defaults;
use kubernetes_mcp_operator::validate::TelemetryDefaults;
use serde::de::DeserializeOwned;

#[derive(Debug, Args)]
pub struct DefaultsArgs {
    /// OTLP endpoint of McpServers whose spec.telemetry.endpoint is unset, e.g.
    /// http://otel-collector.observability:4317. Empty: none.
    #[arg(
        long = "default-otlp-endpoint",
        env = "KMCP_DEFAULT_OTLP_ENDPOINT",
        value_parser = endpoint,
    )]
    otlp_endpoint: Option<String>,
    /// OTLP protocol when spec.telemetry.protocol is unset: grpc or http/protobuf.
    #[arg(
        long = "default-otlp-protocol",
        env = "KMCP_DEFAULT_OTLP_PROTOCOL",
        value_parser = crd_enum::<OtlpProtocol>,
    )]
    otlp_protocol: Option<OtlpProtocol>,
    /// Trace sampler when spec.telemetry.tracesSampler is unset (with its argument: the two are
    /// one setting), e.g. parentbased_traceidratio.
    #[arg(
        long = "default-traces-sampler",
        env = "KMCP_DEFAULT_TRACES_SAMPLER",
        value_parser = crd_enum::<TracesSampler>,
    )]
    traces_sampler: Option<TracesSampler>,
    /// Ratio from 0 to 1 for a ratio --default-traces-sampler.
    #[arg(
        long = "default-traces-sampler-arg",
        env = "KMCP_DEFAULT_TRACES_SAMPLER_ARG",
        value_parser = ratio,
    )]
    traces_sampler_arg: Option<String>,
    /// Resource attributes of every McpServer's telemetry, KEY=VALUE, repeated or
    /// comma-separated; the spec's win per key.
    #[arg(
        long = "default-resource-attributes",
        env = "KMCP_DEFAULT_RESOURCE_ATTRIBUTES",
        value_delimiter = ',',
        value_parser = pair,
    )]
    resource_attributes: Vec<(String, String)>,
    /// Labels of every ServiceMonitor (e.g. what a Prometheus selects on), KEY=VALUE, repeated
    /// or comma-separated; the McpServer's win per key.
    #[arg(
        long = "default-service-monitor-labels",
        env = "KMCP_DEFAULT_SERVICE_MONITOR_LABELS",
        value_delimiter = ',',
        value_parser = pair,
    )]
    service_monitor_labels: Vec<(String, String)>,
}

impl DefaultsArgs {
    /// The defaults, or why they do not hold together.
    pub fn defaults(&self) -> Result<Defaults, String> {
        let ratio_sampler = matches!(
            self.traces_sampler,
            Some(TracesSampler::Traceidratio | TracesSampler::ParentbasedTraceidratio)
        );
        if self.traces_sampler_arg.is_some() && !ratio_sampler {
            return Err("--default-traces-sampler-arg needs --default-traces-sampler traceidratio or parentbased_traceidratio".into());
        }
        Ok(Defaults {
            telemetry: TelemetryDefaults {
                endpoint: self.otlp_endpoint.clone().filter(|e| !e.is_empty()),
                protocol: self.otlp_protocol,
                traces_sampler: self.traces_sampler,
                traces_sampler_arg: self.traces_sampler_arg.clone(),
                resource_attributes: self.resource_attributes.iter().cloned().collect(),
            },
            service_monitor_labels: self
                .service_monitor_labels
                .iter()
                .cloned()
                .collect::<BTreeMap<_, _>>(),
        })
    }
}

/// What the CRD's endpoint pattern accepts (`^https?://[^\s/]+(:[0-9]+)?(/.*)?$`); empty is none.
fn endpoint(text: &str) -> Result<String, String> {
    let host = text
        .strip_prefix("http://")
        .or_else(|| text.strip_prefix("https://"));
    match host {
        _ if text.is_empty() => Ok(String::new()),
        Some(rest)
            if !rest.is_empty()
                && !rest.starts_with('/')
                && !rest.contains(char::is_whitespace) =>
        {
            Ok(text.to_owned())
        }
        _ => Err("an http:// or https:// URL with a host".into()),
    }
}

/// An enum by the name the CRD gives it.
fn crd_enum<T: DeserializeOwned>(text: &str) -> Result<T, String> {
    serde_json::from_value(serde_json::Value::String(text.to_owned())).map_err(|e| e.to_string())
}

fn ratio(text: &str) -> Result<String, String> {
    match text.parse::<f64>() {
        Ok(r) if (0.0..=1.0).contains(&r) => Ok(text.to_owned()),
        _ => Err("a number from 0 to 1".into()),
    }
}

fn pair(text: &str) -> Result<(String, String), String> {
    match text.split_once('=') {
        Some((key, value)) if !key.is_empty() => Ok((key.to_owned(), value.to_owned())),
        _ => Err("KEY=VALUE".into()),
    }
}

#[cfg(test)]
mod tests {
    use clap::Parser;

    use super::*;

    #[derive(Parser)]
    struct Cli {
        #[command(flatten)]
        defaults: DefaultsArgs,
    }

    fn parse(args: &[&str]) -> Result<Defaults, String> {
        Cli::try_parse_from(std::iter::once("operator").chain(args.iter().copied()))
            .map_err(|e| e.to_string())?
            .defaults
            .defaults()
    }

    #[test]
    fn every_flag_reaches_the_defaults() {
        let d = parse(&[
            "--default-otlp-endpoint=http://collector.observability:4317",
            "--default-otlp-protocol=http/protobuf",
            "--default-traces-sampler=parentbased_traceidratio",
            "--default-traces-sampler-arg=0.25",
            "--default-resource-attributes=deployment.environment=prod,k8s.cluster.name=east",
            "--default-service-monitor-labels=release=prometheus",
        ])
        .unwrap();
        let t = &d.telemetry;
        assert_eq!(
            t.endpoint.as_deref(),
            Some("http://collector.observability:4317")
        );
        assert_eq!(t.protocol, Some(OtlpProtocol::HttpProtobuf));
        assert_eq!(
            t.traces_sampler,
            Some(TracesSampler::ParentbasedTraceidratio)
        );
        assert_eq!(t.traces_sampler_arg.as_deref(), Some("0.25"));
        assert_eq!(t.resource_attributes["k8s.cluster.name"], "east");
        assert_eq!(d.service_monitor_labels["release"], "prometheus");
    }

    #[test]
    fn none_set_and_empty_endpoint_mean_no_defaults() {
        let d = parse(&["--default-otlp-endpoint="]).unwrap();
        assert_eq!(d.telemetry, TelemetryDefaults::default());
        assert!(d.service_monitor_labels.is_empty());
    }

    #[test]
    fn what_the_crd_would_refuse_is_refused() {
        for bad in [
            &["--default-otlp-endpoint=collector:4317"][..],
            &["--default-otlp-protocol=http"],
            &["--default-traces-sampler=sometimes"],
            &[
                "--default-traces-sampler=traceidratio",
                "--default-traces-sampler-arg=2",
            ],
            &["--default-traces-sampler-arg=0.5"],
            &["--default-resource-attributes=novalue"],
        ] {
            assert!(parse(bad).is_err(), "{bad:?}");
        }
    }
}
