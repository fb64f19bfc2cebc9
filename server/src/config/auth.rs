//! The authentication and authorization settings of the HTTP endpoints, as the config file and
//! flags give them (`require_oauth`, `oauth_audience`, `authorization_url`, `server_url`,
//! `cluster_auth_mode`, `[authorization]`), checked into one [`AuthSettings`]. Pure.

use serde::Deserialize;

use super::ConfigError;

/// As whom tool calls reach the apiserver.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum ClusterAuthMode {
    /// The server's own credentials (kubeconfig or in-cluster ServiceAccount).
    #[default]
    Kubeconfig,
    /// The caller's bearer token goes to the apiserver (it must also be valid for the apiserver).
    Passthrough,
    /// The server's credentials with `Impersonate-*` headers naming the caller.
    Impersonate,
}

impl ClusterAuthMode {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Kubeconfig => "kubeconfig",
            Self::Passthrough => "passthrough",
            Self::Impersonate => "impersonate",
        }
    }
}

/// `authorization_url`: one URL, as the Go server writes it, or several.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(untagged)]
pub enum OneOrMany {
    One(String),
    Many(Vec<String>),
}

impl OneOrMany {
    fn into_vec(self) -> Vec<String> {
        match self {
            Self::One(url) => vec![url],
            Self::Many(urls) => urls,
        }
    }
}

/// The `[authorization]` table: which McpServer object a caller needs `verb` on.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AuthorizationConfig {
    /// Name of the McpServer (`mcpservers.kubernetes-mcp.io`) callers need the verb on.
    pub resource_name: Option<String>,
    /// Its namespace.
    pub resource_namespace: Option<String>,
    /// Default `use`.
    pub verb: Option<String>,
}

/// The verb checked when `[authorization]` names no other.
pub const DEFAULT_VERB: &str = "use";
/// The API group and resource of the SubjectAccessReview.
pub const MCP_GROUP: &str = "kubernetes-mcp.io";
pub const MCP_RESOURCE: &str = "mcpservers";

/// What a caller must be allowed to do: `verb` on the McpServer `name` in `namespace`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AccessRule {
    pub verb: String,
    pub name: String,
    pub namespace: String,
}

impl AccessRule {
    /// `use mcpservers.kubernetes-mcp.io "NAME" in namespace "NS"`, for messages.
    pub fn describe(&self) -> String {
        format!(
            "{} {MCP_RESOURCE}.{MCP_GROUP} {:?} in namespace {:?}",
            self.verb, self.name, self.namespace
        )
    }
}

/// The settings of a server started with `require_oauth`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuthSettings {
    /// The audience tokens must be issued for (TokenReview `spec.audiences`).
    pub audience: String,
    /// `authorization_servers` of the protected-resource metadata.
    pub authorization_servers: Vec<String>,
    /// The server's public base URL; without it, the request's scheme and Host.
    pub server_url: Option<String>,
    pub mode: ClusterAuthMode,
    /// `None`: every authenticated caller is admitted.
    pub access: Option<AccessRule>,
}

/// The raw values, file and flags already merged (flags winning).
#[derive(Debug, Default)]
pub struct AuthInput {
    pub require_oauth: bool,
    pub oauth_audience: Option<String>,
    pub authorization_url: Option<OneOrMany>,
    pub server_url: Option<String>,
    pub cluster_auth_mode: Option<ClusterAuthMode>,
    pub authorization: Option<AuthorizationConfig>,
    /// Whether the server listens on HTTP (auth protects only HTTP endpoints).
    pub http: bool,
}

