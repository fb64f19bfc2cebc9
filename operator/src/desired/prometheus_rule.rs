//! The PrometheusRule with this McpServer's own alerts, when the plan says to create one: the
//! server alerts of the operator chart's fleet-wide rules (files/monitoring/rules.yaml; a test
//! keeps names, durations, labels and texts equal), each scoped to this server's series: those
//! its ServiceMonitor's scrape labels `namespace` and `job` (the Service), and the operator's
//! readiness series labelled `mcpserver_namespace` and `mcpserver_name`. The chart's recording
//! rules are inlined, so that this rule works alone. Pure.

use std::collections::BTreeMap;

use super::meta::{server_name, swept_meta};
use crate::api::prometheus_rule::{PrometheusRule, PrometheusRuleSpec, Rule, RuleGroup};
use crate::validate::{PrometheusRulePlan, ValidatedMcpServer};

/// The group's name, as in the chart's rules.
const GROUP: &str = "kubernetes-mcp-server.alerts";

pub fn prometheus_rule(v: &ValidatedMcpServer) -> Option<PrometheusRule> {
    let PrometheusRulePlan::Create { labels } = &v.prometheus_rule else {
        return None;
    };
    Some(PrometheusRule {
        metadata: swept_meta(v, labels),
        spec: PrometheusRuleSpec {
            groups: vec![RuleGroup {
                name: GROUP.into(),
                rules: alerts(v),
            }],
        },
    })
}

