//! Desired state: every child object of an McpServer, built from the validated McpServer alone.
//! Names, labels, owner references, the config-hash annotation, the security context and the
//! order of environment variables are each decided in exactly one function here. Pure.

use std::collections::BTreeMap;

use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::{ConfigMap, Service, ServiceAccount};
use k8s_openapi::api::rbac::v1::{ClusterRole, ClusterRoleBinding, Role, RoleBinding};
use serde::de::DeserializeOwned;
use serde_json::{Value, json};

use crate::api::{AccessVerbs, MetricsExporter, OtlpProtocol, Telemetry};
use crate::validate::{SERVER_PORT, ValidatedMcpServer};

/// Every child of one McpServer. Apply destructures it without `..`, so a new child cannot be
/// forgotten.
#[derive(Debug, Clone, PartialEq)]
pub struct Children {
    pub service_account: ServiceAccount,
    pub roles: Vec<Role>,
    pub role_bindings: Vec<RoleBinding>,
    /// For scope Cluster; cluster-scoped, so not owned (a finalizer cleans them up).
    pub cluster_role: Option<ClusterRole>,
    pub cluster_role_binding: Option<ClusterRoleBinding>,
    pub config_map: ConfigMap,
    pub deployment: Deployment,
    pub service: Service,
    /// monitoring.coreos.com/v1 ServiceMonitor, only when asked for and served.
    pub service_monitor: Option<Value>,
}

pub const MANAGER: &str = "kubernetes-mcp-operator";
const CONFIG_HASH: &str = "kubernetes-mcp.io/config-hash";
/// On RBAC children: the uid of their McpServer. Owner references cannot reach Roles in other
/// namespaces nor cluster-scoped objects, so the sweep and the finalizer find them by this label.
pub const OWNER_UID: &str = "kubernetes-mcp.io/owner-uid";
const CONFIG_DIR: &str = "/etc/kubernetes-mcp";
/// Where the collector's CA bundle (`spec.telemetry.caSecret`) is mounted.
const OTLP_CA_DIR: &str = "/etc/kubernetes-mcp-otlp-ca";

pub fn children(v: &ValidatedMcpServer) -> Children {
    let (cluster_role, cluster_role_binding) = cluster_rbac(v);
    Children {
        service_account: typed(json!({"metadata": metadata(v, &v.name)})),
        roles: v.role_namespaces.iter().map(|ns| role(v, ns)).collect(),
        role_bindings: v
            .role_namespaces
            .iter()
            .map(|ns| role_binding(v, ns))
            .collect(),
        cluster_role,
        cluster_role_binding,
        config_map: typed(json!({
            "metadata": metadata(v, &config_map_name(v)),
            "data": {"config.toml": v.config_toml},
        })),
        deployment: deployment(v),
        service: service(v),
        service_monitor: v.service_monitor.then(|| service_monitor(v)),
    }
}

/// The labels every child carries; the selector uses name and instance.
pub fn labels(v: &ValidatedMcpServer) -> BTreeMap<String, String> {
    BTreeMap::from([
        (
            "app.kubernetes.io/name".into(),
            "kubernetes-mcp-server".into(),
        ),
        ("app.kubernetes.io/instance".into(), v.name.clone()),
        ("app.kubernetes.io/managed-by".into(), MANAGER.into()),
        ("app.kubernetes.io/part-of".into(), "kubernetes-mcp".into()),
    ])
}

fn selector(v: &ValidatedMcpServer) -> Value {
    json!({"app.kubernetes.io/name": "kubernetes-mcp-server", "app.kubernetes.io/instance": v.name})
}

fn owner(v: &ValidatedMcpServer) -> Value {
    json!([{
        "apiVersion": "kubernetes-mcp.io/v1alpha1", "kind": "McpServer", "name": v.name, "uid": v.uid,
        "controller": true, "blockOwnerDeletion": true,
    }])
}

fn metadata(v: &ValidatedMcpServer, name: &str) -> Value {
    json!({"name": name, "namespace": v.namespace, "labels": labels(v), "ownerReferences": owner(v)})
}

fn config_map_name(v: &ValidatedMcpServer) -> String {
    format!("{}-config", v.name)
}

/// Names of cluster-scoped children: unique per McpServer across namespaces.
pub fn cluster_name(v: &ValidatedMcpServer) -> String {
    format!("kubernetes-mcp-{}-{}", v.namespace, v.name)
}

fn rules(v: &ValidatedMcpServer) -> Value {
    let mut verbs = vec!["get", "list", "watch"];
    if v.spec.access.verbs == AccessVerbs::ReadWrite {
        verbs.extend(["create", "update", "patch", "delete"]);
    }
    json!([{"apiGroups": ["*"], "resources": ["*"], "verbs": verbs}])
}

fn subject(v: &ValidatedMcpServer) -> Value {
    json!([{"kind": "ServiceAccount", "name": v.name, "namespace": v.namespace}])
}

