//! The McpServer read once: every default applied and every cross-field rule checked, plus the
//! facts looked up in the cluster (default image, are the ServiceMonitor and PrometheusRule
//! CRDs served). The result
//! holds only decisions, not the spec, so builders take it alone and default nothing again.
//! Pure.

mod auth;
mod monitoring;
mod network;
mod telemetry;
mod tools;

use std::collections::{BTreeMap, BTreeSet};

use k8s_openapi::api::core::v1::{Affinity, EnvVar, ResourceRequirements, Toleration};
use kube::ResourceExt as _;
use serde::Serialize;

use crate::api::{AccessScope, AccessVerbs, DeniedResource, McpServer, Toolset};
use crate::tenancy::{READ_ROLE, READ_WRITE_ROLE};

pub use auth::{AUTH_DELEGATOR_ROLE, AuthPlan, RequiredAuth};
pub use monitoring::PrometheusRulePlan;
pub use network::NetworkPolicyPlan;
pub use telemetry::{OTLP_CA_DIR, TelemetryDefaults, TelemetryPlan};
pub use tools::missing as missing_tools;

/// Facts from outside the McpServer that decide what is built.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Facts {
    /// Image when the spec names none (the operator's --default-image).
    pub default_image: String,
    /// Whether monitoring.coreos.com/v1 ServiceMonitor is served.
    pub service_monitor_served: bool,
    /// Whether monitoring.coreos.com/v1 PrometheusRule is served.
    pub prometheus_rule_served: bool,
    /// Namespaces that may scrape the metrics port when spec.network.metricsFrom is unset (the
    /// operator's --scrape-namespaces).
    pub scrape_namespaces: Vec<String>,
    /// The operator's cluster-wide telemetry; spec.telemetry overrides it field by field.
    pub telemetry: TelemetryDefaults,
    /// Labels of every ServiceMonitor (the operator's --default-service-monitor-labels); the
    /// spec's win per key.
    pub service_monitor_labels: BTreeMap<String, String>,
    /// The operator's namespace when it shakes hands with the servers (--mcp-probe): let in to
    /// the MCP port.
    pub operator_namespace: Option<String>,
}

/// Everything the builders need, already decided.
#[derive(Debug, Clone, PartialEq)]
pub struct ValidatedMcpServer {
    /// Identity of the McpServer: its children's names, namespace and owner reference.
    pub name: String,
    pub namespace: String,
    pub uid: String,
    pub generation: Option<i64>,
    pub rbac: RbacPlan,
    pub auth: AuthPlan,
    pub pod: PodSettings,
    pub telemetry: TelemetryPlan,
    pub service_monitor: ServiceMonitorPlan,
    pub prometheus_rule: PrometheusRulePlan,
    /// None: no NetworkPolicy (one made before is deleted).
    pub network_policy: Option<NetworkPolicyPlan>,
    /// The tools `tools/list` must show for the spec's toolsets and filters.
    pub tools: BTreeSet<&'static str>,
    /// The server's config.toml.
    pub config_toml: String,
    /// Changes whenever config.toml changes; on the pod template, so pods roll.
    pub config_hash: String,
}

/// What the server's ServiceAccount may do, and where.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RbacPlan {
    pub scope: RbacScope,
    /// The ClusterRole bound: one of `tenancy`'s, or the one spec.access names.
    pub cluster_role: String,
    /// ClusterRoles bound cluster-wide for auth (reviews, impersonation), whatever the scope.
    pub auth_cluster_roles: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RbacScope {
    /// A RoleBinding in each namespace, sorted and without duplicates.
    Namespaces(Vec<String>),
    /// One ClusterRoleBinding.
    Cluster,
}

/// The pod as asked for, defaults applied; what the operator adds is the builder's.
#[derive(Debug, Clone, PartialEq)]
pub struct PodSettings {
    pub image: String,
    /// None: an HPA or `kubectl scale` owns the field.
    pub replicas: Option<i32>,
    pub resources: Option<ResourceRequirements>,
    pub node_selector: BTreeMap<String, String>,
    pub tolerations: Vec<Toleration>,
    pub affinity: Option<Affinity>,
    /// The user's pod annotations (the config hash joins them in the builder).
    pub annotations: BTreeMap<String, String>,
    /// The user's variables; they come after the operator's, so they win.
    pub env: Vec<EnvVar>,
}

