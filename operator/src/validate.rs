//! The McpServer read once: every default applied and every cross-field rule checked, plus the
//! facts looked up in the cluster (default image, is the ServiceMonitor CRD served). Builders
//! take only the result. Pure.

use kube::ResourceExt as _;
use serde::Serialize;

use crate::api::{AccessScope, DeniedResource, McpServer, McpServerSpec, Toolset};

/// Facts from outside the McpServer that decide what is built.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Facts {
    /// Image when the spec names none (the operator's --default-image).
    pub default_image: String,
    /// Whether monitoring.coreos.com/v1 ServiceMonitor is served.
    pub service_monitor_served: bool,
}

/// Everything the builders need, already decided.
#[derive(Debug, Clone, PartialEq)]
pub struct ValidatedMcpServer {
    pub name: String,
    pub namespace: String,
    pub uid: String,
    pub generation: Option<i64>,
    pub image: String,
    pub spec: McpServerSpec,
    /// Namespaces that get a Role and RoleBinding (scope Namespace); empty for scope Cluster.
    pub role_namespaces: Vec<String>,
    /// Whether to create the ServiceMonitor (asked for and its CRD served).
    pub service_monitor: bool,
    /// The server's config.toml.
    pub config_toml: String,
    /// Changes whenever config.toml changes; on the pod template, so pods roll.
    pub config_hash: String,
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ValidationError {
    #[error("the McpServer has no namespace")]
    NoNamespace,
    #[error("the McpServer has no uid yet")]
    NoUid,
    #[error("rendering config.toml: {0}")]
    Config(String),
}

impl ValidationError {
    /// The reason of the condition, the Event and the error metric label.
    pub fn reason(&self) -> &'static str {
        match self {
            Self::NoNamespace | Self::NoUid => "InvalidObject",
            Self::Config(_) => "InvalidConfig",
        }
    }
}

/// The subset of the server's TOML config that the operator decides.
#[derive(Serialize)]
struct ServerToml<'a> {
    port: u16,
    stateless: bool,
    read_only: bool,
    disable_destructive: bool,
    toolsets: Vec<Toolset>,
    denied_resources: &'a [DeniedResource],
    #[serde(skip_serializing_if = "Option::is_none")]
    telemetry: Option<TelemetryToml>,
}

/// `[telemetry]`: only the explicit switch; the rest travels as OTEL_* variables.
#[derive(Serialize)]
struct TelemetryToml {
    enabled: bool,
}

/// The port the server listens on inside the pod.
pub const SERVER_PORT: u16 = 8080;

pub fn validate(mcp: &McpServer, facts: &Facts) -> Result<ValidatedMcpServer, ValidationError> {
    let namespace = mcp.namespace().ok_or(ValidationError::NoNamespace)?;
    let uid = mcp.uid().ok_or(ValidationError::NoUid)?;
    let spec = mcp.spec.clone();
    let role_namespaces = match spec.access.scope {
        AccessScope::Cluster => Vec::new(),
        AccessScope::Namespace if spec.access.namespaces.is_empty() => vec![namespace.clone()],
        AccessScope::Namespace => {
            let mut list = spec.access.namespaces.clone();
            list.sort();
            list.dedup();
            list
        }
    };
    let toolsets = if spec.server.toolsets.is_empty() {
        vec![Toolset::Core, Toolset::Config]
    } else {
        spec.server.toolsets.clone()
    };
    let config_toml = toml::to_string(&ServerToml {
        port: SERVER_PORT,
        stateless: spec.server.stateless.unwrap_or(true),
        read_only: spec.server.read_only,
        disable_destructive: spec.server.disable_destructive,
        toolsets,
        denied_resources: &spec.server.denied_resources,
        telemetry: spec
            .telemetry
            .enabled
            .map(|enabled| TelemetryToml { enabled }),
    })
    .map_err(|e| ValidationError::Config(e.to_string()))?;
    Ok(ValidatedMcpServer {
        name: mcp.name_any(),
        namespace,
        uid,
        generation: mcp.metadata.generation,
        image: spec
            .image
            .clone()
            .unwrap_or_else(|| facts.default_image.clone()),
        service_monitor: spec.metrics.service_monitor.enabled && facts.service_monitor_served,
        config_hash: fnv1a_hex(&config_toml),
        config_toml,
        role_namespaces,
        spec,
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

#[cfg(test)]
mod tests {
    use super::*;

    pub fn facts() -> Facts {
        Facts {
            default_image: "kubernetes-mcp-server:default".into(),
            service_monitor_served: true,
        }
    }

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
        let v = validate(&mcp(&serde_json::json!({})), &facts()).unwrap();
        assert_eq!(v.role_namespaces, vec!["apps"]);
        assert_eq!(v.image, "kubernetes-mcp-server:default");
        assert!(v.config_toml.contains("stateless = true"));
        assert!(
            v.config_toml.contains("toolsets = [\"core\", \"config\"]"),
            "{}",
            v.config_toml
        );
        assert!(!v.service_monitor);
    }

    #[test]
    fn cluster_scope_has_no_roles_and_namespaces_are_deduplicated() {
        let v = validate(
            &mcp(&serde_json::json!({"access": {"scope": "Cluster"}})),
            &facts(),
        )
        .unwrap();
        assert!(v.role_namespaces.is_empty());
        let v = validate(
            &mcp(&serde_json::json!({"access": {"namespaces": ["b", "a", "b"]}})),
            &facts(),
        )
        .unwrap();
        assert_eq!(v.role_namespaces, vec!["a", "b"]);
    }

    #[test]
    fn service_monitor_only_when_asked_and_served() {
        let asked = mcp(&serde_json::json!({"metrics": {"serviceMonitor": {"enabled": true}}}));
        assert!(validate(&asked, &facts()).unwrap().service_monitor);
        let unserved = Facts {
            service_monitor_served: false,
            ..facts()
        };
        assert!(!validate(&asked, &unserved).unwrap().service_monitor);
    }

    #[test]
    fn the_config_hash_follows_the_config() {
        let a = validate(&mcp(&serde_json::json!({})), &facts()).unwrap();
        let b = validate(
            &mcp(&serde_json::json!({"server": {"readOnly": true}})),
            &facts(),
        )
        .unwrap();
        let a_again = validate(&mcp(&serde_json::json!({"replicas": 4})), &facts()).unwrap();
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
            &facts(),
        )
        .unwrap();
        assert!(
            off.config_toml.contains("[telemetry]\nenabled = false"),
            "{}",
            off.config_toml
        );
        let unset = validate(&mcp(&serde_json::json!({})), &facts()).unwrap();
        assert!(!unset.config_toml.contains("[telemetry]"));
        // The server accepts what the operator renders.
        let parsed: toml::Table = toml::from_str(&off.config_toml).unwrap();
        assert_eq!(parsed["telemetry"]["enabled"].as_bool(), Some(false));
    }

    #[test]
    fn an_object_without_namespace_is_invalid() {
        let mut m = mcp(&serde_json::json!({}));
        m.metadata.namespace = None;
        assert_eq!(
            validate(&m, &facts()).unwrap_err(),
            ValidationError::NoNamespace
        );
        assert_eq!(ValidationError::NoNamespace.reason(), "InvalidObject");
    }
}
