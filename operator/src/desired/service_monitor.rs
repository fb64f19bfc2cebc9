//! The ServiceMonitor that has Prometheus scrape the server's /metrics, when the plan says to
//! create one. Pure.

use k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelector;

use super::HTTP_PORT;
use super::meta::{Placement, object_meta, selector, server_name};
use crate::api::service_monitor::{Endpoint, ServiceMonitor, ServiceMonitorSpec};
use crate::validate::{ServiceMonitorPlan, ValidatedMcpServer};

pub fn service_monitor(v: &ValidatedMcpServer) -> Option<ServiceMonitor> {
    let ServiceMonitorPlan::Create { interval, labels } = &v.service_monitor else {
        return None;
    };
    Some(ServiceMonitor {
        metadata: object_meta(v, server_name(v), Placement::Own, labels.clone()),
        spec: ServiceMonitorSpec {
            selector: LabelSelector {
                match_labels: Some(selector(v)),
                ..Default::default()
            },
            endpoints: vec![Endpoint {
                port: Some(HTTP_PORT.into()),
                path: Some("/metrics".into()),
                interval: interval.clone(),
            }],
        },
    })
}
