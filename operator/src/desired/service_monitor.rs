//! The ServiceMonitor that has Prometheus scrape the server's /metrics, when the plan says to
//! create one. Pure.

use k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelector;

use super::METRICS_PORT;
use super::meta::{selector, swept_meta};
use crate::api::service_monitor::{Endpoint, ServiceMonitor, ServiceMonitorSpec};
use crate::validate::{ServiceMonitorPlan, ValidatedMcpServer};

pub fn service_monitor(v: &ValidatedMcpServer) -> Option<ServiceMonitor> {
    let ServiceMonitorPlan::Create { interval, labels } = &v.service_monitor else {
        return None;
    };
    Some(ServiceMonitor {
        metadata: swept_meta(v, labels),
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
