//! Desired state: every child object of an McpServer, built from the validated McpServer alone
//! as typed k8s-openapi objects (and the trimmed ServiceMonitor and PrometheusRule of `api`),
//! one builder per child. Names, labels and owner references are decided in `meta`; the
//! config-hash annotation, the security context and the order of environment variables in
//! `deployment`. Pure.

mod config_map;
mod deployment;
mod meta;
mod network_policy;
mod prometheus_rule;
mod rbac;
mod service;
mod service_monitor;

use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::{ConfigMap, Service, ServiceAccount};
use k8s_openapi::api::networking::v1::NetworkPolicy;
use k8s_openapi::api::rbac::v1::{ClusterRoleBinding, RoleBinding};

use crate::api::prometheus_rule::PrometheusRule;
use crate::api::service_monitor::ServiceMonitor;
use crate::validate::ValidatedMcpServer;

pub use meta::{MANAGER, OWNER_UID};

/// The name of the server's MCP port, for the container and the Service.
const HTTP_PORT: &str = "http";
/// The name of its metrics port (/metrics, /stats, /healthz), for the container, its probes,
/// the Service and the ServiceMonitor.
const METRICS_PORT: &str = "metrics";

/// Every child of one McpServer. Apply destructures it without `..`, so a new child cannot be
/// forgotten.
#[derive(Debug, Clone, PartialEq)]
pub struct Children {
    pub service_account: ServiceAccount,
    pub role_bindings: Vec<RoleBinding>,
    /// For scope Cluster and for auth; cluster-scoped, so not owned (a finalizer cleans them up).
    pub cluster_role_bindings: Vec<ClusterRoleBinding>,
    pub config_map: ConfigMap,
    pub deployment: Deployment,
    pub service: Service,
    /// Only when the plan is to create one (asked for and served).
    pub service_monitor: Option<ServiceMonitor>,
    /// Only when the plan is to create one (asked for and served).
    pub prometheus_rule: Option<PrometheusRule>,
    /// Unless switched off.
    pub network_policy: Option<NetworkPolicy>,
}

pub fn children(v: &ValidatedMcpServer) -> Children {
    Children {
        service_account: rbac::service_account(v),
        role_bindings: rbac::role_bindings(v),
        cluster_role_bindings: rbac::cluster_role_bindings(v),
        config_map: config_map::config_map(v),
        deployment: deployment::deployment(v),
        service: service::service(v),
        service_monitor: service_monitor::service_monitor(v),
        prometheus_rule: prometheus_rule::prometheus_rule(v),
        network_policy: network_policy::network_policy(v),
    }
}

#[cfg(test)]
mod tests {
    use k8s_openapi::api::core::v1::EnvVar;

    use super::deployment::deployment;
    use super::*;
    use crate::api::McpServer;
    use crate::validate::{Facts, validate};

    fn from_sample(name: &str) -> ValidatedMcpServer {
        let path = format!("{}/../config/samples/{name}", env!("CARGO_MANIFEST_DIR"));
        let mut mcp: McpServer =
            serde_saphyr::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
        mcp.metadata.namespace = Some("apps".into());
        mcp.metadata.uid = Some("00000000-0000-0000-0000-000000000001".into());
        let facts = Facts {
            default_image: "kubernetes-mcp-server:0.1.0".into(),
            ..crate::validate::test_facts()
        };
        validate(&mcp, &facts).unwrap()
    }

    #[test]
    fn every_sample_builds_the_same_children_as_before() {
        for sample in [
            "minimal.yaml",
            "observed.yaml",
            "cluster-reader.yaml",
            "tls-collector.yaml",
            "secured.yaml",
        ] {
            let children = children(&from_sample(sample));
            insta::assert_yaml_snapshot!(
                sample,
                serde_json::json!({
                    "serviceAccount": children.service_account,
                    "roleBindings": children.role_bindings,
                    "clusterRoleBindings": children.cluster_role_bindings,
                    "configMap": children.config_map,
                    "deployment": children.deployment,
                    "service": children.service,
                    "serviceMonitor": children.service_monitor,
                    "prometheusRule": children.prometheus_rule,
                    "networkPolicy": children.network_policy,
                })
            );
        }
    }

