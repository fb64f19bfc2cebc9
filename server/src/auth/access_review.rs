//! Whether a caller may use this server, asked of the apiserver with a SubjectAccessReview for
//! the configured verb on `mcpservers.kubernetes-mcp.io` NAME in NAMESPACE, so access is granted
//! with plain RBAC. Does I/O: one `create subjectaccessreviews` call.

use k8s_openapi::api::authorization::v1::{
    ResourceAttributes, SubjectAccessReview, SubjectAccessReviewSpec,
};
use kube::Client;
use kube::api::{Api, PostParams};

use super::{Identity, ReviewError};
use crate::config::auth::{AccessRule, MCP_GROUP, MCP_RESOURCE};

/// `Ok(true)` when RBAC (or any authorizer of the apiserver) allows the caller.
pub async fn review(
    client: &Client,
    identity: &Identity,
    rule: &AccessRule,
) -> Result<bool, ReviewError> {
    let answer = Api::<SubjectAccessReview>::all(client.clone())
        .create(&PostParams::default(), &request(identity, rule))
        .await
        .map_err(|source| ReviewError::Api {
            review: "subjectaccessreviews.authorization.k8s.io",
            source,
        })?;
    Ok(answer.status.is_some_and(|s| s.allowed))
}

fn request(identity: &Identity, rule: &AccessRule) -> SubjectAccessReview {
    SubjectAccessReview {
        spec: SubjectAccessReviewSpec {
            user: Some(identity.username.clone()),
            uid: Some(identity.uid.clone()).filter(|u| !u.is_empty()),
            groups: Some(identity.groups.clone()),
            extra: Some(identity.extra.clone()).filter(|e| !e.is_empty()),
            resource_attributes: Some(ResourceAttributes {
                group: Some(MCP_GROUP.into()),
                resource: Some(MCP_RESOURCE.into()),
                verb: Some(rule.verb.clone()),
                name: Some(rule.name.clone()),
                namespace: Some(rule.namespace.clone()),
                ..ResourceAttributes::default()
            }),
            ..SubjectAccessReviewSpec::default()
        },
        ..SubjectAccessReview::default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_review_asks_for_the_rule_as_the_caller() {
        let identity = Identity {
            username: "system:serviceaccount:team:agent".into(),
            uid: "u-1".into(),
            groups: vec!["system:serviceaccounts".into()],
            extra: [("k".to_owned(), vec!["v".to_owned()])].into(),
        };
        let rule = AccessRule {
            verb: "use".into(),
            name: "srv".into(),
            namespace: "team".into(),
        };
        let spec = serde_json::to_value(request(&identity, &rule).spec).unwrap();
        assert_eq!(
            spec,
            serde_json::json!({
                "user": "system:serviceaccount:team:agent",
                "uid": "u-1",
                "groups": ["system:serviceaccounts"],
                "extra": {"k": ["v"]},
                "resourceAttributes": {
                    "group": "kubernetes-mcp.io", "resource": "mcpservers", "verb": "use",
                    "name": "srv", "namespace": "team",
                },
            })
        );
    }
}
