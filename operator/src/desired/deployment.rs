//! The server's Deployment: the pod template with its config mount, the environment in its one
//! order, probes, and the security context that passes the `restricted` Pod Security Standard.
//! Pure.

use std::collections::BTreeMap;

use k8s_openapi::api::apps::v1::{Deployment, DeploymentSpec};
use k8s_openapi::api::core::v1::{
    Capabilities, ConfigMapVolumeSource, Container, ContainerPort, EmptyDirVolumeSource, EnvVar,
    HTTPGetAction, KeyToPath, PodSecurityContext, PodSpec, PodTemplateSpec, Probe, SeccompProfile,
    SecretVolumeSource, SecurityContext, Volume, VolumeMount,
};
use k8s_openapi::apimachinery::pkg::api::resource::Quantity;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{LabelSelector, ObjectMeta};
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;

use super::config_map::CONFIG_FILE;
use super::meta::{Placement, config_map_name, labels, object_meta, selector, server_name};
use super::{HTTP_PORT, METRICS_PORT};
use crate::validate::{self, OTLP_CA_DIR, SERVER_PORT, ValidatedMcpServer};

/// On the pod template: changes with config.toml, so a new config rolls the pods.
const CONFIG_HASH: &str = "kubernetes-mcp.io/config-hash";
const CONFIG_DIR: &str = "/etc/kubernetes-mcp";
/// The one writable directory on the read-only root: `helm_install` runs helm with its home
/// there (chart downloads, repository index). Bounded so that a large chart cannot fill the node.
const TMP_DIR: &str = "/tmp";
const TMP_SIZE_LIMIT: &str = "256Mi";

pub fn deployment(v: &ValidatedMcpServer) -> Deployment {
    let pod = &v.pod;
    let mut annotations = pod.annotations.clone();
    annotations.insert(CONFIG_HASH.into(), v.config_hash.clone());
    let (volumes, mounts) = volumes(v);
    Deployment {
        metadata: object_meta(v, server_name(v), Placement::Own, BTreeMap::new()),
        spec: DeploymentSpec {
            // None unless asked for: otherwise an HPA or `kubectl scale` owns the field.
            replicas: pod.replicas,
            selector: LabelSelector {
                match_labels: Some(selector(v)),
                ..Default::default()
            },
            template: PodTemplateSpec {
                metadata: Some(ObjectMeta {
                    labels: Some(labels(v)),
                    annotations: Some(annotations),
                    ..Default::default()
                }),
                spec: Some(PodSpec {
                    service_account_name: Some(server_name(v)),
                    security_context: Some(PodSecurityContext {
                        run_as_non_root: Some(true),
                        seccomp_profile: Some(SeccompProfile {
                            type_: "RuntimeDefault".into(),
                            ..Default::default()
                        }),
                        ..Default::default()
                    }),
                    containers: vec![Container {
                        name: "server".into(),
                        image: Some(pod.image.clone()),
                        // Everything else is in config.toml, the Go server's way: one file to read.
                        args: Some(vec![
                            "--config".into(),
                            format!("{CONFIG_DIR}/{CONFIG_FILE}"),
                        ]),
                        ports: Some(vec![
                            ContainerPort {
                                name: Some(HTTP_PORT.into()),
                                container_port: i32::from(SERVER_PORT),
                                ..Default::default()
                            },
                            ContainerPort {
                                name: Some(METRICS_PORT.into()),
                                container_port: i32::from(validate::METRICS_PORT),
                                ..Default::default()
                            },
                        ]),
                        env: Some(env(v)),
                        readiness_probe: Some(health_probe(5)),
                        liveness_probe: Some(health_probe(10)),
                        resources: pod.resources.clone(),
                        security_context: Some(SecurityContext {
                            allow_privilege_escalation: Some(false),
                            read_only_root_filesystem: Some(true),
                            run_as_non_root: Some(true),
                            capabilities: Some(Capabilities {
                                drop: Some(vec!["ALL".into()]),
                                ..Default::default()
                            }),
                            ..Default::default()
                        }),
                        volume_mounts: Some(mounts),
                        ..Default::default()
                    }],
                    volumes: Some(volumes),
                    node_selector: Some(pod.node_selector.clone()),
                    tolerations: Some(pod.tolerations.clone()),
                    affinity: pod.affinity.clone(),
                    ..Default::default()
                }),
            },
            ..Default::default()
        },
        ..Default::default()
    }
}

/// The operator's variables (downward API, then telemetry), then the user's own, which
/// therefore win.
fn env(v: &ValidatedMcpServer) -> Vec<EnvVar> {
    v.telemetry.env.iter().chain(&v.pod.env).cloned().collect()
}

/// config.toml from the ConfigMap and the collector's CA bundle when there is one, both
/// read-only; a bounded emptyDir at /tmp.
fn volumes(v: &ValidatedMcpServer) -> (Vec<Volume>, Vec<VolumeMount>) {
    let mut volumes = vec![
        Volume {
            name: "config".into(),
            config_map: Some(ConfigMapVolumeSource {
                name: config_map_name(v),
                ..Default::default()
            }),
            ..Default::default()
        },
        Volume {
            name: "tmp".into(),
            empty_dir: Some(EmptyDirVolumeSource {
                size_limit: Some(Quantity(TMP_SIZE_LIMIT.into())),
                ..Default::default()
            }),
            ..Default::default()
        },
    ];
    let mut mounts = vec![
        read_only_mount("config", CONFIG_DIR),
        VolumeMount {
            name: "tmp".into(),
            mount_path: TMP_DIR.into(),
            ..Default::default()
        },
    ];
    if let Some(ca) = &v.telemetry.ca_secret {
        volumes.push(Volume {
            name: "otlp-ca".into(),
            secret: Some(SecretVolumeSource {
                secret_name: Some(ca.name.clone()),
                items: Some(vec![KeyToPath {
                    key: ca.key.clone(),
                    path: ca.key.clone(),
                    ..Default::default()
                }]),
                ..Default::default()
            }),
            ..Default::default()
        });
        mounts.push(read_only_mount("otlp-ca", OTLP_CA_DIR));
    }
    (volumes, mounts)
}

fn read_only_mount(name: &str, path: &str) -> VolumeMount {
    VolumeMount {
        name: name.into(),
        mount_path: path.into(),
        read_only: Some(true),
        ..Default::default()
    }
}

/// On the metrics port, which the NetworkPolicy need not open to the MCP clients.
fn health_probe(period_seconds: i32) -> Probe {
    Probe {
        http_get: Some(HTTPGetAction {
            path: Some("/healthz".into()),
            port: IntOrString::String(METRICS_PORT.into()),
            ..Default::default()
        }),
        period_seconds: Some(period_seconds),
        failure_threshold: Some(3),
        ..Default::default()
    }
}
