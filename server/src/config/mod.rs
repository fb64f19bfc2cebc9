//! Server configuration: the TOML file (`--config`), its drop-in directory (`--config-dir`,
//! files merged in lexical order) and the command-line flags, flags winning. Pure apart from
//! reading the files; every problem is a [`ConfigError`] naming the file and key.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use kubernetes_mcp_otel::TelemetryConfig;
use serde::Deserialize;

pub mod auth;
pub mod compat;
pub mod confirm;
pub mod limits;
pub mod tls;
pub mod toolsets;

use auth::{AuthInput, AuthSettings, AuthorizationConfig, ClusterAuthMode, OneOrMany};
use compat::{GoFlags, GoSettings};
use limits::{LimitFlags, ResponseLimits, ResponseLimitsFile};

/// The default bound on one tool call: a hung apiserver or kubelet stream must not hold a call,
/// its HTTP request and its span forever.
const DEFAULT_TOOL_TIMEOUT_SECONDS: u64 = 60;
/// rmcp's own default: a client that vanished without its DELETE holds its session this long.
const DEFAULT_SESSION_IDLE_TIMEOUT_SECONDS: u64 = 300;

/// A duration key in seconds: its value or `default`; 0 means none.
fn seconds(value: Option<u64>, default: u64) -> Option<std::time::Duration> {
    match value.unwrap_or(default) {
        0 => None,
        seconds => Some(std::time::Duration::from_secs(seconds)),
    }
}

/// A named group of tools, selected with `--toolsets`: the Go server's names, of which this
/// server serves config, core, helm, kubevirt and tekton.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Toolset {
    /// Kubeconfig inspection.
    Config,
    /// Pods, namespaces, events, nodes and any resource.
    Core,
    /// Helm releases.
    Helm,
    /// KubeVirt VirtualMachines.
    Kubevirt,
    /// Tekton Pipelines and Tasks.
    Tekton,
    /// A Go server toolset this server does not serve: refused at start-up with a clear error.
    Unsupported(&'static str),
}

/// Every toolset name the Go server v0.0.67 accepts, in its order.
const TOOLSET_NAMES: [&str; 8] = [
    "config",
    "core",
    "helm",
    "kcp",
    "kiali",
    "kubevirt",
    "netobserv",
    "tekton",
];

impl std::str::FromStr for Toolset {
    type Err = String;

    /// Go's names; an unknown one gets the Go server's own message.
    fn from_str(name: &str) -> Result<Self, String> {
        match name.trim() {
            "config" => Ok(Self::Config),
            "core" => Ok(Self::Core),
            "helm" => Ok(Self::Helm),
            "kubevirt" => Ok(Self::Kubevirt),
            "tekton" => Ok(Self::Tekton),
            other => TOOLSET_NAMES
                .iter()
                .find(|n| **n == other)
                .map(|n| Self::Unsupported(n))
                .ok_or_else(|| {
                    format!(
                        "invalid toolset name: {other}, valid names are: {}",
                        TOOLSET_NAMES.join(", ")
                    )
                }),
        }
    }
}

impl<'de> Deserialize<'de> for Toolset {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        String::deserialize(deserializer)?
            .parse()
            .map_err(serde::de::Error::custom)
    }
}

/// A Kubernetes kind that no tool may touch (`kind` empty: the whole group/version).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, serde::Serialize)]
#[serde(deny_unknown_fields)]
pub struct DeniedResource {
    #[serde(default)]
    pub group: String,
    pub version: String,
    #[serde(default)]
    pub kind: String,
}

impl DeniedResource {
    /// Whether this entry denies the given group/version/kind.
    pub fn matches(&self, group: &str, version: &str, kind: &str) -> bool {
        self.group == group
            && self.version == version
            && (self.kind.is_empty() || self.kind == kind)
    }
}

/// How list tools print their results.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum ListOutput {
    /// Server-side printed table, like `kubectl get -o wide --show-labels`.
    #[default]
    Table,
    /// The full objects as YAML.
    Yaml,
}

