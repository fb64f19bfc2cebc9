//! The shipped ClusterRoles: `kubernetes-mcp-read` and `kubernetes-mcp-read-write`, which
//! McpServers' ServiceAccounts are bound to, `kubernetes-mcp-impersonate` for servers that act
//! as their callers, and the two aggregated into the built-in roles so
//! that tenants may write McpServers and bind those two. Pure.

use std::collections::BTreeMap;

use k8s_openapi::api::rbac::v1::{ClusterRole, PolicyRule};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;

use super::{IMPERSONATE_ROLE, READ_ROLE, READ_WRITE_ROLE};

const READ: &[&str] = &["get", "list", "watch"];
const WRITE: &[&str] = &["create", "update", "patch", "delete"];

fn rule(groups: &[&str], resources: &[&str], verbs: &[&str]) -> PolicyRule {
    let owned = |list: &[&str]| Some(list.iter().map(|&s| s.to_owned()).collect());
    PolicyRule {
        api_groups: owned(groups),
        resources: owned(resources),
        verbs: verbs.iter().map(|&s| s.to_owned()).collect(),
        ..Default::default()
    }
}

fn cluster_role(name: &str, extra_labels: &[&str], rules: Vec<PolicyRule>) -> ClusterRole {
    let mut labels = BTreeMap::from([(
        "app.kubernetes.io/part-of".to_owned(),
        "kubernetes-mcp".to_owned(),
    )]);
    labels.extend(
        extra_labels
            .iter()
            .map(|&l| (l.to_owned(), "true".to_owned())),
    );
    ClusterRole {
        metadata: ObjectMeta {
            name: Some(name.to_owned()),
            labels: Some(labels),
            ..Default::default()
        },
        rules: Some(rules),
        ..Default::default()
    }
}

/// The built-in `view` (bootstrap policy `viewRules()`), read only: no Secrets, no
/// `pods/exec|attach|portforward|proxy`, no `serviceaccounts/token`; plus what scope Cluster
/// needs to be useful (nodes, PersistentVolumes, StorageClasses, namespaces), which is inert in
/// a RoleBinding. Not `nodes/proxy`: it reaches the kubelet's exec.
fn read_rules() -> Vec<PolicyRule> {
    vec![
        rule(
            &[""],
            &[
                "pods",
                "pods/log",
                "pods/status",
                "replicationcontrollers",
                "replicationcontrollers/scale",
                "replicationcontrollers/status",
                "serviceaccounts",
                "services",
                "services/status",
                "endpoints",
                "persistentvolumeclaims",
                "persistentvolumeclaims/status",
                "configmaps",
                "limitranges",
                "resourcequotas",
                "resourcequotas/status",
                "bindings",
                "namespaces",
                "namespaces/status",
                "events",
                "nodes",
                "persistentvolumes",
            ],
            READ,
        ),
        rule(&["events.k8s.io"], &["events"], READ),
        rule(&["discovery.k8s.io"], &["endpointslices"], READ),
        rule(
            &["apps"],
            &[
                "controllerrevisions",
                "statefulsets",
                "statefulsets/status",
                "statefulsets/scale",
                "daemonsets",
                "daemonsets/status",
                "deployments",
                "deployments/status",
                "deployments/scale",
                "replicasets",
                "replicasets/status",
                "replicasets/scale",
            ],
            READ,
        ),
        rule(
            &["autoscaling"],
            &[
                "horizontalpodautoscalers",
                "horizontalpodautoscalers/status",
            ],
            READ,
        ),
        rule(
            &["batch"],
            &["jobs", "jobs/status", "cronjobs", "cronjobs/status"],
            READ,
        ),
        rule(
            &["policy"],
            &["poddisruptionbudgets", "poddisruptionbudgets/status"],
            READ,
        ),
        rule(
            &["networking.k8s.io"],
            &["networkpolicies", "ingresses", "ingresses/status"],
            READ,
        ),
        rule(&["storage.k8s.io"], &["storageclasses"], READ),
    ]
}

/// Writes of the workload kinds of the built-in `edit` (`editRules()`), less what escalates:
/// no Secrets, no `pods/exec|attach|portforward|proxy`, no `serviceaccounts/token`, no
/// `impersonate`; so it stays a subset of `edit`.
fn write_rules() -> Vec<PolicyRule> {
    vec![
        rule(
            &[""],
            &[
                "pods",
                "replicationcontrollers",
                "replicationcontrollers/scale",
                "serviceaccounts",
                "services",
                "persistentvolumeclaims",
                "configmaps",
                "events",
            ],
            WRITE,
        ),
        rule(&[""], &["pods/eviction"], &["create"]),
        rule(&["events.k8s.io"], &["events"], WRITE),
        rule(
            &["apps"],
            &[
                "statefulsets",
                "statefulsets/scale",
                "daemonsets",
                "deployments",
                "deployments/scale",
                "deployments/rollback",
                "replicasets",
                "replicasets/scale",
            ],
            WRITE,
        ),
        rule(&["autoscaling"], &["horizontalpodautoscalers"], WRITE),
        rule(&["batch"], &["jobs", "cronjobs"], WRITE),
        rule(&["policy"], &["poddisruptionbudgets"], WRITE),
        rule(
            &["networking.k8s.io"],
            &["networkpolicies", "ingresses"],
            WRITE,
        ),
    ]
}

