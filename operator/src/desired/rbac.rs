//! The server's identity and what it may do: its ServiceAccount, and Roles with RoleBindings
//! (scope Namespace) or a ClusterRole with its binding (scope Cluster). Pure.

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::ServiceAccount;
use k8s_openapi::api::rbac::v1::{
    ClusterRole, ClusterRoleBinding, PolicyRule, Role, RoleBinding, RoleRef, Subject,
};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;

use super::meta::{Placement, cluster_name, object_meta, owner_uid_label, role_name, server_name};
use crate::validate::{RbacScope, ValidatedMcpServer};

const RBAC_GROUP: &str = "rbac.authorization.k8s.io";

pub fn service_account(v: &ValidatedMcpServer) -> ServiceAccount {
    ServiceAccount {
        metadata: object_meta(v, server_name(v), Placement::Own, BTreeMap::new()),
        ..Default::default()
    }
}

/// The namespaces that get a Role and RoleBinding; none for scope Cluster.
fn role_namespaces(v: &ValidatedMcpServer) -> &[String] {
    match &v.rbac.scope {
        RbacScope::Namespaces(namespaces) => namespaces,
        RbacScope::Cluster => &[],
    }
}

pub fn roles(v: &ValidatedMcpServer) -> Vec<Role> {
    role_namespaces(v)
        .iter()
        .map(|namespace| Role {
            metadata: rbac_meta(v, role_name(v), Placement::namespace(v, namespace)),
            rules: Some(rules(v)),
        })
        .collect()
}

pub fn role_bindings(v: &ValidatedMcpServer) -> Vec<RoleBinding> {
    role_namespaces(v)
        .iter()
        .map(|namespace| RoleBinding {
            metadata: rbac_meta(v, role_name(v), Placement::namespace(v, namespace)),
            role_ref: role_ref("Role", role_name(v)),
            subjects: Some(subjects(v)),
        })
        .collect()
}

pub fn cluster_role(v: &ValidatedMcpServer) -> Option<ClusterRole> {
    (v.rbac.scope == RbacScope::Cluster).then(|| ClusterRole {
        metadata: rbac_meta(v, cluster_name(v), Placement::Cluster),
        rules: Some(rules(v)),
        ..Default::default()
    })
}

pub fn cluster_role_binding(v: &ValidatedMcpServer) -> Option<ClusterRoleBinding> {
    (v.rbac.scope == RbacScope::Cluster).then(|| ClusterRoleBinding {
        metadata: rbac_meta(v, cluster_name(v), Placement::Cluster),
        role_ref: role_ref("ClusterRole", cluster_name(v)),
        subjects: Some(subjects(v)),
    })
}

/// RBAC children also carry their owner's uid, for the sweep and the finalizer.
fn rbac_meta(v: &ValidatedMcpServer, name: String, placement: Placement<'_>) -> ObjectMeta {
    object_meta(v, name, placement, owner_uid_label(v))
}

fn rules(v: &ValidatedMcpServer) -> Vec<PolicyRule> {
    vec![PolicyRule {
        api_groups: Some(vec!["*".into()]),
        resources: Some(vec!["*".into()]),
        verbs: v.rbac.verbs.iter().map(|&verb| verb.into()).collect(),
        ..Default::default()
    }]
}

fn role_ref(kind: &str, name: String) -> RoleRef {
    RoleRef {
        api_group: Some(RBAC_GROUP.into()),
        kind: kind.into(),
        name,
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