/// The chart's server alerts on this server's series alone.
fn alerts(v: &ValidatedMcpServer) -> Vec<Rule> {
    // Kubernetes names need no escaping in a PromQL string.
    let server = format!(r#"namespace="{}",job="{}""#, v.namespace, server_name(v));
    let mcpserver = format!(
        r#"mcpserver_namespace="{}",mcpserver_name="{}""#,
        v.namespace, v.name
    );
    let rate = |metric: &str| format!("sum by (namespace, job) (rate({metric}{{{server}}}[5m]))");
    vec![
        alert(
            "McpToolErrorRatioHigh",
            format!(
                "{} / ({} > 0) > 0.1",
                rate("k8s_mcp_tool_errors_total"),
                rate("k8s_mcp_tool_calls_total")
            ),
            Some("10m"),
            "warning",
            (
                "More than 10% of MCP tool calls fail",
                "{{ $value | humanizePercentage }} of the tool calls of {{ $labels.namespace }}/{{ $labels.job }} failed over the last 5 minutes.",
            ),
        ),
        alert(
            "McpToolLatencyHigh",
            format!(
                "histogram_quantile(0.99, sum by (namespace, job, le) (rate(k8s_mcp_tool_duration_seconds_bucket{{{server}}}[5m]))) > 2.5"
            ),
            Some("10m"),
            "warning",
            (
                "MCP tool calls are slow",
                "The p99 tool call latency of {{ $labels.namespace }}/{{ $labels.job }} is {{ $value | humanizeDuration }}.",
            ),
        ),
        alert(
            "McpSpansDropped",
            format!(
                "sum by (namespace, job) (increase(k8s_mcp_spans_dropped_total{{{server}}}[10m])) > 0"
            ),
            None,
            "info",
            (
                "MCP server drops trace spans",
                "{{ $labels.namespace }}/{{ $labels.job }} dropped {{ $value }} spans in 10 minutes: its OTLP collector is slow or unreachable.",
            ),
        ),
        // A target that served k8s_mcp_* in the last hour and is now down (one that never came
        // up is McpServerNotReady's business).
        alert(
            "McpServerDown",
            format!(
                "(up{{{server}}} == 0) and on (namespace, job, instance) (max_over_time(k8s_mcp_server_info{{{server}}}[1h]) == 1)"
            ),
            Some("5m"),
            "critical",
            (
                "An MCP server cannot be scraped",
                "{{ $labels.namespace }}/{{ $labels.job }} ({{ $labels.instance }}) has been down for 5 minutes.",
            ),
        ),
        // Only the leader's series: a replica that lost the Lease keeps its last values.
        alert(
            "McpServerNotReady",
            format!(
                "(kubernetes_mcp_operator_mcpserver_ready{{{mcpserver}}} == 0) and on (namespace, job, instance) (kubernetes_mcp_operator_leader == 1)"
            ),
            Some("10m"),
            "warning",
            (
                "An McpServer is not Ready",
                "McpServer {{ $labels.mcpserver_namespace }}/{{ $labels.mcpserver_name }} has not been Ready for 10 minutes: kubectl describe mcpserver -n {{ $labels.mcpserver_namespace }} {{ $labels.mcpserver_name }}",
            ),
        ),
    ]
}

fn alert(
    name: &str,
    expr: String,
    for_: Option<&str>,
    severity: &str,
    (summary, description): (&str, &str),
) -> Rule {
    Rule {
        alert: name.into(),
        expr,
        for_: for_.map(Into::into),
        labels: BTreeMap::from([("severity".into(), severity.into())]),
        annotations: BTreeMap::from([
            ("summary".into(), summary.into()),
            ("description".into(), description.into()),
        ]),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::McpServer;
    use crate::validate::{test_facts, validate};

    fn validated(spec: &serde_json::Value) -> ValidatedMcpServer {
        let mcp: McpServer = serde_json::from_value(serde_json::json!({
            "apiVersion": "kubernetes-mcp.io/v1alpha1", "kind": "McpServer",
            "metadata": {"name": "mcp", "namespace": "apps", "uid": "u-1"},
            "spec": spec
        }))
        .unwrap();
        validate(&mcp, &test_facts()).unwrap()
    }

    fn asked() -> ValidatedMcpServer {
        validated(&serde_json::json!({"metrics": {"prometheusRule": {
            "enabled": true, "labels": {"release": "prometheus"}}}}))
    }

    #[test]
    fn the_rule_of_one_server() {
        insta::assert_yaml_snapshot!(prometheus_rule(&asked()).unwrap());
    }

    #[test]
    fn none_unless_asked() {
        assert_eq!(prometheus_rule(&validated(&serde_json::json!({}))), None);
    }

    #[test]
    fn every_expression_is_scoped_to_this_server() {
        for rule in &prometheus_rule(&asked()).unwrap().spec.groups[0].rules {
            let scoped = rule.expr.contains(r#"namespace="apps",job="mcp""#)
                || rule
                    .expr
                    .contains(r#"mcpserver_namespace="apps",mcpserver_name="mcp""#);
            assert!(scoped, "{}: {}", rule.alert, rule.expr);
            // Every metric of the server is selected, none left fleet-wide.
            let unscoped = rule
                .expr
                .match_indices("k8s_mcp_")
                .any(|(at, _)| !rule.expr[at..].split('[').next().unwrap().contains('{'));
            assert!(!unscoped, "{}: {}", rule.alert, rule.expr);
        }
    }

    /// The chart's alert `name` in files/monitoring/rules.yaml.
    fn chart_alert(name: &str) -> serde_json::Value {
        let path = format!(
            "{}/../charts/kubernetes-mcp-operator/files/monitoring/rules.yaml",
            env!("CARGO_MANIFEST_DIR")
        );
        let rules: serde_json::Value =
            serde_saphyr::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
        rules["groups"]
            .as_array()
            .unwrap()
            .iter()
            .flat_map(|group| group["rules"].as_array().unwrap())
            .find(|rule| rule["alert"] == name)
            .unwrap_or_else(|| panic!("the chart has no alert {name}"))
            .clone()
    }

    #[test]
    fn the_alerts_are_the_charts_server_alerts_but_for_the_expression() {
        let rule = prometheus_rule(&asked()).unwrap();
        let names: Vec<&str> = rule.spec.groups[0]
            .rules
            .iter()
            .map(|r| r.alert.as_str())
            .collect();
        assert_eq!(
            names,
            [
                "McpToolErrorRatioHigh",
                "McpToolLatencyHigh",
                "McpSpansDropped",
                "McpServerDown",
                "McpServerNotReady"
            ]
        );
        for ours in &rule.spec.groups[0].rules {
            let mut ours = serde_json::to_value(ours).unwrap();
            let mut chart = chart_alert(ours["alert"].as_str().unwrap());
            ours.as_object_mut().unwrap().remove("expr");
            chart.as_object_mut().unwrap().remove("expr");
            assert_eq!(ours, chart);
        }
    }
}
