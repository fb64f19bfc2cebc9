//! The operator's own Prometheus metrics: reconciles by outcome, failures by reason, reconcile
//! duration, whether this replica leads, and whether each McpServer is Ready (what the chart's
//! `McpServerNotReady` alert reads). Pure apart from atomic counters.

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct OutcomeLabels {
    outcome: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ReasonLabels {
    reason: &'static str,
}

/// Not `namespace`: Prometheus would rename it to `exported_namespace` next to the target's own.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct McpServerLabels {
    mcpserver_namespace: String,
    mcpserver_name: String,
}

/// Seconds: an apply of every child takes milliseconds against a healthy apiserver.
const DURATION_BUCKETS: [f64; 10] = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 10.0];

pub struct Metrics {
    registry: Registry,
    reconciles: Family<OutcomeLabels, Counter>,
    failures: Family<ReasonLabels, Counter>,
    duration: Histogram,
    pub leader: Gauge,
    ready: Family<McpServerLabels, Gauge>,
    /// Reconcile spans dropped because the export queue was full.
    pub spans_dropped: Counter,
}

impl Metrics {
    pub fn new() -> Self {
        let mut registry = Registry::default();
        let reconciles = Family::<OutcomeLabels, Counter>::default();
        let failures = Family::<ReasonLabels, Counter>::default();
        let duration = Histogram::new(DURATION_BUCKETS);
        let leader = Gauge::default();
        let ready = Family::<McpServerLabels, Gauge>::default();
        let spans_dropped = Counter::default();
        registry.register(
            "kubernetes_mcp_operator_reconciles",
            "Reconciles of McpServers, by outcome (success or error)",
            reconciles.clone(),
        );
        registry.register(
            "kubernetes_mcp_operator_reconcile_errors",
            "Failed reconciles, by reason",
            failures.clone(),
        );
        registry.register(
            "kubernetes_mcp_operator_reconcile_duration_seconds",
            "Duration of one reconcile in seconds",
            duration.clone(),
        );
        registry.register(
            "kubernetes_mcp_operator_leader",
            "1 while this replica holds the leader Lease and reconciles",
            leader.clone(),
        );
        registry.register(
            "kubernetes_mcp_operator_mcpserver_ready",
            "1 while the McpServer's Ready condition, as this replica last wrote it, is True",
            ready.clone(),
        );
        registry.register(
            "kubernetes_mcp_operator_spans_dropped",
            "Reconcile spans dropped because the export queue was full",
            spans_dropped.clone(),
        );
        registry.register(
            "kubernetes_mcp_operator_log_lines_dropped",
            "Log lines dropped because stderr was not keeping up",
            kubernetes_mcp_otel::log_lines_dropped(),
        );
        Self {
            registry,
            reconciles,
            failures,
            duration,
            leader,
            ready,
            spans_dropped,
        }
    }

    /// Counts one reconcile that took `seconds` and failed with `reason`, or succeeded.
    pub fn record(&self, seconds: f64, failure: Option<&'static str>) {
        self.duration.observe(seconds);
        let outcome = if failure.is_some() {
            "error"
        } else {
            "success"
        };
        self.reconciles
            .get_or_create(&OutcomeLabels { outcome })
            .inc();
        if let Some(reason) = failure {
            self.failures.get_or_create(&ReasonLabels { reason }).inc();
        }
    }

    /// Records whether the McpServer `namespace/name` is Ready after this reconcile.
    pub fn set_ready(&self, namespace: &str, name: &str, ready: bool) {
        self.ready
            .get_or_create(&McpServerLabels::new(namespace, name))
            .set(i64::from(ready));
    }

    /// Drops a deleted McpServer's series, so that it does not stay not Ready forever.
    pub fn forget(&self, namespace: &str, name: &str) {
        self.ready.remove(&McpServerLabels::new(namespace, name));
    }

    /// The classic Prometheus text exposition.
    pub fn render(&self) -> String {
        let mut body = String::new();
        // Writing to a String cannot fail.
        let _ = prometheus_client::encoding::prometheus_text::encode(&mut body, &self.registry);
        body
    }
}

impl McpServerLabels {
    fn new(namespace: &str, name: &str) -> Self {
        Self {
            mcpserver_namespace: namespace.to_owned(),
            mcpserver_name: name.to_owned(),
        }
    }
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reconciles_are_counted_by_outcome_and_reason() {
        let m = Metrics::new();
        m.record(0.003, None);
        m.record(0.2, Some("ApplyFailed"));
        let text = m.render();
        for line in [
            "kubernetes_mcp_operator_reconciles_total{outcome=\"success\"} 1",
            "kubernetes_mcp_operator_reconciles_total{outcome=\"error\"} 1",
            "kubernetes_mcp_operator_reconcile_errors_total{reason=\"ApplyFailed\"} 1",
            "kubernetes_mcp_operator_reconcile_duration_seconds_count 2",
            "kubernetes_mcp_operator_leader 0",
        ] {
            assert!(text.contains(line), "missing {line} in\n{text}");
        }
    }

    #[test]
    fn readiness_is_a_series_per_mcpserver_until_it_is_deleted() {
        let m = Metrics::new();
        m.set_ready("team-a", "one", true);
        m.set_ready("team-a", "two", true);
        m.set_ready("team-a", "two", false);
        let text = m.render();
        for line in [
            "kubernetes_mcp_operator_mcpserver_ready{mcpserver_namespace=\"team-a\",mcpserver_name=\"one\"} 1",
            "kubernetes_mcp_operator_mcpserver_ready{mcpserver_namespace=\"team-a\",mcpserver_name=\"two\"} 0",
        ] {
            assert!(text.contains(line), "missing {line} in\n{text}");
        }
        m.forget("team-a", "two");
        assert!(!m.render().contains("\"two\""));
    }
}