/// What to do about the ServiceMonitor: decided once, read by the builder, apply, status and
/// the next check.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ServiceMonitorPlan {
    /// Asked for and served.
    Create {
        interval: Option<String>,
        /// Added to the common labels, e.g. what a Prometheus selects on.
        labels: BTreeMap<String, String>,
    },
    /// Asked for, but its CRD is not served: say so and look again soon.
    AwaitCrd,
    /// Not asked for while served: one left from before is deleted.
    Delete,
    /// Not asked for and not served: nothing to do.
    Absent,
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ValidationError {
    #[error("the McpServer has no namespace")]
    NoNamespace,
    #[error("the McpServer has no uid yet")]
    NoUid,
    #[error("rendering config.toml: {0}")]
    Config(String),
    #[error("spec.auth: {0}")]
    Auth(String),
}

impl ValidationError {
    /// The reason of the condition, the Event and the error metric label.
    pub fn reason(&self) -> &'static str {
        match self {
            Self::NoNamespace | Self::NoUid => "InvalidObject",
            Self::Config(_) => "InvalidConfig",
            Self::Auth(_) => "InvalidAuth",
        }
    }
}

/// The subset of the server's TOML config that the operator decides.
#[allow(
    clippy::struct_excessive_bools,
    reason = "the server's on/off settings, as its TOML has them"
)]
#[derive(Serialize)]
struct ServerToml<'a> {
    port: u16,
    metrics_port: u16,
    stateless: bool,
    read_only: bool,
    disable_destructive: bool,
    redact_secrets: bool,
    toolsets: Vec<Toolset>,
    denied_resources: &'a [DeniedResource],
    #[serde(flatten, skip_serializing_if = "Option::is_none")]
    auth: Option<auth::AuthToml<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    telemetry: Option<telemetry::TelemetryToml>,
    #[serde(skip_serializing_if = "Option::is_none")]
    authorization: Option<auth::AuthorizationToml<'a>>,
}

/// The port the server listens on inside the pod.
pub const SERVER_PORT: u16 = 8080;
/// The port of /metrics, /stats and /healthz (the server's `metrics_port`), apart from the MCP
/// port so that a NetworkPolicy can open it to other peers.
pub const METRICS_PORT: u16 = 9090;

pub fn validate(mcp: &McpServer, facts: &Facts) -> Result<ValidatedMcpServer, ValidationError> {
    let namespace = mcp.namespace().ok_or(ValidationError::NoNamespace)?;
    let uid = mcp.uid().ok_or(ValidationError::NoUid)?;
    let spec = &mcp.spec;
    let name = mcp.name_any();
    let auth = auth::plan(&spec.auth, &namespace, &name)?;
    let scope = match spec.access.scope {
        AccessScope::Cluster => RbacScope::Cluster,
        AccessScope::Namespace if spec.access.namespaces.is_empty() => {
            RbacScope::Namespaces(vec![namespace.clone()])
        }
        AccessScope::Namespace => {
            let mut list = spec.access.namespaces.clone();
            list.sort();
            list.dedup();
            RbacScope::Namespaces(list)
        }
    };
    let cluster_role = match (&spec.access.cluster_role, spec.access.verbs) {
        (Some(name), _) => name.clone(),
        (None, Some(AccessVerbs::ReadWrite)) => READ_WRITE_ROLE.to_owned(),
        (None, Some(AccessVerbs::Read) | None) => READ_ROLE.to_owned(),
    };
    let toolsets = if spec.server.toolsets.is_empty() {
        vec![Toolset::Core, Toolset::Config]
    } else {
        spec.server.toolsets.clone()
    };
    let tools = tools::expected(
        &toolsets,
        spec.server.read_only,
        spec.server.disable_destructive,
    );
    let config_toml = toml::to_string(&ServerToml {
        port: SERVER_PORT,
        metrics_port: METRICS_PORT,
        stateless: spec.server.stateless.unwrap_or(true),
        read_only: spec.server.read_only,
        disable_destructive: spec.server.disable_destructive,
        redact_secrets: spec.server.redact_secrets.unwrap_or(true),
        toolsets,
        denied_resources: &spec.server.denied_resources,
        auth: auth.toml_keys(),
        telemetry: telemetry::toml_section(&spec.telemetry),
        authorization: auth.toml_table(&namespace, &name),
    })
    .map_err(|e| ValidationError::Config(e.to_string()))?;
    let monitor = &spec.metrics.service_monitor;
    let service_monitor = match (monitor.enabled, facts.service_monitor_served) {
        (true, true) => ServiceMonitorPlan::Create {
            interval: monitor.interval.clone(),
            labels: facts
                .service_monitor_labels
                .iter()
                .chain(&monitor.labels)
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect(),
        },
        (true, false) => ServiceMonitorPlan::AwaitCrd,
        (false, true) => ServiceMonitorPlan::Delete,
        (false, false) => ServiceMonitorPlan::Absent,
    };
    Ok(ValidatedMcpServer {
        name,
        namespace,
        uid,
        generation: mcp.metadata.generation,
        rbac: RbacPlan {
            scope,
            cluster_role,
            auth_cluster_roles: auth.cluster_roles(),
        },
        auth,
        pod: PodSettings {
            image: spec
                .image
                .clone()
                .unwrap_or_else(|| facts.default_image.clone()),
            replicas: spec.replicas,
            resources: spec.resources.clone(),
            node_selector: spec.node_selector.clone(),
            tolerations: spec.tolerations.clone(),
            affinity: spec.affinity.clone(),
            annotations: spec.pod_annotations.clone(),
            env: spec.env.clone(),
        },
        telemetry: telemetry::plan(&spec.telemetry, &facts.telemetry),
        service_monitor,
        prometheus_rule: monitoring::plan(
            &spec.metrics.prometheus_rule,
            facts.prometheus_rule_served,
        ),
        network_policy: network::plan(
            &spec.network,
            &facts.scrape_namespaces,
            facts.operator_namespace.as_deref(),
        ),
        config_hash: fnv1a_hex(&config_toml),
        config_toml,
        tools,
    })
}

