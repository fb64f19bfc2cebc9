//! The keys and flags of the Go kubernetes-mcp-server v0.0.67 that the core config does not
//! model, so that a Go config starts here too. Each key is either implemented with Go's meaning
//! (tool filters and overrides, `server_instructions`, `[[prompts]]`, `http.*` limits, TLS
//! version and suites, confirmation rules, validation, `toolset_configs.helm` in `toolsets`)
//! or, where it cannot apply to this server, accepted with one start-up warning naming it. A
//! key neither server knows stays an error. Pure.

use std::collections::BTreeMap;
use std::path::PathBuf;

use serde::Deserialize;

use super::confirm::{ConfirmationRule, ConfirmationRules, Fallback};
use super::tls::TlsSettings;
use super::toolsets::{self, HelmSettings};
use super::{ClusterProvider, ConfigError, Toolset};

/// Go keys this server accepts but cannot honour, each with why: a config that sets one still
/// starts, and says once at start-up that the key has no effect.
const WITHOUT_EFFECT: &[(&str, &str)] = &[
    (
        "cluster_provider_configs",
        "the kcp provider is not supported",
    ),
    (
        "experimental_enable_target_compatibility_tool_filters",
        "tools are listed whatever API groups the cluster serves",
    ),
    (
        "skip_jwt_verification",
        "tokens are always checked with a TokenReview",
    ),
    ("oauth_scopes", "no OAuth scopes are advertised"),
    (
        "disable_dynamic_client_registration",
        "no OAuth authorization server metadata is proxied",
    ),
    (
        "certificate_authority",
        "the authorization server is not called by this server",
    ),
    (
        "trust_proxy_headers",
        "the server URL comes from server_url or the request",
    ),
    // The sts_* keys are not here: v0.0.67 itself refuses them (moved to [token_exchange]).
    ("token_exchange", "no token exchange is performed"),
    (
        "sse_base_url",
        "the SSE endpoint is announced relative to the request",
    ),
];

/// The Go-only keys this server implements, exactly as written.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct GoFile {
    enabled_tools: Option<Vec<String>>,
    disabled_tools: Option<Vec<String>>,
    tool_overrides: Option<BTreeMap<String, ToolOverride>>,
    server_instructions: Option<String>,
    prompts: Option<Vec<PromptConfig>>,
    http: Option<HttpLimits>,
    toolset_configs: Option<BTreeMap<String, toml::Value>>,
    tls_min_version: Option<String>,
    tls_cipher_suites: Option<Vec<String>>,
    confirmation_rules: Option<Vec<ConfirmationRule>>,
    confirmation_fallback: Option<String>,
    validation_enabled: Option<bool>,
}

/// `[tool_overrides.<tool>]`: what `tools/list` shows instead of the built-in text.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ToolOverride {
    pub description: Option<String>,
}

/// `[http]`: per-session request rate and body size, as the Go server reads them.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
struct HttpLimits {
    rate_limit_rps: Option<f64>,
    rate_limit_burst: Option<u32>,
    max_body_bytes: Option<usize>,
    /// Accepted: hyper bounds header reads itself.
    read_header_timeout: Option<toml::Value>,
}

/// One `[[prompts]]` entry: a prompt template served by `prompts/list` and `prompts/get`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PromptConfig {
    pub name: String,
    pub title: Option<String>,
    pub description: String,
    #[serde(default)]
    pub arguments: Vec<PromptArgumentConfig>,
    pub messages: Vec<PromptMessageConfig>,
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PromptArgumentConfig {
    pub name: String,
    pub description: Option<String>,
    #[serde(default)]
    pub required: bool,
}

/// A message; `{{argument}}` in `content` is replaced by the argument's value.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PromptMessageConfig {
    pub role: PromptRole,
    pub content: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum PromptRole {
    User,
    Assistant,
}

/// A per-session token bucket: `rps` requests a second, bursts of `burst`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RateLimit {
    pub rps: f64,
    pub burst: f64,
}

/// The Go keys taken out of a config table, before they are resolved.
#[derive(Debug, Default)]
pub struct GoKeys {
    file: GoFile,
    warnings: Vec<String>,
}

