//! A trimmed prometheus-operator ServiceMonitor (`monitoring.coreos.com/v1`): only the fields
//! the operator sets, so the child is typed from builder to apply. prometheus-operator owns the
//! CRD; ours is never generated from this type. No I/O.

use k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelector;
use kube::CustomResource;
use serde::{Deserialize, Serialize};

/// Which Services Prometheus scrapes, and how.
#[derive(CustomResource, Deserialize, Serialize, Clone, Debug, PartialEq)]
#[kube(
    group = "monitoring.coreos.com",
    version = "v1",
    kind = "ServiceMonitor",
    namespaced,
    schema = "disabled",
    derive = "PartialEq"
)]
pub struct ServiceMonitorSpec {
    /// The Services to scrape.
    pub selector: LabelSelector,
    /// Where on those Services, and how often.
    #[serde(default)]
    pub endpoints: Vec<Endpoint>,
}

/// One scrape target of the selected Services.
#[derive(Deserialize, Serialize, Clone, Debug, Default, PartialEq)]
pub struct Endpoint {
    /// Name of the Service port.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub port: Option<String>,
    /// HTTP path of the metrics.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub path: Option<String>,
    /// Scrape interval, e.g. 30s; Prometheus's own default when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub interval: Option<String>,
}
