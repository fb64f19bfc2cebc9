//! The Service in front of the server's pods: the MCP port (`http`) and the metrics port
//! (`metrics`, what the ServiceMonitor scrapes). Pure.

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::{Service, ServicePort, ServiceSpec};
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;

use super::meta::{Placement, object_meta, selector, server_name};
use super::{HTTP_PORT, METRICS_PORT};
use crate::validate::{self, SERVER_PORT, ValidatedMcpServer};

pub fn service(v: &ValidatedMcpServer) -> Service {
    Service {
        metadata: object_meta(v, server_name(v), Placement::Own, BTreeMap::new()),
        spec: Some(ServiceSpec {
            selector: Some(selector(v)),
            ports: Some(vec![
                port(HTTP_PORT, SERVER_PORT),
                port(METRICS_PORT, validate::METRICS_PORT),
            ]),
            ..Default::default()
        }),
        ..Default::default()
    }
}

fn port(name: &str, number: u16) -> ServicePort {
    ServicePort {
        name: Some(name.into()),
        port: i32::from(number),
        target_port: Some(IntOrString::String(name.into())),
        protocol: Some("TCP".into()),
        ..Default::default()
    }
}