/// RBAC metadata: the common labels plus the owner's uid.
fn rbac_labels(v: &ValidatedMcpServer) -> BTreeMap<String, String> {
    let mut labels = labels(v);
    labels.insert(OWNER_UID.into(), v.uid.clone());
    labels
}

fn role(v: &ValidatedMcpServer, namespace: &str) -> Role {
    let mut meta = metadata(v, &format!("kubernetes-mcp-{}", v.name));
    meta["namespace"] = json!(namespace);
    meta["labels"] = json!(rbac_labels(v));
    if namespace != v.namespace {
        // Owner references cannot cross namespaces; the labels find these for cleanup.
        meta.as_object_mut().map(|m| m.remove("ownerReferences"));
    }
    typed(json!({"metadata": meta, "rules": rules(v)}))
}

fn role_binding(v: &ValidatedMcpServer, namespace: &str) -> RoleBinding {
    let name = format!("kubernetes-mcp-{}", v.name);
    let mut meta = metadata(v, &name);
    meta["namespace"] = json!(namespace);
    meta["labels"] = json!(rbac_labels(v));
    if namespace != v.namespace {
        meta.as_object_mut().map(|m| m.remove("ownerReferences"));
    }
    typed(json!({
        "metadata": meta,
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": name},
        "subjects": subject(v),
    }))
}

fn cluster_rbac(v: &ValidatedMcpServer) -> (Option<ClusterRole>, Option<ClusterRoleBinding>) {
    if !v.role_namespaces.is_empty() {
        return (None, None);
    }
    let name = cluster_name(v);
    let meta = json!({"name": name, "labels": rbac_labels(v)});
    (
        Some(typed(json!({"metadata": meta, "rules": rules(v)}))),
        Some(typed(json!({
            "metadata": meta,
            "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": name},
            "subjects": subject(v),
        }))),
    )
}

/// Downward API first (OTEL_RESOURCE_ATTRIBUTES may reference them), then telemetry, then the
/// user's own variables, which therefore win.
fn env(v: &ValidatedMcpServer) -> Vec<Value> {
    let telemetry = &v.spec.telemetry;
    let mut env = Vec::new();
    if telemetry.kubernetes_metadata.unwrap_or(true) {
        for (name, path) in [
            ("KUBERNETES_POD_NAME", "metadata.name"),
            ("KUBERNETES_NAMESPACE", "metadata.namespace"),
            ("KUBERNETES_NODE_NAME", "spec.nodeName"),
        ] {
            env.push(json!({"name": name, "valueFrom": {"fieldRef": {"fieldPath": path}}}));
        }
    }
    env.extend(
        otel_env(telemetry)
            .into_iter()
            .map(|(name, value)| json!({"name": name, "value": value})),
    );
    env.extend(
        v.spec
            .env
            .iter()
            .map(|e| serde_json::to_value(e).unwrap_or_default()),
    );
    env
}

fn otel_env(t: &Telemetry) -> Vec<(&'static str, String)> {
    // An explicit on/off goes into config.toml ([telemetry] enabled), which the server honours.
    let mut env = Vec::new();
    if let Some(endpoint) = &t.endpoint {
        env.push(("OTEL_EXPORTER_OTLP_ENDPOINT", endpoint.clone()));
    }
    if let Some(protocol) = t.protocol {
        let text = match protocol {
            OtlpProtocol::Grpc => "grpc",
            OtlpProtocol::HttpProtobuf => "http/protobuf",
        };
        env.push(("OTEL_EXPORTER_OTLP_PROTOCOL", text.into()));
    }
    if let Some(sampler) = t.traces_sampler {
        let text = serde_json::to_value(sampler)
            .ok()
            .and_then(|s| s.as_str().map(str::to_owned))
            .unwrap_or_default();
        env.push(("OTEL_TRACES_SAMPLER", text));
    }
    if let Some(arg) = &t.traces_sampler_arg {
        env.push(("OTEL_TRACES_SAMPLER_ARG", arg.clone()));
    }
    if let Some(name) = &t.service_name {
        env.push(("OTEL_SERVICE_NAME", name.clone()));
    }
    if !t.resource_attributes.is_empty() {
        let pairs: Vec<String> = t
            .resource_attributes
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect();
        env.push(("OTEL_RESOURCE_ATTRIBUTES", pairs.join(",")));
    }
    if t.metrics_exporter == Some(MetricsExporter::None) {
        env.push(("OTEL_METRICS_EXPORTER", "none".into()));
    }
    if let Some(ca) = &t.ca_secret {
        env.push((
            "OTEL_EXPORTER_OTLP_CERTIFICATE",
            format!("{OTLP_CA_DIR}/{}", ca.key),
        ));
    }
    env
}

