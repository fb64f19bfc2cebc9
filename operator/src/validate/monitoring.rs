//! What to do about the McpServer's PrometheusRule, decided like its ServiceMonitor: from
//! whether it is asked for and whether prometheus-operator's CRD is served. Pure.

use std::collections::BTreeMap;

use crate::api::PrometheusRuleSettings;

/// Decided once, read by the builder, apply, status and the next check.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PrometheusRulePlan {
    /// Asked for and served.
    Create {
        /// Added to the common labels, e.g. what a Prometheus's ruleSelector selects on.
        labels: BTreeMap<String, String>,
    },
    /// Asked for, but its CRD is not served: say so and look again soon.
    AwaitCrd,
    /// Not asked for while served: one left from before is deleted.
    Delete,
    /// Not asked for and not served: nothing to do.
    Absent,
}

pub fn plan(settings: &PrometheusRuleSettings, served: bool) -> PrometheusRulePlan {
    match (settings.enabled, served) {
        (true, true) => PrometheusRulePlan::Create {
            labels: settings.labels.clone(),
        },
        (true, false) => PrometheusRulePlan::AwaitCrd,
        (false, true) => PrometheusRulePlan::Delete,
        (false, false) => PrometheusRulePlan::Absent,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_prometheus_rule_only_when_asked_and_served() {
        let asked = PrometheusRuleSettings {
            enabled: true,
            labels: BTreeMap::from([("release".into(), "prometheus".into())]),
        };
        assert_eq!(
            plan(&asked, true),
            PrometheusRulePlan::Create {
                labels: asked.labels.clone()
            }
        );
        assert_eq!(plan(&asked, false), PrometheusRulePlan::AwaitCrd);
        let unasked = PrometheusRuleSettings::default();
        assert_eq!(plan(&unasked, true), PrometheusRulePlan::Delete);
        assert_eq!(plan(&unasked, false), PrometheusRulePlan::Absent);
    }
}
