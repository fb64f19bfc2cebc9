//! The Service in front of the server's pods, on the port the server listens on. Pure.

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::{Service, ServicePort, ServiceSpec};
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;

use super::HTTP_PORT;
use super::meta::{Placement, object_meta, selector, server_name};
use crate::validate::{SERVER_PORT, ValidatedMcpServer};

pub fn service(v: &ValidatedMcpServer) -> Service {
    Service {
        metadata: object_meta(v, server_name(v), Placement::Own, BTreeMap::new()),
        spec: Some(ServiceSpec {
            selector: Some(selector(v)),
            ports: Some(vec![ServicePort {
                name: Some(HTTP_PORT.into()),
                port: i32::from(SERVER_PORT),
                target_port: Some(IntOrString::String(HTTP_PORT.into())),
                protocol: Some("TCP".into()),
                ..Default::default()
            }]),
            ..Default::default()
        }),
        ..Default::default()
    }
}