/// Where the server gets its cluster credentials (`--cluster-provider`, Go's values).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "kebab-case")]
#[value(rename_all = "kebab-case")]
pub enum ClusterProvider {
    /// Kubeconfig if one is found, else the pod's in-cluster credentials.
    #[default]
    Auto,
    /// Only the kubeconfig (`--kubeconfig`, `KUBECONFIG`, `~/.kube/config`).
    Kubeconfig,
    /// Only the pod's service account.
    InCluster,
    /// As in the Go server: one cluster (the kubeconfig's current context, else in-cluster),
    /// no `context` argument and no contexts tool.
    Disabled,
    /// kcp workspaces: not supported by this server, refused at start-up.
    Kcp,
    /// No cluster at all: tools that need one answer with an error (tests only).
    #[value(skip)]
    #[serde(skip)]
    None,
}

/// `port` may be written as a number or, as the Go server writes it, a string.
#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
enum PortValue {
    Number(u16),
    Text(String),
}

/// The TOML file, exactly as written: every key optional, unknown keys rejected.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileConfig {
    port: Option<PortValue>,
    bind_address: Option<String>,
    metrics_port: Option<u16>,
    log_level: Option<u8>,
    log_file: Option<PathBuf>,
    kubeconfig: Option<PathBuf>,
    cluster_provider_strategy: Option<ClusterProvider>,
    list_output: Option<ListOutput>,
    read_only: Option<bool>,
    disable_destructive: Option<bool>,
    disable_multi_cluster: Option<bool>,
    stateless: Option<bool>,
    toolsets: Option<Vec<Toolset>>,
    denied_resources: Option<Vec<DeniedResource>>,
    redact_secrets: Option<bool>,
    tool_timeout_seconds: Option<u64>,
    session_idle_timeout_seconds: Option<u64>,
    response_limits: Option<ResponseLimitsFile>,
    tls_cert: Option<PathBuf>,
    tls_key: Option<PathBuf>,
    require_tls: Option<bool>,
    allowed_hosts: Option<Vec<String>>,
    max_body_bytes: Option<usize>,
    telemetry: Option<TelemetryConfig>,
    require_oauth: Option<bool>,
    oauth_audience: Option<String>,
    authorization_url: Option<OneOrMany>,
    server_url: Option<String>,
    cluster_auth_mode: Option<ClusterAuthMode>,
    authorization: Option<AuthorizationConfig>,
    audit_log: Option<PathBuf>,
}

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("reading config {path}: {source}")]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("config {path}: {source}")]
    Parse {
        path: PathBuf,
        #[source]
        source: Box<toml::de::Error>,
    },
    #[error("invalid {key}: {message}")]
    Invalid { key: &'static str, message: String },
}