/// Hidden flags of the Go server that have no meaning here (its OAuth flags that do are in
/// [`super::Flags`]).
#[derive(Debug, Clone, Default, clap::Args)]
pub struct GoFlags {
    /// Accepted for the Go server's command lines; tokens are always checked with a TokenReview.
    #[arg(long, hide = true, num_args = 0..=1, require_equals = true, default_missing_value = "true")]
    pub skip_jwt_verification: Option<bool>,
    /// Accepted for the Go server's command lines; the authorization server is never called.
    #[arg(long, hide = true)]
    pub certificate_authority: Option<PathBuf>,
}

/// The Go keys as the server runs with them.
#[derive(Debug, Clone, Default)]
pub struct GoSettings {
    /// Only these tools (among the enabled toolsets), when set.
    pub enabled_tools: Option<Vec<String>>,
    pub disabled_tools: Vec<String>,
    pub tool_overrides: BTreeMap<String, ToolOverride>,
    /// The `instructions` of `initialize`, when set.
    pub server_instructions: Option<String>,
    pub prompts: Vec<PromptConfig>,
    pub rate_limit: Option<RateLimit>,
    /// `http.max_body_bytes`, used when the top-level `max_body_bytes` is not set.
    pub max_body_bytes: Option<usize>,
    /// `[toolset_configs.helm]`.
    pub helm: HelmSettings,
    /// `tls_min_version` and `tls_cipher_suites` of the HTTPS listener.
    pub tls: TlsSettings,
    /// `[[confirmation_rules]]` and `confirmation_fallback`.
    pub confirmation: ConfirmationRules,
    /// Access review and strict schema validation before each apiserver request.
    pub validation_enabled: bool,
    /// One line per accepted key that has no effect here, logged at start-up.
    pub warnings: Vec<String>,
}

impl GoSettings {
    /// Whether `enabled_tools` and `disabled_tools` keep the tool.
    pub fn tool_allowed(&self, name: &str) -> bool {
        self.enabled_tools
            .as_ref()
            .is_none_or(|names| names.iter().any(|n| n == name))
            && !self.disabled_tools.iter().any(|n| n == name)
    }

    /// The description `tool_overrides` gives the tool, if any.
    pub fn description_of(&self, name: &str) -> Option<&str> {
        self.tool_overrides.get(name)?.description.as_deref()
    }
}

/// Takes the Go-only keys out of `table`, so that the rest can be read strictly.
pub fn split(table: &mut toml::Table) -> Result<GoKeys, toml::de::Error> {
    let mut warnings = Vec::new();
    for (key, why) in WITHOUT_EFFECT {
        if table.remove(*key).is_some() {
            warnings.push(format!(
                "config key {key} is accepted for compatibility with the Go server but has no effect here: {why}"
            ));
        }
    }
    let mut go = toml::Table::new();
    for key in [
        "enabled_tools",
        "disabled_tools",
        "tool_overrides",
        "server_instructions",
        "prompts",
        "http",
        "toolset_configs",
        "tls_min_version",
        "tls_cipher_suites",
        "confirmation_rules",
        "confirmation_fallback",
        "validation_enabled",
    ] {
        if let Some(value) = table.remove(key) {
            go.insert(key.to_owned(), value);
        }
    }
    Ok(GoKeys {
        file: go.try_into()?,
        warnings,
    })
}