/// FNV-1a, 64 bits, as hex: stable across builds and platforms (unlike `DefaultHasher`).
fn fnv1a_hex(text: &str) -> String {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for byte in text.bytes() {
        hash ^= u64::from(byte);
        hash = hash.wrapping_mul(0x0000_0100_0000_01b3);
    }
    format!("{hash:016x}")
}

/// The facts of an operator run with its defaults, for tests to vary field by field.
#[cfg(test)]
pub fn test_facts() -> Facts {
    Facts {
        default_image: "kubernetes-mcp-server:default".into(),
        service_monitor_served: true,
        prometheus_rule_served: true,
        scrape_namespaces: vec!["monitoring".into()],
        telemetry: TelemetryDefaults::default(),
        service_monitor_labels: BTreeMap::new(),
        operator_namespace: None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mcp(spec: &serde_json::Value) -> McpServer {
        serde_json::from_value(serde_json::json!({
            "apiVersion": "kubernetes-mcp.io/v1alpha1", "kind": "McpServer",
            "metadata": {"name": "m", "namespace": "apps", "uid": "u-1", "generation": 3},
            "spec": spec
        }))
        .unwrap()
    }

    #[test]
    fn defaults_own_namespace_default_image_stateless_core_and_config() {
        let v = validate(&mcp(&serde_json::json!({})), &test_facts()).unwrap();
        assert_eq!(v.rbac.scope, RbacScope::Namespaces(vec!["apps".into()]));
        assert_eq!(v.pod.image, "kubernetes-mcp-server:default");
        assert!(v.config_toml.contains("stateless = true"));
        assert!(
            v.config_toml.contains("toolsets = [\"core\", \"config\"]"),
            "{}",
            v.config_toml
        );
        assert_eq!(v.service_monitor, ServiceMonitorPlan::Delete);
    }

    #[test]
    fn cluster_scope_has_no_roles_and_namespaces_are_deduplicated() {
        let v = validate(
            &mcp(&serde_json::json!({"access": {"scope": "Cluster"}})),
            &test_facts(),
        )
        .unwrap();
        assert_eq!(v.rbac.scope, RbacScope::Cluster);
        let v = validate(
            &mcp(&serde_json::json!({"access": {"namespaces": ["b", "a", "b"]}})),
            &test_facts(),
        )
        .unwrap();
        assert_eq!(
            v.rbac.scope,
            RbacScope::Namespaces(vec!["a".into(), "b".into()])
        );
    }

    #[test]
    fn verbs_name_a_shipped_cluster_role_and_cluster_role_any_other() {
        let role = |access: serde_json::Value| {
            validate(&mcp(&serde_json::json!({"access": access})), &test_facts())
                .unwrap()
                .rbac
                .cluster_role
        };
        assert_eq!(role(serde_json::json!({})), "kubernetes-mcp-read");
        assert_eq!(
            role(serde_json::json!({"verbs": "readWrite"})),
            "kubernetes-mcp-read-write"
        );
        assert_eq!(role(serde_json::json!({"clusterRole": "audit"})), "audit");
    }

    #[test]
    fn service_monitor_only_when_asked_and_served() {
        let asked = mcp(&serde_json::json!({"metrics": {"serviceMonitor": {"enabled": true}}}));
        assert_eq!(
            validate(&asked, &test_facts()).unwrap().service_monitor,
            ServiceMonitorPlan::Create {
                interval: None,
                labels: BTreeMap::new()
            }
        );
        let unserved = Facts {
            service_monitor_served: false,
            ..test_facts()
        };
        assert_eq!(
            validate(&asked, &unserved).unwrap().service_monitor,
            ServiceMonitorPlan::AwaitCrd
        );
        let unasked = mcp(&serde_json::json!({}));
        assert_eq!(
            validate(&unasked, &unserved).unwrap().service_monitor,
            ServiceMonitorPlan::Absent
        );
    }

    #[test]
    fn operator_service_monitor_labels_sit_under_the_mcp_servers() {
        let asked = mcp(&serde_json::json!({"metrics": {"serviceMonitor": {
            "enabled": true, "labels": {"release": "mine"}}}}));
        let labelled = Facts {
            service_monitor_labels: BTreeMap::from([
                ("release".into(), "prometheus".into()),
                ("team".into(), "platform".into()),
            ]),
            ..test_facts()
        };
        let ServiceMonitorPlan::Create { labels, .. } =
            validate(&asked, &labelled).unwrap().service_monitor
        else {
            panic!("no ServiceMonitor")
        };
        assert_eq!(
            labels,
            BTreeMap::from([
                ("release".into(), "mine".into()),
                ("team".into(), "platform".into()),
            ])
        );
    }

    #[test]
    fn the_config_hash_follows_the_config() {
        let a = validate(&mcp(&serde_json::json!({})), &test_facts()).unwrap();
        let b = validate(
            &mcp(&serde_json::json!({"server": {"readOnly": true}})),
            &test_facts(),
        )
        .unwrap();
        let a_again = validate(&mcp(&serde_json::json!({"replicas": 4})), &test_facts()).unwrap();
        assert_ne!(a.config_hash, b.config_hash);
        assert_eq!(
            a.config_hash, a_again.config_hash,
            "replicas are not config"
        );
    }

    #[test]
    fn an_explicit_telemetry_switch_goes_into_the_config() {
        let off = validate(
            &mcp(&serde_json::json!({"telemetry": {"enabled": false}})),
            &test_facts(),
        )
        .unwrap();
        assert!(
            off.config_toml.contains("[telemetry]\nenabled = false"),
            "{}",
            off.config_toml
        );
        let unset = validate(&mcp(&serde_json::json!({})), &test_facts()).unwrap();
        assert!(!unset.config_toml.contains("[telemetry]"));
        // The server accepts what the operator renders.
        let parsed: toml::Table = toml::from_str(&off.config_toml).unwrap();
        assert_eq!(parsed["telemetry"]["enabled"].as_bool(), Some(false));
    }

    #[test]
    fn required_auth_is_rendered_for_this_mcp_server_and_the_server_accepts_it() {
        let v = validate(
            &mcp(&serde_json::json!({"auth": {"required": true, "mode": "impersonate",
                "authorizationServers": ["https://issuer.example"]}, "telemetry": {"enabled": true}})),
            &test_facts(),
        )
        .unwrap();
        let parsed: toml::Table = toml::from_str(&v.config_toml).unwrap();
        assert_eq!(parsed["require_oauth"].as_bool(), Some(true));
        assert_eq!(
            parsed["oauth_audience"].as_str(),
            Some("kubernetes-mcp.io/apps/m")
        );
        assert_eq!(parsed["cluster_auth_mode"].as_str(), Some("impersonate"));
        assert_eq!(
            parsed["authorization"].as_table().unwrap().clone(),
            toml::toml! { resource_name = "m" resource_namespace = "apps" verb = "use" }
        );
        let config = kubernetes_mcp_server::config::Config::from_toml(
            &v.config_toml,
            kubernetes_mcp_server::config::Flags::default(),
        )
        .unwrap();
        let settings = config.auth.unwrap();
        assert_eq!(settings.authorization_servers, ["https://issuer.example"]);
        assert_eq!(settings.access.unwrap().namespace, "apps");
        let off = validate(&mcp(&serde_json::json!({})), &test_facts()).unwrap();
        assert!(!off.config_toml.contains("oauth"), "{}", off.config_toml);
    }

    #[test]
    fn an_object_without_namespace_is_invalid() {
        let mut m = mcp(&serde_json::json!({}));
        m.metadata.namespace = None;
        assert_eq!(
            validate(&m, &test_facts()).unwrap_err(),
            ValidationError::NoNamespace
        );
        assert_eq!(ValidationError::NoNamespace.reason(), "InvalidObject");
    }
}