/// The command-line flags, the same as the Go server's.
#[allow(
    clippy::struct_excessive_bools,
    reason = "one bool per on/off flag of the Go CLI"
)]
#[derive(Debug, Clone, Default, clap::Args)]
pub struct Flags {
    /// Start the streamable HTTP (/mcp) and SSE (/sse, /message) server on this port; without
    /// it the server speaks MCP over stdio.
    #[arg(long)]
    pub port: Option<u16>,
    /// Address to bind the HTTP server to.
    #[arg(long)]
    pub bind_address: Option<String>,
    /// Serve /metrics, /stats and /healthz on a separate port (only with --port).
    #[arg(long)]
    pub metrics_port: Option<u16>,
    /// TOML configuration file.
    #[arg(long)]
    pub config: Option<PathBuf>,
    /// Directory of TOML drop-ins merged over --config in lexical order.
    #[arg(long)]
    pub config_dir: Option<PathBuf>,
    /// Log verbosity 0-9 (2 and up also logs telemetry set-up).
    #[arg(long, short = 'v', value_parser = clap::value_parser!(u8).range(0..=9))]
    pub log_level: Option<u8>,
    /// Write logs to this file instead of stderr.
    #[arg(long)]
    pub log_file: Option<PathBuf>,
    /// Kubeconfig file (default: KUBECONFIG, then ~/.kube/config, then in-cluster).
    #[arg(long)]
    pub kubeconfig: Option<PathBuf>,
    /// Where cluster credentials come from.
    #[arg(long, value_enum)]
    pub cluster_provider: Option<ClusterProvider>,
    /// Output of list tools.
    #[arg(long, value_enum)]
    pub list_output: Option<ListOutput>,
    /// Register only read-only tools.
    #[arg(long, num_args = 0..=1, require_equals = true, default_missing_value = "true")]
    pub read_only: Option<bool>,
    /// Do not register destructive tools (delete, update, exec).
    #[arg(long, num_args = 0..=1, require_equals = true, default_missing_value = "true")]
    pub disable_destructive: Option<bool>,
    /// Ignore other kubeconfig contexts: no `context` argument, no contexts tool.
    #[arg(long, num_args = 0..=1, require_equals = true, default_missing_value = "true")]
    pub disable_multi_cluster: Option<bool>,
    /// Streamable HTTP without sessions, so that several replicas can serve one Service.
    #[arg(long, num_args = 0..=1, require_equals = true, default_missing_value = "true")]
    pub stateless: Option<bool>,
    /// Toolsets to register, comma separated (config, core, helm, kubevirt, tekton; the Go
    /// server's kcp, kiali and netobserv are refused as not supported).
    #[arg(long, value_delimiter = ',', value_parser = clap::builder::ValueParser::new(|s: &str| s.parse::<Toolset>()))]
    pub toolsets: Option<Vec<Toolset>>,
    /// TLS certificate (PEM) for the HTTP server.
    #[arg(long)]
    pub tls_cert: Option<PathBuf>,
    /// TLS private key (PEM) for the HTTP server.
    #[arg(long)]
    pub tls_key: Option<PathBuf>,
    /// Refuse to start the HTTP server without TLS.
    #[arg(long, num_args = 0..=1, require_equals = true, default_missing_value = "true")]
    pub require_tls: Option<bool>,
    /// Host headers accepted on /mcp besides loopback (DNS-rebinding guard); `*` accepts any.
    #[arg(long, value_delimiter = ',')]
    pub allowed_hosts: Option<Vec<String>>,
    /// Require `Authorization: Bearer` on /mcp, /sse and /message, checked with a TokenReview.
    #[arg(long, num_args = 0..=1, require_equals = true, default_missing_value = "true")]
    pub require_oauth: Option<bool>,
    /// The audience tokens must be issued for (with --require-oauth).
    #[arg(long)]
    pub oauth_audience: Option<String>,
    /// Authorization server(s) named in /.well-known/oauth-protected-resource, comma separated.
    #[arg(long, value_delimiter = ',')]
    pub authorization_url: Option<Vec<String>>,
    /// The server's public base URL (default: the request's scheme and Host).
    #[arg(long)]
    pub server_url: Option<String>,
    /// As whom tool calls reach the apiserver (passthrough and impersonate need --require-oauth).
    #[arg(long, value_enum)]
    pub cluster_auth_mode: Option<ClusterAuthMode>,
    /// Append the audit trail (one JSON line per tool call) to this file instead of stderr.
    #[arg(long)]
    pub audit_log: Option<PathBuf>,
    #[command(flatten)]
    pub go: GoFlags,
    #[command(flatten)]
    pub limits: LimitFlags,
}

