//! A trimmed prometheus-operator PrometheusRule (`monitoring.coreos.com/v1`): only the fields
//! the operator sets, so the child is typed from builder to apply. prometheus-operator owns the
//! CRD; ours is never generated from this type. No I/O.

use std::collections::BTreeMap;

use kube::CustomResource;
use serde::{Deserialize, Serialize};

/// Groups of alerting rules that a Prometheus loads (a Prometheus rule file's content).
#[derive(CustomResource, Deserialize, Serialize, Clone, Debug, PartialEq)]
#[kube(
    group = "monitoring.coreos.com",
    version = "v1",
    kind = "PrometheusRule",
    namespaced,
    schema = "disabled",
    derive = "PartialEq"
)]
pub struct PrometheusRuleSpec {
    #[serde(default)]
    pub groups: Vec<RuleGroup>,
}

/// Rules evaluated together.
#[derive(Deserialize, Serialize, Clone, Debug, Default, PartialEq)]
pub struct RuleGroup {
    pub name: String,
    #[serde(default)]
    pub rules: Vec<Rule>,
}

/// One alerting rule.
#[derive(Deserialize, Serialize, Clone, Debug, Default, PartialEq)]
pub struct Rule {
    pub alert: String,
    /// PromQL; the alert fires for each series it returns.
    pub expr: String,
    /// How long `expr` must hold before the alert fires; at once when absent.
    #[serde(default, rename = "for", skip_serializing_if = "Option::is_none")]
    pub for_: Option<String>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub labels: BTreeMap<String, String>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub annotations: BTreeMap<String, String>,
}
