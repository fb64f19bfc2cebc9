//! Who a child is: its name, namespace, labels and owner reference, each decided here once.
//! Pure.

use std::collections::BTreeMap;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::{ObjectMeta, OwnerReference};
use kube::Resource as _;

use crate::api::McpServer;
use crate::validate::ValidatedMcpServer;

/// The field manager of every apply, and the `managed-by` label.
pub const MANAGER: &str = "kubernetes-mcp-operator";
/// On bindings: the uid of their McpServer. Owner references cannot reach RoleBindings in other
/// namespaces nor cluster-scoped objects, so the sweep and the finalizer find them by this label.
pub const OWNER_UID: &str = "kubernetes-mcp.io/owner-uid";

/// Where a child lives, which decides whether its McpServer can own it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Placement<'a> {
    /// The McpServer's namespace: owned, so deleting the McpServer deletes it.
    Own,
    /// Another namespace: owner references cannot cross namespaces.
    Other(&'a str),
    /// Cluster-scoped: a namespaced McpServer cannot own it.
    Cluster,
}

impl<'a> Placement<'a> {
    /// `Own` for the McpServer's namespace, else `Other`.
    pub fn namespace(v: &ValidatedMcpServer, namespace: &'a str) -> Self {
        if namespace == v.namespace {
            Self::Own
        } else {
            Self::Other(namespace)
        }
    }
}

/// The metadata of a child: the common labels plus `extra_labels` (which win), and an owner
/// reference wherever one can reach.
pub fn object_meta(
    v: &ValidatedMcpServer,
    name: String,
    placement: Placement<'_>,
    extra_labels: BTreeMap<String, String>,
) -> ObjectMeta {
    let mut labels = labels(v);
    labels.extend(extra_labels);
    let (namespace, owned) = match placement {
        Placement::Own => (Some(v.namespace.clone()), true),
        Placement::Other(namespace) => (Some(namespace.to_owned()), false),
        Placement::Cluster => (None, false),
    };
    ObjectMeta {
        name: Some(name),
        namespace,
        labels: Some(labels),
        owner_references: owned.then(|| vec![owner_reference(v)]),
        ..Default::default()
    }
}

/// The labels that select the server's pods.
pub fn selector(v: &ValidatedMcpServer) -> BTreeMap<String, String> {
    BTreeMap::from([
        (
            "app.kubernetes.io/name".into(),
            "kubernetes-mcp-server".into(),
        ),
        ("app.kubernetes.io/instance".into(), v.name.clone()),
    ])
}

/// The labels every child (and the pod template) carries: the selector's and two more.
pub fn labels(v: &ValidatedMcpServer) -> BTreeMap<String, String> {
    let mut labels = selector(v);
    labels.extend([
        ("app.kubernetes.io/managed-by".into(), MANAGER.into()),
        ("app.kubernetes.io/part-of".into(), "kubernetes-mcp".into()),
    ]);
    labels
}

/// The label by which RBAC children are found when owner references cannot reach them.
pub fn owner_uid_label(v: &ValidatedMcpServer) -> BTreeMap<String, String> {
    BTreeMap::from([(OWNER_UID.into(), v.uid.clone())])
}

/// The metadata of a swept child in the McpServer's namespace (the ServiceMonitor, the
/// PrometheusRule): the user's `labels`, then the owner-uid label, by which the orphan sweep
/// finds it once it is no longer wanted.
pub fn swept_meta(v: &ValidatedMcpServer, labels: &BTreeMap<String, String>) -> ObjectMeta {
    let mut extra_labels = labels.clone();
    extra_labels.extend(owner_uid_label(v));
    object_meta(v, server_name(v), Placement::Own, extra_labels)
}

fn owner_reference(v: &ValidatedMcpServer) -> OwnerReference {
    OwnerReference {
        api_version: McpServer::api_version(&()).into_owned(),
        kind: McpServer::kind(&()).into_owned(),
        name: v.name.clone(),
        uid: v.uid.clone(),
        controller: Some(true),
        block_owner_deletion: Some(true),
    }
}

/// The server's ServiceAccount, Deployment, Service and ServiceMonitor.
pub fn server_name(v: &ValidatedMcpServer) -> String {
    v.name.clone()
}

pub fn config_map_name(v: &ValidatedMcpServer) -> String {
    format!("{}-config", v.name)
}

/// RoleBindings: one per namespace, so the McpServer's name suffices; the ClusterRole is in the
/// name because a binding's roleRef cannot change: another role is another binding (and the old
/// one is swept).
pub fn role_binding_name(v: &ValidatedMcpServer) -> String {
    format!("kubernetes-mcp-{}:{}", v.name, v.rbac.cluster_role)
}

/// A ClusterRoleBinding of `role`: unique per McpServer across namespaces, and per ClusterRole.
pub fn cluster_role_binding_name(v: &ValidatedMcpServer, role: &str) -> String {
    format!("kubernetes-mcp-{}-{}:{role}", v.namespace, v.name)
}
