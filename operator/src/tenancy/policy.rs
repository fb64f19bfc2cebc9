//! The ValidatingAdmissionPolicy that holds an McpServer to its author's rights: on create, and
//! on every update that changes `spec.access`, the requesting user must be allowed to `bind` the
//! ClusterRole it names in each target namespace (cluster-wide for scope Cluster), exactly what
//! Kubernetes would ask of them to write the RoleBinding themselves. One authorizer check per
//! validation (each costs 350,000 of the 10,000,000 a policy evaluation may spend).
//!
//! A second policy, `kubernetes-mcp-impersonate`, guards `spec.auth.mode: impersonate`, which
//! binds the server to `kubernetes-mcp-impersonate`: a server that may impersonate anyone can act
//! as cluster-admin, so its author must hold that impersonation themselves. The
//! `system:auth-delegator` binding of every server with `spec.auth.required` needs no such check:
//! it only lets the server ask the apiserver questions (TokenReview: who is this token?
//! SubjectAccessReview: may they?), which grants no access to anything. Pure.

use k8s_openapi::api::admissionregistration::v1::{
    MatchCondition, MatchResources, NamedRuleWithOperations, ValidatingAdmissionPolicy,
    ValidatingAdmissionPolicyBinding, ValidatingAdmissionPolicyBindingSpec,
    ValidatingAdmissionPolicySpec, Validation, Variable,
};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;

use super::{MAX_NAMESPACES, READ_ROLE, READ_WRITE_ROLE};

/// The name of the policy and of its binding.
pub const POLICY_NAME: &str = "kubernetes-mcp-access";
/// The name of the policy on `spec.auth.mode: impersonate`, and of its binding.
pub const IMPERSONATE_POLICY_NAME: &str = "kubernetes-mcp-impersonate";

/// `authorizer` asking whether the requesting user may bind the McpServer's ClusterRole.
const BIND_CHECK: &str = "authorizer.group('rbac.authorization.k8s.io').resource('clusterroles')";

fn meta(name: &str) -> ObjectMeta {
    ObjectMeta {
        name: Some(name.to_owned()),
        labels: Some(
            [(
                "app.kubernetes.io/part-of".to_owned(),
                "kubernetes-mcp".to_owned(),
            )]
            .into(),
        ),
        ..Default::default()
    }
}

fn variable(name: &str, expression: String) -> Variable {
    Variable {
        name: name.to_owned(),
        expression,
    }
}

pub fn access_policy() -> ValidatingAdmissionPolicy {
    let mut validations = vec![Validation {
        expression: format!(
            "variables.scope != 'Cluster' || {BIND_CHECK}.name(variables.role).check('bind').allowed()"
        ),
        message_expression: Some(
            "request.userInfo.username + ' may not bind ClusterRole ' + variables.role + \
             ' cluster-wide, which scope Cluster grants: ask a platform admin for a \
             ClusterRoleBinding granting bind on clusterroles/' + variables.role + \
             ', or use scope Namespace'"
                .to_owned(),
        ),
        reason: Some("Forbidden".to_owned()),
        ..Default::default()
    }];
    // One validation per possible namespace: CEL has no loop whose cost the budget allows.
    validations.extend((0..MAX_NAMESPACES).map(|i| Validation {
        expression: format!(
            "size(variables.namespaces) <= {i} || {BIND_CHECK}.namespace(variables.namespaces[{i}])\
             .name(variables.role).check('bind').allowed()"
        ),
        message_expression: Some(format!(
            "request.userInfo.username + ' may not bind ClusterRole ' + variables.role + \
             ' in namespace ' + variables.namespaces[{i}] + ', which spec.access asks for: ask a \
             platform admin for a RoleBinding there granting bind on clusterroles/' + \
             variables.role + ', or leave that namespace out'"
        )),
        reason: Some("Forbidden".to_owned()),
        ..Default::default()
    }));
    ValidatingAdmissionPolicy {
        metadata: meta(POLICY_NAME),
        spec: Some(ValidatingAdmissionPolicySpec {
            failure_policy: Some("Fail".to_owned()),
            match_constraints: Some(mcp_servers_written()),
            // Updates that leave spec.access alone (the operator's finalizer, labels, replicas)
            // grant nothing new.
            match_conditions: Some(vec![MatchCondition {
                name: "access-is-new-or-changed".to_owned(),
                expression: "request.operation == 'CREATE' || \
                             oldObject.spec.access != object.spec.access"
                    .to_owned(),
            }]),
            variables: Some(vec![
                variable("access", "object.spec.access".to_owned()),
                variable(
                    "scope",
                    "has(variables.access.scope) ? variables.access.scope : 'Namespace'".to_owned(),
                ),
                // An explicit `clusterRole: null` (the field is nullable) is the operator's None.
                variable(
                    "role",
                    format!(
                        "has(variables.access.clusterRole) && variables.access.clusterRole != null ? \
                         variables.access.clusterRole : \
                         has(variables.access.verbs) && variables.access.verbs == 'readWrite' ? \
                         '{READ_WRITE_ROLE}' : '{READ_ROLE}'"
                    ),
                ),
                // The namespaces that get a RoleBinding; none for scope Cluster.
                variable(
                    "namespaces",
                    "variables.scope == 'Cluster' ? [] : \
                     has(variables.access.namespaces) && size(variables.access.namespaces) > 0 ? \
                     variables.access.namespaces : [request.namespace]"
                        .to_owned(),
                ),
            ]),
            validations: Some(validations),
            ..Default::default()
        }),
        status: None,
    }
}

