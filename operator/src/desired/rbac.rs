//! The server's identity and what it may do: its ServiceAccount, and the validated ClusterRole
//! bound with a RoleBinding in each namespace (scope Namespace) or one ClusterRoleBinding
//! (scope Cluster); plus, when callers must authenticate, a ClusterRoleBinding of each ClusterRole
//! auth needs (reviews, impersonation). The operator writes no rules: the ClusterRoles are
//! built-in, shipped (`tenancy`) or the platform admin's. Pure.

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::ServiceAccount;
use k8s_openapi::api::rbac::v1::{ClusterRoleBinding, RoleBinding, RoleRef, Subject};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;

use super::meta::{
    Placement, cluster_role_binding_name, object_meta, owner_uid_label, role_binding_name,
    server_name,
};
use crate::validate::{RbacScope, ValidatedMcpServer};

const RBAC_GROUP: &str = "rbac.authorization.k8s.io";

pub fn service_account(v: &ValidatedMcpServer) -> ServiceAccount {
    ServiceAccount {
        metadata: object_meta(v, server_name(v), Placement::Own, BTreeMap::new()),
        ..Default::default()
    }
}

pub fn role_bindings(v: &ValidatedMcpServer) -> Vec<RoleBinding> {
    let namespaces: &[String] = match &v.rbac.scope {
        RbacScope::Namespaces(namespaces) => namespaces,
        RbacScope::Cluster => &[],
    };
    namespaces
        .iter()
        .map(|namespace| RoleBinding {
            metadata: rbac_meta(v, role_binding_name(v), Placement::namespace(v, namespace)),
            role_ref: role_ref(&v.rbac.cluster_role),
            subjects: Some(subjects(v)),
        })
        .collect()
}

/// Scope Cluster's binding first, then auth's.
pub fn cluster_role_bindings(v: &ValidatedMcpServer) -> Vec<ClusterRoleBinding> {
    let access = (v.rbac.scope == RbacScope::Cluster).then_some(&v.rbac.cluster_role);
    access
        .into_iter()
        .chain(&v.rbac.auth_cluster_roles)
        .map(|role| ClusterRoleBinding {
            metadata: rbac_meta(v, cluster_role_binding_name(v, role), Placement::Cluster),
            role_ref: role_ref(role),
            subjects: Some(subjects(v)),
        })
        .collect()
}

/// RBAC children also carry their owner's uid, for the sweep and the finalizer.
fn rbac_meta(v: &ValidatedMcpServer, name: String, placement: Placement<'_>) -> ObjectMeta {
    object_meta(v, name, placement, owner_uid_label(v))
}

fn role_ref(cluster_role: &str) -> RoleRef {
    RoleRef {
        api_group: Some(RBAC_GROUP.into()),
        kind: "ClusterRole".into(),
        name: cluster_role.to_owned(),
    }
}

fn subjects(v: &ValidatedMcpServer) -> Vec<Subject> {
    vec![Subject {
        kind: "ServiceAccount".into(),
        name: server_name(v),
        namespace: Some(v.namespace.clone()),
        ..Default::default()
    }]
}