/// The configuration the server runs with, every default applied.
#[allow(clippy::struct_excessive_bools, reason = "independent on/off settings")]
#[derive(Debug, Clone)]
pub struct Config {
    pub port: Option<u16>,
    pub bind_address: String,
    pub metrics_port: Option<u16>,
    pub log_level: u8,
    pub log_file: Option<PathBuf>,
    pub kubeconfig: Option<PathBuf>,
    pub cluster_provider: ClusterProvider,
    pub list_output: ListOutput,
    pub read_only: bool,
    pub disable_destructive: bool,
    pub disable_multi_cluster: bool,
    pub stateless: bool,
    pub toolsets: BTreeSet<Toolset>,
    pub denied_resources: Vec<DeniedResource>,
    /// Mask the values of Secrets in every tool answer (TOML only, default on).
    pub redact_secrets: bool,
    /// How long one tool call may take before it is stopped with a tool error
    /// (`tool_timeout_seconds`, TOML only; default 60, 0 for no limit).
    pub tool_timeout: Option<std::time::Duration>,
    /// How long a streamable HTTP session may go without a message before it is closed
    /// (`session_idle_timeout_seconds`, TOML only; default 300, 0 for never): a client gone
    /// without its DELETE leaves no session behind for longer.
    pub session_idle_timeout: Option<std::time::Duration>,
    /// How large answers, list pages and log tails may be (`[response_limits]`).
    pub response_limits: ResponseLimits,
    pub tls: Option<TlsFiles>,
    pub require_tls: bool,
    pub allowed_hosts: Vec<String>,
    pub max_body_bytes: usize,
    pub telemetry: TelemetryConfig,
    /// `None`: the HTTP endpoints are open to anyone who reaches them.
    pub auth: Option<AuthSettings>,
    pub audit_log: Option<PathBuf>,
    /// The Go server's keys beyond the core ones (tool filters, prompts, rate limit...).
    pub go: GoSettings,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TlsFiles {
    pub cert: PathBuf,
    pub key: PathBuf,
}

/// 4 MiB: larger than any manifest a model sends, small enough that a flood cannot exhaust memory.
pub const DEFAULT_MAX_BODY_BYTES: usize = 4 * 1024 * 1024;

impl Config {
    /// Reads `--config` and `--config-dir`, then applies the flags over them.
    pub fn load(flags: Flags) -> Result<Self, ConfigError> {
        let mut merged = toml::Table::new();
        if let Some(path) = &flags.config {
            merge(&mut merged, read_table(path)?);
        }
        if let Some(dir) = &flags.config_dir {
            for path in drop_ins(dir)? {
                merge(&mut merged, read_table(&path)?);
            }
        }
        let origin = flags
            .config
            .clone()
            .or_else(|| flags.config_dir.clone())
            .unwrap_or_default();
        let parse = |source: toml::de::Error| ConfigError::Parse {
            path: origin.clone(),
            source: Box::new(source),
        };
        let go = compat::split(&mut merged).map_err(parse)?;
        let file: FileConfig = merged.try_into().map_err(parse)?;
        Self::resolve(file, go, flags)
    }

    /// Parses one TOML document (for tests and tools that hold the text).
    pub fn from_toml(text: &str, flags: Flags) -> Result<Self, ConfigError> {
        let parse = |source: toml::de::Error| ConfigError::Parse {
            path: PathBuf::from("<inline>"),
            source: Box::new(source),
        };
        let mut table: toml::Table = toml::from_str(text).map_err(parse)?;
        let go = compat::split(&mut table).map_err(parse)?;
        let file: FileConfig = table.try_into().map_err(parse)?;
        Self::resolve(file, go, flags)
    }