/// Checks the Go keys and flags into [`GoSettings`].
pub fn resolve(keys: GoKeys, flags: &GoFlags) -> Result<GoSettings, ConfigError> {
    let GoKeys { file, mut warnings } = keys;
    if flags.skip_jwt_verification.is_some() {
        warnings.push("flag --skip-jwt-verification has no effect here: tokens are always checked with a TokenReview".into());
    }
    if flags.certificate_authority.is_some() {
        warnings.push("flag --certificate-authority has no effect here: the authorization server is never called".into());
    }
    let http = file.http.unwrap_or_default();
    if http.read_header_timeout.is_some() {
        warnings.push("config key http.read_header_timeout has no effect here: header reads are bounded by the HTTP server".into());
    }
    let rate_limit = match (http.rate_limit_rps, http.rate_limit_burst) {
        (Some(rps), _) if !(rps.is_finite() && rps >= 0.0) => {
            return Err(ConfigError::Invalid {
                key: "http.rate_limit_rps",
                message: format!("{rps} is not a rate"),
            });
        }
        (Some(rps), burst) if rps > 0.0 => Some(RateLimit {
            rps,
            // Without a burst: one second's worth of requests.
            burst: burst.map_or(rps.ceil().max(1.0), f64::from),
        }),
        _ => None,
    };
    let (helm, helm_warnings) = toolsets::resolve(file.toolset_configs.unwrap_or_default())?;
    warnings.extend(helm_warnings);
    let tls = super::tls::resolve(
        file.tls_min_version.as_deref(),
        &file.tls_cipher_suites.unwrap_or_default(),
        &mut warnings,
    )?;
    let fallback = match file.confirmation_fallback.as_deref() {
        None | Some("" | "allow") => Fallback::Allow,
        Some("deny") => Fallback::Deny,
        Some(other) => {
            return Err(ConfigError::Invalid {
                key: "confirmation_fallback",
                message: format!("{other:?}: must be \"allow\" or \"deny\""),
            });
        }
    };
    let confirmation =
        ConfirmationRules::new(file.confirmation_rules.unwrap_or_default(), fallback)?;
    let prompts = file.prompts.unwrap_or_default();
    let mut names = std::collections::BTreeSet::new();
    if let Some(duplicate) = prompts.iter().find(|p| !names.insert(p.name.as_str())) {
        return Err(ConfigError::Invalid {
            key: "prompts",
            message: format!("prompt {:?} is defined twice", duplicate.name),
        });
    }
    Ok(GoSettings {
        enabled_tools: file.enabled_tools.filter(|names| !names.is_empty()),
        disabled_tools: file.disabled_tools.unwrap_or_default(),
        tool_overrides: file.tool_overrides.unwrap_or_default(),
        server_instructions: file.server_instructions.filter(|s| !s.trim().is_empty()),
        prompts,
        rate_limit,
        max_body_bytes: http.max_body_bytes,
        helm,
        tls,
        confirmation,
        validation_enabled: file.validation_enabled.unwrap_or(false),
        warnings,
    })
}

/// Refuses the Go server's toolsets that this server does not serve, naming the first one.
pub fn check_toolsets<'a>(
    toolsets: impl IntoIterator<Item = &'a Toolset>,
) -> Result<(), ConfigError> {
    match toolsets.into_iter().find_map(|t| match t {
        Toolset::Unsupported(name) => Some(name),
        _ => None,
    }) {
        Some(name) => Err(ConfigError::Invalid {
            key: "toolsets",
            message: format!(
                "the Go server's {name} toolset is not supported by this server (it serves config, core, helm, kubevirt and tekton)"
            ),
        }),
        None => Ok(()),
    }
}

/// Refuses the kcp provider, which this server does not implement.
pub fn check_provider(provider: ClusterProvider) -> Result<ClusterProvider, ConfigError> {
    if provider == ClusterProvider::Kcp {
        return Err(ConfigError::Invalid {
            key: "cluster_provider_strategy",
            message: "the kcp cluster provider is not supported by this server (use kubeconfig, in-cluster or disabled)".into(),
        });
    }
    Ok(provider)
}

#[cfg(test)]
mod tests {
    use super::super::{Config, Flags};
    use super::*;
    use clap::Parser as _;

    #[derive(Debug, clap::Parser)]
    struct Cli {
        #[command(flatten)]
        flags: Flags,
    }

    fn flags(args: &[&str]) -> Result<Flags, clap::Error> {
        Cli::try_parse_from(std::iter::once("kubernetes-mcp-server").chain(args.iter().copied()))
            .map(|c| c.flags)
    }

    fn load(toml: &str, args: &[&str]) -> Result<Config, ConfigError> {
        Config::from_toml(toml, flags(args).unwrap())
    }

    #[test]
    fn boolean_flags_take_go_style_values_and_beat_the_file() {
        assert!(load("", &["--read-only"]).unwrap().read_only);
        assert!(
            !load("read_only = true", &["--read-only=false"])
                .unwrap()
                .read_only
        );
        assert!(load("", &["--stateless=true"]).unwrap().stateless);
        assert!(load("read_only = true", &[]).unwrap().read_only);
        assert!(flags(&["--read-only=maybe"]).is_err());
        let hidden = flags(&[
            "--require-oauth=false",
            "--skip-jwt-verification",
            "--certificate-authority",
            "/ca.pem",
        ])
        .unwrap();
        let c = Config::from_toml("", hidden).unwrap();
        assert!(c.auth.is_none());
        assert_eq!(c.go.warnings.len(), 2, "{:?}", c.go.warnings);
    }