/// Creates and updates of McpServers, the requests both policies look at.
fn mcp_servers_written() -> MatchResources {
    MatchResources {
        resource_rules: Some(vec![NamedRuleWithOperations {
            api_groups: Some(vec!["kubernetes-mcp.io".to_owned()]),
            api_versions: Some(vec!["*".to_owned()]),
            operations: Some(vec!["CREATE".to_owned(), "UPDATE".to_owned()]),
            resources: Some(vec!["mcpservers".to_owned()]),
            ..Default::default()
        }]),
        ..Default::default()
    }
}

pub fn access_policy_binding() -> ValidatingAdmissionPolicyBinding {
    binding(POLICY_NAME)
}

fn binding(policy: &str) -> ValidatingAdmissionPolicyBinding {
    ValidatingAdmissionPolicyBinding {
        metadata: meta(policy),
        spec: ValidatingAdmissionPolicyBindingSpec {
            policy_name: policy.to_owned(),
            validation_actions: vec!["Deny".to_owned()],
            ..Default::default()
        },
    }
}

/// Refuses `spec.auth.mode: impersonate` (on create, and on updates that change `spec.auth`)
/// unless the author may impersonate users, groups and ServiceAccounts cluster-wide: what the
/// server's `kubernetes-mcp-impersonate` binding grants. Three authorizer checks.
pub fn impersonate_policy() -> ValidatingAdmissionPolicy {
    ValidatingAdmissionPolicy {
        metadata: meta(IMPERSONATE_POLICY_NAME),
        spec: Some(ValidatingAdmissionPolicySpec {
            failure_policy: Some("Fail".to_owned()),
            match_constraints: Some(mcp_servers_written()),
            match_conditions: Some(vec![
                MatchCondition {
                    name: "impersonates".to_owned(),
                    expression: "has(object.spec.auth) && has(object.spec.auth.mode) && \
                                 object.spec.auth.mode == 'impersonate'"
                        .to_owned(),
                },
                // Updates that leave spec.auth alone grant nothing new.
                MatchCondition {
                    name: "auth-is-new-or-changed".to_owned(),
                    expression: "request.operation == 'CREATE' || !has(oldObject.spec.auth) || \
                                 oldObject.spec.auth != object.spec.auth"
                        .to_owned(),
                },
            ]),
            // One check per validation: a single expression may spend 1,000,000, three checks
            // cost 1,050,000.
            validations: Some(
                ["users", "groups", "serviceaccounts"]
                    .map(|resource| Validation {
                        expression: format!(
                            "authorizer.group('').resource('{resource}').check('impersonate').allowed()"
                        ),
                        message_expression: Some(format!(
                            "request.userInfo.username + ' may not impersonate {resource} \
                             cluster-wide; spec.auth.mode impersonate lets the server impersonate \
                             users, groups and serviceaccounts, that is act as anyone, \
                             cluster-admin included: ask a platform admin to create this \
                             McpServer, or use mode passthrough or kubeconfig'"
                        )),
                        reason: Some("Forbidden".to_owned()),
                        ..Default::default()
                    })
                    .into(),
            ),
            ..Default::default()
        }),
        status: None,
    }
}

pub fn impersonate_policy_binding() -> ValidatingAdmissionPolicyBinding {
    binding(IMPERSONATE_POLICY_NAME)
}