    fn resolve(file: FileConfig, go: compat::GoKeys, flags: Flags) -> Result<Self, ConfigError> {
        let go = compat::resolve(go, &flags.go)?;
        // A flag given (`--read-only`, `--read-only=false`) wins over the file.
        let on = |flag: Option<bool>, key: Option<bool>| flag.or(key).unwrap_or(false);
        let port = resolve_port(flags.port, file.port)?;
        let tls = resolve_tls(
            flags.tls_cert.or(file.tls_cert),
            flags.tls_key.or(file.tls_key),
        )?;
        let require_tls = on(flags.require_tls, file.require_tls);
        if require_tls && port.is_some() && tls.is_none() {
            return Err(ConfigError::Invalid {
                key: "require_tls",
                message: "the HTTP server needs tls_cert and tls_key".into(),
            });
        }
        let toolsets: BTreeSet<Toolset> = flags
            .toolsets
            .or(file.toolsets)
            .unwrap_or_else(|| vec![Toolset::Core, Toolset::Config])
            .into_iter()
            .collect();
        compat::check_toolsets(&toolsets)?;
        let cluster_provider = compat::check_provider(
            flags
                .cluster_provider
                .or(file.cluster_provider_strategy)
                .unwrap_or_default(),
        )?;
        let auth = auth::resolve(AuthInput {
            require_oauth: on(flags.require_oauth, file.require_oauth),
            oauth_audience: flags.oauth_audience.or(file.oauth_audience),
            authorization_url: flags
                .authorization_url
                .map(OneOrMany::Many)
                .or(file.authorization_url),
            server_url: flags.server_url.or(file.server_url),
            cluster_auth_mode: flags.cluster_auth_mode.or(file.cluster_auth_mode),
            authorization: file.authorization,
            http: port.is_some(),
        })?;
        Ok(Self {
            port,
            bind_address: flags
                .bind_address
                .or(file.bind_address)
                .unwrap_or_else(|| "0.0.0.0".into()),
            metrics_port: flags.metrics_port.or(file.metrics_port),
            log_level: flags.log_level.or(file.log_level).unwrap_or(0),
            log_file: flags.log_file.or(file.log_file),
            kubeconfig: flags.kubeconfig.or(file.kubeconfig),
            cluster_provider,
            list_output: flags.list_output.or(file.list_output).unwrap_or_default(),
            read_only: on(flags.read_only, file.read_only),
            disable_destructive: on(flags.disable_destructive, file.disable_destructive),
            // Go's `disabled` provider is its single-cluster strategy.
            disable_multi_cluster: cluster_provider == ClusterProvider::Disabled
                || on(flags.disable_multi_cluster, file.disable_multi_cluster),
            stateless: on(flags.stateless, file.stateless),
            toolsets,
            denied_resources: file.denied_resources.unwrap_or_default(),
            redact_secrets: file.redact_secrets.unwrap_or(true),
            tool_timeout: seconds(file.tool_timeout_seconds, DEFAULT_TOOL_TIMEOUT_SECONDS),
            session_idle_timeout: seconds(
                file.session_idle_timeout_seconds,
                DEFAULT_SESSION_IDLE_TIMEOUT_SECONDS,
            ),
            response_limits: ResponseLimits::resolve(
                file.response_limits.unwrap_or_default(),
                &flags.limits,
            ),
            tls,
            require_tls,
            allowed_hosts: flags
                .allowed_hosts
                .or(file.allowed_hosts)
                .unwrap_or_default(),
            max_body_bytes: file
                .max_body_bytes
                .or(go.max_body_bytes)
                .unwrap_or(DEFAULT_MAX_BODY_BYTES),
            telemetry: file.telemetry.unwrap_or_default(),
            auth,
            audit_log: flags.audit_log.or(file.audit_log),
            go,
        })
    }
}

/// The HTTP port: a flag wins; the file may give a number, a numeric string, or "" for none.
fn resolve_port(flag: Option<u16>, file: Option<PortValue>) -> Result<Option<u16>, ConfigError> {
    match (flag, file) {
        (Some(p), _) | (None, Some(PortValue::Number(p))) => Ok(Some(p)),
        (None, Some(PortValue::Text(t))) if t.is_empty() => Ok(None),
        (None, Some(PortValue::Text(t))) => t.parse().map(Some).map_err(|_| ConfigError::Invalid {
            key: "port",
            message: format!("{t:?} is not a port number"),
        }),
        (None, None) => Ok(None),
    }
}

/// TLS for the HTTP server: both files or neither.
fn resolve_tls(
    cert: Option<PathBuf>,
    key: Option<PathBuf>,
) -> Result<Option<TlsFiles>, ConfigError> {
    match (cert, key) {
        (Some(cert), Some(key)) => Ok(Some(TlsFiles { cert, key })),
        (None, None) => Ok(None),
        _ => Err(ConfigError::Invalid {
            key: "tls_cert/tls_key",
            message: "both must be given, or neither".into(),
        }),
    }
}

fn read_table(path: &Path) -> Result<toml::Table, ConfigError> {
    let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
        path: path.to_owned(),
        source,
    })?;
    let table: toml::Table = toml::from_str(&text).map_err(|source| ConfigError::Parse {
        path: path.to_owned(),
        source: Box::new(source),
    })?;
    // Check each file on its own, so an unknown key is reported with the file that has it.
    let parse = |source: toml::de::Error| ConfigError::Parse {
        path: path.to_owned(),
        source: Box::new(source),
    };
    let mut checked = table.clone();
    compat::split(&mut checked).map_err(parse)?;
    let _: FileConfig = checked.try_into().map_err(parse)?;
    Ok(table)
}

