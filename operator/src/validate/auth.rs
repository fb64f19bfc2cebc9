//! Auth decided in one place: whether callers must authenticate, for which audience, with which
//! verb on this McpServer, as whom tool calls reach the apiserver; the server's config.toml keys
//! for it (the server's `require_oauth`, `oauth_audience`, `authorization_url`,
//! `cluster_auth_mode`, `[authorization]`); the ClusterRoles its ServiceAccount needs for it; and
//! what the status says. Pure.

use serde::Serialize;

use super::ValidationError;
use crate::api::{Auth, AuthMode, AuthStatus};
use crate::tenancy::IMPERSONATE_ROLE;

/// The built-in ClusterRole that lets a ServiceAccount create TokenReviews and
/// SubjectAccessReviews: all the server needs to ask the apiserver who a caller is and whether
/// they may use it.
pub const AUTH_DELEGATOR_ROLE: &str = "system:auth-delegator";

/// The verb callers need on the McpServer when `spec.auth.verb` names none.
const DEFAULT_VERB: &str = "use";

/// Who may call the server, and as whom.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AuthPlan {
    /// Anyone who reaches the Service, as the server's ServiceAccount.
    Off,
    Required(RequiredAuth),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RequiredAuth {
    pub audience: String,
    pub verb: String,
    pub mode: AuthMode,
    pub authorization_servers: Vec<String>,
}

/// The top-level auth keys of config.toml (flattened into it).
#[derive(Serialize)]
pub(super) struct AuthToml<'a> {
    require_oauth: bool,
    oauth_audience: &'a str,
    #[serde(skip_serializing_if = "<[String]>::is_empty")]
    authorization_url: &'a [String],
    cluster_auth_mode: &'static str,
}

/// `[authorization]` of config.toml: `verb` on this McpServer.
#[derive(Serialize)]
pub(super) struct AuthorizationToml<'a> {
    resource_name: &'a str,
    resource_namespace: &'a str,
    verb: &'a str,
}

pub(super) fn plan(auth: &Auth, namespace: &str, name: &str) -> Result<AuthPlan, ValidationError> {
    let mode = auth.mode.unwrap_or_default();
    if !auth.required {
        // The schema says the same (CEL); this holds for a CRD installed without the rule.
        if mode != AuthMode::Kubeconfig {
            return Err(ValidationError::Auth(format!(
                "mode {} acts as the caller, so it needs spec.auth.required: true",
                mode.as_str()
            )));
        }
        if auth.audience.is_some() || auth.verb.is_some() || !auth.authorization_servers.is_empty()
        {
            return Err(ValidationError::Auth(
                "audience, verb and authorizationServers check callers, so they need \
                 spec.auth.required: true"
                    .into(),
            ));
        }
        return Ok(AuthPlan::Off);
    }
    Ok(AuthPlan::Required(RequiredAuth {
        audience: auth
            .audience
            .clone()
            .unwrap_or_else(|| format!("kubernetes-mcp.io/{namespace}/{name}")),
        verb: auth.verb.clone().unwrap_or_else(|| DEFAULT_VERB.into()),
        mode,
        authorization_servers: auth.authorization_servers.clone(),
    }))
}

impl AuthPlan {
    /// The ClusterRoles bound cluster-wide to the server's ServiceAccount for auth: reviews
    /// whenever callers are checked, and impersonation when it acts as them.
    pub fn cluster_roles(&self) -> Vec<String> {
        match self {
            Self::Off => Vec::new(),
            Self::Required(required) => {
                let mut roles = vec![AUTH_DELEGATOR_ROLE.to_owned()];
                if required.mode == AuthMode::Impersonate {
                    roles.push(IMPERSONATE_ROLE.to_owned());
                }
                roles
            }
        }
    }

    pub fn status(&self) -> AuthStatus {
        match self {
            Self::Off => AuthStatus {
                state: "off".into(),
                audience: None,
            },
            Self::Required(required) => AuthStatus {
                state: format!("required ({})", required.mode.as_str()),
                audience: Some(required.audience.clone()),
            },
        }
    }

    pub(super) fn toml_keys(&self) -> Option<AuthToml<'_>> {
        match self {
            Self::Off => None,
            Self::Required(required) => Some(AuthToml {
                require_oauth: true,
                oauth_audience: &required.audience,
                authorization_url: &required.authorization_servers,
                cluster_auth_mode: required.mode.as_str(),
            }),
        }
    }

    /// `[authorization]`: the McpServer itself is the object callers need the verb on.
    pub(super) fn toml_table<'a>(
        &'a self,
        namespace: &'a str,
        name: &'a str,
    ) -> Option<AuthorizationToml<'a>> {
        match self {
            Self::Off => None,
            Self::Required(required) => Some(AuthorizationToml {
                resource_name: name,
                resource_namespace: namespace,
                verb: &required.verb,
            }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn auth(value: serde_json::Value) -> Auth {
        serde_json::from_value(value).unwrap()
    }

    #[test]
    fn off_by_default_with_no_roles() {
        let off = plan(&Auth::default(), "apps", "m").unwrap();
        assert_eq!(off, AuthPlan::Off);
        assert!(off.cluster_roles().is_empty());
        assert_eq!(off.status().state, "off");
    }

    #[test]
    fn required_defaults_a_per_server_audience_use_and_kubeconfig() {
        let on = plan(&auth(serde_json::json!({"required": true})), "apps", "m").unwrap();
        assert_eq!(
            on,
            AuthPlan::Required(RequiredAuth {
                audience: "kubernetes-mcp.io/apps/m".into(),
                verb: "use".into(),
                mode: AuthMode::Kubeconfig,
                authorization_servers: Vec::new(),
            })
        );
        assert_eq!(on.cluster_roles(), [AUTH_DELEGATOR_ROLE]);
        assert_eq!(on.status().state, "required (kubeconfig)");
        assert_eq!(
            on.status().audience.as_deref(),
            Some("kubernetes-mcp.io/apps/m")
        );
    }

    #[test]
    fn only_impersonation_needs_the_impersonate_role() {
        let roles = |mode: &str| {
            plan(
                &auth(serde_json::json!({"required": true, "mode": mode})),
                "apps",
                "m",
            )
            .unwrap()
            .cluster_roles()
        };
        assert_eq!(roles("passthrough"), [AUTH_DELEGATOR_ROLE]);
        assert_eq!(
            roles("impersonate"),
            [AUTH_DELEGATOR_ROLE, IMPERSONATE_ROLE]
        );
    }

    #[test]
    fn acting_as_the_caller_or_checking_callers_needs_required() {
        for spec in [
            serde_json::json!({"mode": "impersonate"}),
            serde_json::json!({"mode": "passthrough"}),
            serde_json::json!({"audience": "a"}),
            serde_json::json!({"verb": "get"}),
            serde_json::json!({"authorizationServers": ["https://issuer"]}),
        ] {
            let error = plan(&auth(spec.clone()), "apps", "m").unwrap_err();
            assert_eq!(error.reason(), "InvalidAuth", "{spec}");
            assert!(error.to_string().contains("required: true"), "{error}");
        }
    }
}
