//! The ServiceMonitor that has Prometheus scrape the server's /metrics, when the plan says to
//! create one. Pure.

use k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelector;

use super::METRICS_PORT;
use super::meta::{Placement, object_meta, owner_uid_label, selector, server_name};
use crate::api::service_monitor::{Endpoint, ServiceMonitor, ServiceMonitorSpec};
use crate::validate::{ServiceMonitorPlan, ValidatedMcpServer};

pub fn service_monitor(v: &ValidatedMcpServer) -> Option<ServiceMonitor> {
    let ServiceMonitorPlan::Create { interval, labels } = &v.service_monitor else {
        return None;
    };
    // The owner-uid label after the user's: the orphan sweep finds it by that label once it is
    // no longer wanted.
    let mut extra_labels = labels.clone();
    extra_labels.extend(owner_uid_label(v));
    Some(ServiceMonitor {
        metadata: object_meta(v, server_name(v), Placement::Own, extra_labels),
        spec: ServiceMonitorSpec {
            selector: LabelSelector {
                match_labels: Some(selector(v)),
                ..Default::default()
            },
            endpoints: vec![Endpoint {
                port: Some(METRICS_PORT.into()),
                path: Some("/metrics".into()),
                interval: interval.clone(),
            }],
        },
    })
}