fn drop_ins(dir: &Path) -> Result<Vec<PathBuf>, ConfigError> {
    let entries = std::fs::read_dir(dir).map_err(|source| ConfigError::Read {
        path: dir.to_owned(),
        source,
    })?;
    let mut files: Vec<PathBuf> = entries
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|e| e == "toml"))
        .collect();
    files.sort();
    Ok(files)
}

/// Deep merge: tables merge key by key, anything else is replaced by `over`.
fn merge(base: &mut toml::Table, over: toml::Table) {
    for (key, value) in over {
        match (base.get_mut(&key), value) {
            (Some(toml::Value::Table(b)), toml::Value::Table(o)) => merge(b, o),
            (_, value) => {
                base.insert(key, value);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_match_the_go_server() {
        let c = Config::from_toml("", Flags::default()).unwrap();
        assert_eq!(c.port, None);
        assert_eq!(c.list_output, ListOutput::Table);
        assert_eq!(c.toolsets, BTreeSet::from([Toolset::Core, Toolset::Config]));
        assert!(!c.read_only && !c.stateless);
    }

    #[test]
    fn tool_calls_time_out_after_a_minute_unless_the_file_says_otherwise() {
        let limit = |toml| {
            Config::from_toml(toml, Flags::default())
                .unwrap()
                .tool_timeout
        };
        assert_eq!(limit(""), Some(std::time::Duration::from_secs(60)));
        assert_eq!(
            limit("tool_timeout_seconds = 5"),
            Some(std::time::Duration::from_secs(5))
        );
        assert_eq!(limit("tool_timeout_seconds = 0"), None);
    }

    #[test]
    fn secrets_are_redacted_unless_the_file_says_otherwise() {
        assert!(
            Config::from_toml("", Flags::default())
                .unwrap()
                .redact_secrets
        );
        let c = Config::from_toml("redact_secrets = false", Flags::default()).unwrap();
        assert!(!c.redact_secrets);
    }

    #[test]
    fn flags_override_the_file() {
        let flags = Flags {
            port: Some(9000),
            list_output: Some(ListOutput::Yaml),
            toolsets: Some(vec![Toolset::Helm]),
            ..Flags::default()
        };
        let c = Config::from_toml(
            "port = \"8080\"\nlist_output = \"table\"\ntoolsets = [\"core\"]\nread_only = true",
            flags,
        )
        .unwrap();
        assert_eq!(c.port, Some(9000));
        assert_eq!(c.list_output, ListOutput::Yaml);
        assert_eq!(c.toolsets, BTreeSet::from([Toolset::Helm]));
        assert!(c.read_only, "a flag left unset keeps the file's value");
    }

    #[test]
    fn port_as_go_string_or_number() {
        assert_eq!(
            Config::from_toml("port = \"8080\"", Flags::default())
                .unwrap()
                .port,
            Some(8080)
        );
        assert_eq!(
            Config::from_toml("port = 8081", Flags::default())
                .unwrap()
                .port,
            Some(8081)
        );
        let err = Config::from_toml("port = \"http\"", Flags::default()).unwrap_err();
        assert!(err.to_string().contains("invalid port"), "{err}");
    }

    #[test]
    fn unknown_key_is_an_error_naming_it() {
        let err = Config::from_toml("read_onyl = true", Flags::default()).unwrap_err();
        assert!(err.to_string().contains("read_onyl"), "{err}");
        let err = Config::from_toml("[telemetry]\nendpont = \"x\"", Flags::default()).unwrap_err();
        assert!(err.to_string().contains("endpont"), "{err}");
    }

    #[test]
    fn denied_resources_and_telemetry_parse() {
        let c = Config::from_toml(
            r#"
            denied_resources = [{group = "", version = "v1", kind = "Secret"}, {group = "rbac.authorization.k8s.io", version = "v1"}]
            [telemetry]
            endpoint = "http://collector:4317"
            traces_sampler = "traceidratio"
            traces_sampler_arg = 0.5
            "#,
            Flags::default(),
        )
        .unwrap();
        assert!(c.denied_resources[0].matches("", "v1", "Secret"));
        assert!(!c.denied_resources[0].matches("", "v1", "ConfigMap"));
        assert!(c.denied_resources[1].matches("rbac.authorization.k8s.io", "v1", "Role"));
        assert_eq!(
            c.telemetry.endpoint.as_deref(),
            Some("http://collector:4317")
        );
    }

    #[test]
    fn tls_needs_both_files_and_require_tls_needs_tls() {
        let err = Config::from_toml("tls_cert = \"a.pem\"", Flags::default()).unwrap_err();
        assert!(err.to_string().contains("tls_cert/tls_key"), "{err}");
        let err =
            Config::from_toml("port = 8080\nrequire_tls = true", Flags::default()).unwrap_err();
        assert!(err.to_string().contains("require_tls"), "{err}");
    }

    #[test]
    fn auth_keys_parse_and_bad_ones_are_named() {
        let c = Config::from_toml(
            r#"
            port = 8080
            require_oauth = true
            oauth_audience = "kubernetes-mcp.io/team/srv"
            authorization_url = "https://issuer.example.com"
            cluster_auth_mode = "impersonate"
            audit_log = "/tmp/audit.jsonl"
            [authorization]
            resource_name = "srv"
            resource_namespace = "team"
            "#,
            Flags::default(),
        )
        .unwrap();
        let auth = c.auth.unwrap();
        assert_eq!(auth.mode, ClusterAuthMode::Impersonate);
        assert_eq!(auth.access.unwrap().verb, "use");
        assert_eq!(c.audit_log, Some(PathBuf::from("/tmp/audit.jsonl")));
        assert!(
            Config::from_toml("", Flags::default())
                .unwrap()
                .auth
                .is_none()
        );
        let err =
            Config::from_toml("port = 1\nrequire_oauth = true", Flags::default()).unwrap_err();
        assert!(err.to_string().contains("oauth_audience"), "{err}");
        let err = Config::from_toml("cluster_auth_mode = \"sudo\"", Flags::default()).unwrap_err();
        assert!(
            err.to_string().contains("sudo") && err.to_string().contains("impersonate"),
            "{err}"
        );
        let err =
            Config::from_toml("cluster_auth_mode = \"passthrough\"", Flags::default()).unwrap_err();
        assert!(err.to_string().contains("require_oauth"), "{err}");
    }

    #[test]
    fn drop_ins_merge_in_lexical_order_and_name_the_bad_file() {
        let dir = std::env::temp_dir().join(format!("kmcp-config-{}", std::process::id()));
        std::fs::create_dir_all(dir.join("d")).unwrap();
        std::fs::write(
            dir.join("main.toml"),
            "list_output = \"yaml\"\nread_only = true",
        )
        .unwrap();
        std::fs::write(dir.join("d/10-a.toml"), "list_output = \"table\"").unwrap();
        std::fs::write(
            dir.join("d/20-b.toml"),
            "[telemetry]\nendpoint = \"http://x:4317\"",
        )
        .unwrap();
        let flags = Flags {
            config: Some(dir.join("main.toml")),
            config_dir: Some(dir.join("d")),
            ..Flags::default()
        };
        let c = Config::load(flags).unwrap();
        assert_eq!(c.list_output, ListOutput::Table);
        assert!(c.read_only);
        assert_eq!(c.telemetry.endpoint.as_deref(), Some("http://x:4317"));

        std::fs::write(dir.join("d/30-bad.toml"), "colour = 1").unwrap();
        let flags = Flags {
            config_dir: Some(dir.join("d")),
            ..Flags::default()
        };
        let err = Config::load(flags).unwrap_err().to_string();
        assert!(
            err.contains("30-bad.toml") && err.contains("colour"),
            "{err}"
        );
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