/// `Ok(None)` when the endpoints are open (`require_oauth` off).
pub fn resolve(input: AuthInput) -> Result<Option<AuthSettings>, ConfigError> {
    let invalid = |key, message: &str| ConfigError::Invalid {
        key,
        message: message.to_owned(),
    };
    let mode = input.cluster_auth_mode.unwrap_or_default();
    if !input.require_oauth {
        if mode != ClusterAuthMode::Kubeconfig {
            return Err(invalid(
                "cluster_auth_mode",
                &format!(
                    "{} acts as the caller, so it needs require_oauth = true",
                    mode.as_str()
                ),
            ));
        }
        if input.authorization.is_some() {
            return Err(invalid(
                "authorization",
                "checks callers, so it needs require_oauth = true",
            ));
        }
        if input.oauth_audience.is_some()
            || input.authorization_url.is_some()
            || input.server_url.is_some()
        {
            // As the Go server: a half-configured OAuth setup must not start open.
            return Err(invalid(
                "require_oauth",
                "oauth_audience, authorization_url and server_url are only valid with require_oauth = true",
            ));
        }
        return Ok(None);
    }
    if !input.http {
        return Err(invalid(
            "require_oauth",
            "protects the HTTP endpoints; it needs port (stdio has no caller to check)",
        ));
    }
    let audience = input
        .oauth_audience
        .filter(|a| !a.trim().is_empty())
        .ok_or_else(|| {
            invalid(
                "oauth_audience",
                "require_oauth needs the audience tokens must be issued for",
            )
        })?;
    let access = match input.authorization.unwrap_or_default() {
        AuthorizationConfig {
            resource_name: None,
            resource_namespace: None,
            verb: None,
        } => None,
        AuthorizationConfig {
            resource_name: Some(name),
            resource_namespace: Some(namespace),
            verb,
        } if !name.is_empty() && !namespace.is_empty() => Some(AccessRule {
            verb: verb
                .filter(|v| !v.is_empty())
                .unwrap_or_else(|| DEFAULT_VERB.to_owned()),
            name,
            namespace,
        }),
        _ => {
            return Err(invalid(
                "authorization",
                "resource_name and resource_namespace must both be given (verb is optional)",
            ));
        }
    };
    Ok(Some(AuthSettings {
        audience,
        authorization_servers: input
            .authorization_url
            .map(OneOrMany::into_vec)
            .unwrap_or_default(),
        server_url: input
            .server_url
            .map(|u| u.trim_end_matches('/').to_owned())
            .filter(|u| !u.is_empty()),
        mode,
        access,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn on(audience: Option<&str>) -> AuthInput {
        AuthInput {
            require_oauth: true,
            oauth_audience: audience.map(str::to_owned),
            http: true,
            ..AuthInput::default()
        }
    }

    fn error(input: AuthInput) -> String {
        resolve(input).unwrap_err().to_string()
    }

    #[test]
    fn off_by_default_and_kubeconfig_mode() {
        assert_eq!(resolve(AuthInput::default()).unwrap(), None);
        let settings = resolve(on(Some("aud"))).unwrap().unwrap();
        assert_eq!(settings.mode, ClusterAuthMode::Kubeconfig);
        assert_eq!(settings.access, None);
        assert!(settings.authorization_servers.is_empty());
    }

    #[test]
    fn require_oauth_needs_an_audience_and_http() {
        assert!(error(on(None)).contains("invalid oauth_audience"));
        assert!(error(on(Some(" "))).contains("invalid oauth_audience"));
        let stdio = AuthInput {
            http: false,
            ..on(Some("aud"))
        };
        assert!(error(stdio).contains("invalid require_oauth"));
    }

    #[test]
    fn acting_as_the_caller_needs_require_oauth() {
        for mode in [ClusterAuthMode::Passthrough, ClusterAuthMode::Impersonate] {
            let input = AuthInput {
                cluster_auth_mode: Some(mode),
                ..AuthInput::default()
            };
            let message = error(input);
            assert!(
                message.contains("invalid cluster_auth_mode") && message.contains(mode.as_str()),
                "{message}"
            );
        }
        let input = AuthInput {
            authorization: Some(AuthorizationConfig::default()),
            ..AuthInput::default()
        };
        assert!(error(input).contains("invalid authorization"));
    }

    #[test]
    fn the_access_rule_needs_name_and_namespace_and_defaults_the_verb() {
        let with = |name: Option<&str>, namespace: Option<&str>, verb: Option<&str>| AuthInput {
            authorization: Some(AuthorizationConfig {
                resource_name: name.map(str::to_owned),
                resource_namespace: namespace.map(str::to_owned),
                verb: verb.map(str::to_owned),
            }),
            ..on(Some("aud"))
        };
        let rule = resolve(with(Some("srv"), Some("team"), None))
            .unwrap()
            .unwrap()
            .access
            .unwrap();
        assert_eq!(rule.verb, "use");
        assert_eq!(
            rule.describe(),
            "use mcpservers.kubernetes-mcp.io \"srv\" in namespace \"team\""
        );
        let rule = resolve(with(Some("srv"), Some("team"), Some("call")))
            .unwrap()
            .unwrap()
            .access
            .unwrap();
        assert_eq!(rule.verb, "call");
        assert!(error(with(Some("srv"), None, None)).contains("resource_namespace"));
        assert!(error(with(None, None, Some("use"))).contains("resource_name"));
    }

    #[test]
    fn authorization_url_is_one_or_many_and_server_url_loses_its_slash() {
        let input = AuthInput {
            authorization_url: Some(OneOrMany::One("https://issuer".into())),
            server_url: Some("https://mcp.example.com/".into()),
            ..on(Some("aud"))
        };
        let settings = resolve(input).unwrap().unwrap();
        assert_eq!(settings.authorization_servers, ["https://issuer"]);
        assert_eq!(
            settings.server_url.as_deref(),
            Some("https://mcp.example.com")
        );
    }
}