    #[test]
    fn toolset_names_follow_the_go_server() {
        let err = flags(&["--toolsets", "core,foo"]).unwrap_err().to_string();
        assert!(
            err.contains("invalid toolset name: foo, valid names are: config, core, helm, kcp, kiali, kubevirt, netobserv, tekton"),
            "{err}"
        );
        let c = load("", &["--toolsets", "core,tekton,kubevirt"]).unwrap();
        assert!(c.toolsets.contains(&Toolset::Tekton) && c.toolsets.contains(&Toolset::Kubevirt));
        for name in ["kiali", "netobserv", "kcp"] {
            let err = load(&format!("toolsets = [\"{name}\"]"), &[])
                .unwrap_err()
                .to_string();
            assert!(
                err.contains(&format!("{name} toolset is not supported by this server")),
                "{err}"
            );
        }
        let err = load("toolsets = [\"bogus\"]", &[]).unwrap_err().to_string();
        assert!(err.contains("invalid toolset name: bogus"), "{err}");
    }

    #[test]
    fn cluster_provider_disabled_is_a_single_cluster_and_kcp_is_refused() {
        let c = load("", &["--cluster-provider", "disabled"]).unwrap();
        assert_eq!(c.cluster_provider, ClusterProvider::Disabled);
        assert!(c.disable_multi_cluster);
        let err = load("cluster_provider_strategy = \"kcp\"", &[])
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("kcp cluster provider is not supported"),
            "{err}"
        );
        assert!(flags(&["--cluster-provider", "none"]).is_err());
    }

    #[test]
    fn go_keys_without_effect_start_with_one_warning_each() {
        let c = load(
            r#"
            tls_min_version = "1.1"
            [toolset_configs.helm]
            allowed_registries = ["oci://ghcr.io"]
            [toolset_configs.kiali]
            url = "https://kiali"
            [http]
            read_header_timeout = "10s"
            "#,
            &[],
        )
        .unwrap();
        let keys: Vec<&str> =
            c.go.warnings
                .iter()
                .map(|w| w.split_whitespace().nth(2).unwrap())
                .collect();
        assert_eq!(
            keys,
            [
                "http.read_header_timeout",
                "toolset_configs.kiali",
                "tls_min_version"
            ]
        );
    }

    #[test]
    fn implemented_go_keys_have_their_meaning_and_unknown_ones_still_fail() {
        let c = load(
            r#"
            enabled_tools = ["pods_get", "pods_delete"]
            disabled_tools = ["pods_delete"]
            server_instructions = "Use me for Kubernetes"
            [tool_overrides.pods_get]
            description = "Custom"
            [http]
            rate_limit_rps = 2.5
            max_body_bytes = 1024
            "#,
            &[],
        )
        .unwrap();
        assert!(c.go.tool_allowed("pods_get"));
        assert!(!c.go.tool_allowed("pods_delete") && !c.go.tool_allowed("pods_list"));
        assert_eq!(c.go.description_of("pods_get"), Some("Custom"));
        assert_eq!(
            c.go.server_instructions.as_deref(),
            Some("Use me for Kubernetes")
        );
        assert_eq!(
            c.go.rate_limit,
            Some(RateLimit {
                rps: 2.5,
                burst: 3.0
            })
        );
        assert_eq!(c.max_body_bytes, 1024);
        assert!(c.go.warnings.is_empty());

        for bad in [
            "enabled_toolz = []",
            "[tool_overrides.pods_get]\ntitle = \"x\"",
            "[http]\nrate_limit = 1",
            "[[prompts]]\nname = \"p\"\ndescription = \"d\"\nmessages = []\nfoo = 1",
        ] {
            assert!(load(bad, &[]).is_err(), "{bad} must be refused");
        }
        let err = load("[http]\nrate_limit_rps = -1.0", &[]).unwrap_err();
        assert!(err.to_string().contains("http.rate_limit_rps"), "{err}");
    }

    #[test]
    fn keys_go_refuses_are_refused_here_too() {
        for bad in [
            "sts_client_id = \"mcp\"",
            "oauth_audience = \"aud\"",
            "server_url = \"https://mcp.example.com\"",
        ] {
            assert!(load(bad, &[]).is_err(), "{bad} must be refused");
        }
    }
}