fn deployment(v: &ValidatedMcpServer) -> Deployment {
    let spec = &v.spec;
    let mut annotations = spec.pod_annotations.clone();
    annotations.insert(CONFIG_HASH.into(), v.config_hash.clone());
    let mut mounts = vec![json!({"name": "config", "mountPath": CONFIG_DIR, "readOnly": true})];
    let mut volumes = vec![json!({"name": "config", "configMap": {"name": config_map_name(v)}})];
    if let Some(ca) = &spec.telemetry.ca_secret {
        mounts.push(json!({"name": "otlp-ca", "mountPath": OTLP_CA_DIR, "readOnly": true}));
        volumes.push(json!({"name": "otlp-ca", "secret": {"secretName": ca.name, "items": [{"key": ca.key, "path": ca.key}]}}));
    }
    let probe = |period: i32| json!({"httpGet": {"path": "/healthz", "port": "http"}, "periodSeconds": period, "failureThreshold": 3});
    let mut deployment = json!({
        "metadata": metadata(v, &v.name),
        "spec": {
            "selector": {"matchLabels": selector(v)},
            "template": {
                "metadata": {"labels": labels(v), "annotations": annotations},
                "spec": {
                    "serviceAccountName": v.name,
                    "securityContext": {"runAsNonRoot": true, "seccompProfile": {"type": "RuntimeDefault"}},
                    "containers": [{
                        "name": "server",
                        "image": v.image,
                        "args": ["--port", SERVER_PORT.to_string(), "--config", format!("{CONFIG_DIR}/config.toml")],
                        "ports": [{"name": "http", "containerPort": SERVER_PORT}],
                        "env": env(v),
                        "readinessProbe": probe(5),
                        "livenessProbe": probe(10),
                        "resources": spec.resources,
                        "securityContext": {
                            "allowPrivilegeEscalation": false, "readOnlyRootFilesystem": true,
                            "runAsNonRoot": true, "capabilities": {"drop": ["ALL"]},
                        },
                        "volumeMounts": mounts,
                    }],
                    "volumes": volumes,
                    "nodeSelector": spec.node_selector,
                    "tolerations": spec.tolerations,
                    "affinity": spec.affinity,
                },
            },
        },
    });
    // Replicas only when asked for: otherwise an HPA or `kubectl scale` owns the field.
    if let Some(replicas) = spec.replicas {
        deployment["spec"]["replicas"] = json!(replicas);
    }
    typed(deployment)
}

fn service(v: &ValidatedMcpServer) -> Service {
    typed(json!({
        "metadata": metadata(v, &v.name),
        "spec": {
            "selector": selector(v),
            "ports": [{"name": "http", "port": SERVER_PORT, "targetPort": "http", "protocol": "TCP"}],
        },
    }))
}

fn service_monitor(v: &ValidatedMcpServer) -> Value {
    let settings = &v.spec.metrics.service_monitor;
    let mut meta = metadata(v, &v.name);
    let mut labels = labels(v);
    labels.extend(settings.labels.clone());
    meta["labels"] = json!(labels);
    let mut endpoint = json!({"port": "http", "path": "/metrics"});
    if let Some(interval) = &settings.interval {
        endpoint["interval"] = json!(interval);
    }
    json!({
        "apiVersion": "monitoring.coreos.com/v1",
        "kind": "ServiceMonitor",
        "metadata": meta,
        "spec": {"selector": {"matchLabels": selector(v)}, "endpoints": [endpoint]},
    })
}

/// JSON built above is always a valid object of `T`; nulls from absent optional fields drop out.
fn typed<T: DeserializeOwned + Default>(value: Value) -> T {
    serde_json::from_value(strip_nulls(value)).unwrap_or_default()
}

fn strip_nulls(value: Value) -> Value {
    match value {
        Value::Object(map) => Value::Object(
            map.into_iter()
                .filter(|(_, v)| !v.is_null())
                .map(|(k, v)| (k, strip_nulls(v)))
                .collect(),
        ),
        Value::Array(items) => Value::Array(items.into_iter().map(strip_nulls).collect()),
        other => other,
    }
}

#[cfg(test)]
mod tests {
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
            service_monitor_served: true,
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
        ] {
            let children = children(&from_sample(sample));
            insta::assert_yaml_snapshot!(
                sample,
                serde_json::json!({
                    "serviceAccount": children.service_account,
                    "roles": children.roles,
                    "roleBindings": children.role_bindings,
                    "clusterRole": children.cluster_role,
                    "clusterRoleBinding": children.cluster_role_binding,
                    "configMap": children.config_map,
                    "deployment": children.deployment,
                    "service": children.service,
                    "serviceMonitor": children.service_monitor,
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
        ] {
            let v = from_sample(sample);
            let config = Config::from_toml(&v.config_toml, Flags::default())
                .unwrap_or_else(|e| panic!("{sample}: {e}\n{}", v.config_toml));
            assert_eq!(config.port, Some(SERVER_PORT));
            assert!(config.stateless);
        }
    }

    #[test]
    fn downward_api_env_comes_first_and_user_env_last() {
        let mut v = from_sample("observed.yaml");
        v.spec.env = vec![
            serde_json::from_value(json!({"name": "OTEL_SERVICE_NAME", "value": "mine"})).unwrap(),
        ];
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
}