    #[test]
    fn the_server_accepts_every_rendered_config() {
        use kubernetes_mcp_server::config::{Config, Flags};
        for sample in [
            "minimal.yaml",
            "observed.yaml",
            "cluster-reader.yaml",
            "tls-collector.yaml",
            "secured.yaml",
        ] {
            let v = from_sample(sample);
            let config = Config::from_toml(&v.config_toml, Flags::default())
                .unwrap_or_else(|e| panic!("{sample}: {e}\n{}", v.config_toml));
            assert_eq!(config.port, Some(crate::validate::SERVER_PORT));
            assert_eq!(config.metrics_port, Some(crate::validate::METRICS_PORT));
            assert!(config.stateless);
            // The ports live in the file: the Go server's next release takes no runtime flags.
            let args = deployment(&v).spec.template.spec.unwrap().containers[0]
                .args
                .clone()
                .unwrap();
            assert_eq!(
                args,
                ["--config", "/etc/kubernetes-mcp/config.toml"],
                "{sample}"
            );
        }
    }

    #[test]
    fn downward_api_env_comes_first_and_user_env_last() {
        let mut v = from_sample("observed.yaml");
        v.pod.env = vec![EnvVar {
            name: "OTEL_SERVICE_NAME".into(),
            value: Some("mine".into()),
            ..Default::default()
        }];
        let d = deployment(&v);
        let env = d.spec.template.spec.unwrap().containers[0]
            .env
            .clone()
            .unwrap();
        let names: Vec<&str> = env.iter().map(|e| e.name.as_str()).collect();
        assert_eq!(
            &names[..3],
            [
                "KUBERNETES_POD_NAME",
                "KUBERNETES_NAMESPACE",
                "KUBERNETES_NODE_NAME"
            ]
        );
        assert_eq!(names.last(), Some(&"OTEL_SERVICE_NAME"));
        assert!(names.contains(&"OTEL_TRACES_SAMPLER_ARG"));
    }

    #[test]
    fn replicas_are_left_alone_unless_set() {
        assert!(
            deployment(&from_sample("minimal.yaml"))
                .spec
                .replicas
                .is_none()
        );
        assert_eq!(
            deployment(&from_sample("observed.yaml")).spec.replicas,
            Some(2)
        );
    }

    #[test]
    fn the_pod_is_restricted_and_owned() {
        let d = deployment(&from_sample("minimal.yaml"));
        assert_eq!(
            d.metadata.owner_references.as_ref().unwrap()[0].kind,
            "McpServer"
        );
        let pod = d.spec.template.spec.unwrap();
        let sc = pod.containers[0].security_context.clone().unwrap();
        assert_eq!(sc.allow_privilege_escalation, Some(false));
        assert_eq!(sc.read_only_root_filesystem, Some(true));
        assert_eq!(sc.capabilities.unwrap().drop, Some(vec!["ALL".to_owned()]));
        assert_eq!(
            pod.security_context.unwrap().seccomp_profile.unwrap().type_,
            "RuntimeDefault"
        );
    }

    #[test]
    fn the_only_writable_directory_is_a_bounded_tmp() {
        let pod = deployment(&from_sample("minimal.yaml"))
            .spec
            .template
            .spec
            .unwrap();
        let writable: Vec<_> = pod.containers[0]
            .volume_mounts
            .iter()
            .flatten()
            .filter(|m| m.read_only != Some(true))
            .map(|m| (m.name.as_str(), m.mount_path.as_str()))
            .collect();
        assert_eq!(writable, [("tmp", "/tmp")]);
        let tmp = pod
            .volumes
            .iter()
            .flatten()
            .find(|v| v.name == "tmp")
            .unwrap();
        let limit = tmp.empty_dir.as_ref().unwrap().size_limit.as_ref().unwrap();
        assert_eq!(limit.0, "256Mi");
    }
}