pub fn read_role() -> ClusterRole {
    cluster_role(READ_ROLE, &[], read_rules())
}

pub fn read_write_role() -> ClusterRole {
    let mut rules = read_rules();
    rules.extend(write_rules());
    cluster_role(READ_WRITE_ROLE, &[], rules)
}

/// For `spec.auth.mode: impersonate`: the server sends `Impersonate-User/-Group/-Uid/-Extra-*`
/// naming whoever the TokenReview said called it, so it must be allowed to impersonate anyone
/// (RBAC cannot narrow impersonation to "the caller"): users, groups and ServiceAccounts, and
/// in `authentication.k8s.io` the uid and every user extra (`userextras/KEY`, which RBAC can
/// match only with `*`; the verb keeps it to impersonation). Not aggregated anywhere: cluster-admin
/// equivalent, so the admission policy asks the author to hold it themselves.
pub fn impersonate_role() -> ClusterRole {
    cluster_role(
        IMPERSONATE_ROLE,
        &[],
        vec![
            rule(
                &[""],
                &["users", "groups", "serviceaccounts"],
                &["impersonate"],
            ),
            rule(&["authentication.k8s.io"], &["*"], &["impersonate"]),
        ],
    )
}

/// Aggregated into `edit` and `admin`: McpServers, and `bind` on the two shipped roles. This
/// grants nothing new: a namespace editor holds every permission of both in that namespace, so
/// Kubernetes would let them write the RoleBinding anyway; `bind` lets the admission policy
/// check it with one authorizer call.
pub fn tenant_edit_role() -> ClusterRole {
    cluster_role(
        "kubernetes-mcp-tenant-edit",
        &[
            "rbac.authorization.k8s.io/aggregate-to-edit",
            "rbac.authorization.k8s.io/aggregate-to-admin",
        ],
        vec![
            rule(
                &["kubernetes-mcp.io"],
                &["mcpservers"],
                &[
                    "get", "list", "watch", "create", "update", "patch", "delete",
                ],
            ),
            rule(&["kubernetes-mcp.io"], &["mcpservers/status"], READ),
            PolicyRule {
                resource_names: Some(vec![READ_ROLE.to_owned(), READ_WRITE_ROLE.to_owned()]),
                ..rule(&["rbac.authorization.k8s.io"], &["clusterroles"], &["bind"])
            },
        ],
    )
}

/// Aggregated into `view`: McpServers, read only. No `bind`: a view user cannot hand out even
/// `kubernetes-mcp-read` until a platform admin grants them `bind` on it.
pub fn tenant_view_role() -> ClusterRole {
    cluster_role(
        "kubernetes-mcp-tenant-view",
        &["rbac.authorization.k8s.io/aggregate-to-view"],
        vec![rule(
            &["kubernetes-mcp.io"],
            &["mcpservers", "mcpservers/status"],
            READ,
        )],
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn grants(role: &ClusterRole, group: &str, resource: &str, verb: &str) -> bool {
        role.rules.iter().flatten().any(|r| {
            r.api_groups
                .iter()
                .flatten()
                .any(|g| g == group || g == "*")
                && r.resources
                    .iter()
                    .flatten()
                    .any(|x| x == resource || x == "*")
                && r.verbs.iter().any(|v| v == verb || v == "*")
        })
    }

    #[test]
    fn neither_role_reaches_secrets_exec_or_tokens() {
        for role in [read_role(), read_write_role()] {
            for verb in [
                "get", "list", "watch", "create", "update", "patch", "delete",
            ] {
                for resource in [
                    "secrets",
                    "pods/exec",
                    "pods/attach",
                    "pods/portforward",
                    "pods/proxy",
                    "services/proxy",
                    "nodes/proxy",
                    "serviceaccounts/token",
                ] {
                    assert!(!grants(&role, "", resource, verb), "{resource} {verb}");
                }
            }
            assert!(!grants(&role, "", "serviceaccounts", "impersonate"));
            assert!(role.rules.iter().flatten().all(|r| {
                !r.verbs
                    .iter()
                    .any(|v| v == "*" || v == "escalate" || v == "bind")
                    && !r.resources.iter().flatten().any(|x| x == "*")
            }));
        }
        assert!(grants(&read_role(), "", "pods", "list"));
        assert!(!grants(&read_role(), "", "pods", "delete"));
        assert!(grants(&read_write_role(), "apps", "deployments", "patch"));
    }

    #[test]
    fn the_impersonate_role_only_impersonates() {
        let role = impersonate_role();
        assert!(
            role.rules
                .iter()
                .flatten()
                .all(|r| r.verbs == ["impersonate"])
        );
        for resource in ["users", "groups", "serviceaccounts"] {
            assert!(grants(&role, "", resource, "impersonate"), "{resource}");
        }
        assert!(grants(
            &role,
            "authentication.k8s.io",
            "uids",
            "impersonate"
        ));
        assert!(!grants(&role, "", "pods", "get"));
    }
}
