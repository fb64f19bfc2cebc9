//! The tool catalogue: every tool's name, schema, annotations and handler, one module per
//! toolset, and the registry that filters them by toolset, read-only and destructive flags.
//! Schemas are written out as JSON so they match the Go server's exactly (patterns, defaults,
//! no nullable types). Handlers talk to the cluster only through [`crate::cluster`] and the
//! shared dynamic-API helpers of `kube.rs`; toolset modules never import one another.

mod bounded;
mod config;
mod core;
mod exec;
#[cfg(test)]
mod golden;
mod helm;
mod kube;
mod kubevirt;
mod meta;
pub mod output;
mod pods;
mod redact;
mod resources;
mod tekton;

/// The pure checks tools make of their input before any cluster call, for the fuzz targets of
/// `server/fuzz`.
pub mod fuzzing {
    pub use super::helm::check_release;
    pub use super::resources::check_manifest;
}

use std::collections::{BTreeSet, HashMap};
use std::sync::Arc;

use futures::future::BoxFuture;
// `::kube` is the crate; plain `kube` here names the helpers module below.
use ::kube::core::GroupVersionKind;
use rmcp::model::{Tool, ToolAnnotations};
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::{Map, Value, json};

use crate::auth::{Caller, impersonate};
use crate::cluster::{Cluster, ClusterError, Target, kube_message};
use crate::config::limits::Limits;
use crate::config::toolsets::HelmSettings;
use crate::config::{Config, DeniedResource, ListOutput, Toolset};
use crate::confirm::Confirmer;
use crate::guard;

pub use bounded::cut_answer;
pub use kube::container_log;
pub use kubevirt::without_cloud_init_bodies;
pub use meta::RBAC_KEY as RBAC_META_KEY;
pub use tekton::collect_logs as tekton_logs;

/// What a tool does to the cluster, published as MCP annotations.
#[allow(
    clippy::struct_excessive_bools,
    reason = "the four MCP tool annotation hints"
)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Hints {
    pub read_only: bool,
    pub destructive: bool,
    pub idempotent: bool,
    pub open_world: bool,
}

impl Hints {
    pub const READ: Self = Self {
        read_only: true,
        destructive: false,
        idempotent: false,
        open_world: true,
    };
    pub const READ_IDEMPOTENT: Self = Self {
        idempotent: true,
        ..Self::READ
    };
    pub const WRITE: Self = Self {
        read_only: false,
        destructive: false,
        idempotent: false,
        open_world: true,
    };
    pub const DESTRUCTIVE: Self = Self {
        destructive: true,
        ..Self::WRITE
    };
    pub const DESTRUCTIVE_IDEMPOTENT: Self = Self {
        idempotent: true,
        ..Self::DESTRUCTIVE
    };
}

pub type Handler =
    for<'a> fn(&'a ToolContext, Arguments) -> BoxFuture<'a, Result<String, ToolError>>;

/// One tool: everything `tools/list` publishes plus the function that runs it.
pub struct ToolSpec {
    pub name: &'static str,
    pub toolset: Toolset,
    pub title: &'static str,
    pub description: &'static str,
    pub input_schema: Value,
    pub hints: Hints,
    /// Takes the `context` argument when several kubeconfig contexts exist.
    pub cluster_aware: bool,
    pub handler: Handler,
}

/// Why a tool call failed. The message goes back to the model as an `isError` result.
#[derive(Debug, thiserror::Error)]
pub enum ToolError {
    #[error("invalid arguments: {0}")]
    InvalidArguments(String),
    #[error(transparent)]
    Cluster(#[from] ClusterError),
    #[error("failed to {action}: {}", kube_message(.source))]
    Api {
        action: String,
        #[source]
        source: ::kube::Error,
    },
    #[error("resource {0} is not allowed by the server configuration (denied_resources)")]
    Denied(String),
    #[error("{0}")]
    Unsupported(String),
    #[error("failed to {action}: {message}")]
    Failed { action: String, message: String },
}

impl ToolError {
    /// Wraps an apiserver error with what the tool was doing.
    pub fn api(action: impl Into<String>) -> impl FnOnce(::kube::Error) -> Self {
        let action = action.into();
        move |source| Self::Api { action, source }
    }

    /// Whether the cause was the caller's input rather than the cluster.
    pub fn is_invalid_arguments(&self) -> bool {
        matches!(self, Self::InvalidArguments(_))
    }
}

/// A tool call's arguments, parsed into the tool's own type.
#[derive(Debug, Default)]
pub struct Arguments(pub Map<String, Value>);

impl Arguments {
    pub fn parse<T: DeserializeOwned>(self) -> Result<T, ToolError> {
        serde_json::from_value(Value::Object(self.0))
            .map_err(|e| ToolError::InvalidArguments(e.to_string()))
    }
}

/// What a handler may use: the cluster (for the context the call chose, as the caller when
/// there is one) and the output, redaction and deny-list settings.
pub struct ToolContext {
    pub cluster: Arc<Cluster>,
    pub context: Option<String>,
    pub list_output: ListOutput,
    pub denied: Arc<Vec<DeniedResource>>,
    /// Print Secrets with their values masked (`redact_secrets`).
    pub redact_secrets: bool,
    /// This tool's `[response_limits]`.
    pub limits: Limits,
    /// `tool_timeout_seconds`: a tool that runs a program gives it less, so it ends cleanly.
    pub tool_timeout: Option<std::time::Duration>,
    /// `[toolset_configs.helm]`.
    pub helm: Arc<HelmSettings>,
    pub caller: Option<Caller>,
    /// Asks the user where `confirmation_rules` say so.
    pub confirm: Arc<Confirmer>,
    /// `validation_enabled`: access review and strict schema check of every request.
    pub validate: bool,
    /// The target as the caller and through the kube-level confirmation rules, built once per
    /// call.
    pub acting: tokio::sync::OnceCell<Arc<Target>>,
}

impl ToolContext {
    pub async fn target(&self) -> Result<Arc<Target>, ToolError> {
        let target = self.cluster.target(self.context.as_deref()).await?;
        let guarded = self.validate || self.confirm.watches_requests();
        if self.caller.is_none() && !guarded {
            return Ok(target);
        }
        let acting = self
            .acting
            .get_or_try_init(|| async {
                let target = match &self.caller {
                    Some(caller) => impersonate::target_for(caller, &target).await?,
                    None => target,
                };
                Ok::<_, ClusterError>(if guarded {
                    let client = guard::client(&target.client, self.confirm.clone(), self.validate);
                    Arc::new(target.through(client))
                } else {
                    target
                })
            })
            .await?;
        Ok(acting.clone())
    }

    /// An object of `kind` (for list items, which carry none) as tools print it: without
    /// `managedFields`, and with its values masked if it is a Secret and redaction is on.
    pub fn printable(&self, object: &impl Serialize, kind: &str) -> Value {
        self.printable_json(serde_json::to_value(object).unwrap_or_default(), kind)
    }

    /// [`Self::printable`] of an object read as JSON, without copying it.
    pub fn printable_json(&self, object: Value, kind: &str) -> Value {
        let mut value = output::tidy(object);
        if self.redact_secrets {
            redact::secrets(&mut value, kind);
        }
        value
    }

    /// Refuses kinds listed in `denied_resources`.
    pub fn check_allowed(&self, gvk: &GroupVersionKind) -> Result<(), ToolError> {
        self.confirm
            .note_kind(gvk, &::kube::discovery::ApiResource::from_gvk(gvk).plural);
        if self
            .denied
            .iter()
            .any(|d| d.matches(&gvk.group, &gvk.version, &gvk.kind))
        {
            let gv = if gvk.group.is_empty() {
                gvk.version.clone()
            } else {
                format!("{}/{}", gvk.group, gvk.version)
            };
            return Err(ToolError::Denied(format!("{gv}, Kind={}", gvk.kind)));
        }
        Ok(())
    }
}

/// Every tool this server knows, in the order `tools/list` shows them.
fn catalogue() -> Vec<ToolSpec> {
    let mut all = Vec::new();
    all.extend(config::tools());
    all.extend(core::tools());
    all.extend(pods::tools());
    all.push(exec::tool());
    all.extend(resources::tools());
    all.extend(helm::tools());
    all.extend(tekton::tools());
    all.extend(kubevirt::tools());
    all.sort_by_key(|t| t.name);
    all
}

/// The tools this server instance exposes, after every filter.
pub struct Registry {
    specs: HashMap<&'static str, ToolSpec>,
    listed: Arc<Vec<Tool>>,
}

impl Registry {
    /// Applies `toolsets`, `enabled_tools`/`disabled_tools`, `read_only`, `disable_destructive`,
    /// `tool_overrides` and the multi-cluster rule
    /// (a `context` argument and a contexts tool when the kubeconfig has several contexts).
    pub fn new(config: &Config, contexts: &[String], default_context: Option<&str>) -> Self {
        let multi_cluster = contexts.len() > 1 && !config.disable_multi_cluster;
        let selected: Vec<ToolSpec> = catalogue()
            .into_iter()
            .chain(multi_cluster.then(config::contexts_list_tool))
            .filter(|t| config.go.tool_allowed(t.name))
            .filter(|t| {
                included(
                    t,
                    &config.toolsets,
                    config.read_only,
                    config.disable_destructive,
                )
            })
            .map(|mut t| {
                if multi_cluster && t.cluster_aware {
                    add_context_property(&mut t.input_schema, default_context.unwrap_or(""));
                }
                t
            })
            .collect();
        let known: BTreeSet<&str> = catalogue().iter().map(|t| t.name).collect();
        for tool in config.response_limits.tools() {
            if !known.contains(tool) {
                // A misspelt override would silently leave the defaults in force.
                tracing::warn!(
                    tool,
                    "[response_limits.{tool}] names no tool of this server"
                );
            }
        }
        let mut listed: Vec<Tool> = selected
            .iter()
            .map(|spec| {
                let mut tool = to_mcp_tool(spec);
                if let Some(description) = config.go.description_of(spec.name) {
                    tool.description = Some(description.to_owned().into());
                }
                tool
            })
            .collect();
        listed.sort_by(|a, b| a.name.cmp(&b.name));
        Self {
            specs: selected.into_iter().map(|t| (t.name, t)).collect(),
            listed: Arc::new(listed),
        }
    }

    pub fn get(&self, name: &str) -> Option<&ToolSpec> {
        self.specs.get(name)
    }

    pub fn list(&self) -> Arc<Vec<Tool>> {
        self.listed.clone()
    }
}

fn included(
    tool: &ToolSpec,
    toolsets: &BTreeSet<Toolset>,
    read_only: bool,
    disable_destructive: bool,
) -> bool {
    toolsets.contains(&tool.toolset)
        && (!read_only || tool.hints.read_only)
        && (!disable_destructive || !tool.hints.destructive)
}

fn add_context_property(schema: &mut Value, default_context: &str) {
    if let Some(properties) = schema
        .as_object_mut()
        .map(|s| s.entry("properties").or_insert_with(|| json!({})))
        .and_then(Value::as_object_mut)
    {
        properties.insert(
            "context".into(),
            json!({
                "type": "string",
                "description": format!(
                    "Optional kubeconfig context to run the tool in. Defaults to {default_context} if not set"
                ),
            }),
        );
    }
}

fn to_mcp_tool(spec: &ToolSpec) -> Tool {
    let schema = match &spec.input_schema {
        Value::Object(map) => map.clone(),
        _ => Map::new(),
    };
    let mut annotations = ToolAnnotations::with_title(spec.title)
        .read_only(spec.hints.read_only)
        .destructive(spec.hints.destructive)
        .idempotent(spec.hints.idempotent)
        .open_world(spec.hints.open_world);
    annotations.title = Some(spec.title.to_owned());
    let mut tool = Tool::new(spec.name, spec.description, Arc::new(schema));
    tool.title = Some(spec.title.to_owned());
    tool.annotations = Some(annotations);
    tool.meta = meta::of(spec.name);
    tool
}

/// Schema of an object with the given properties and required names.
pub fn object_schema(properties: &Value, required: &[&str]) -> Value {
    let mut schema = json!({ "type": "object", "properties": properties });
    if !required.is_empty() {
        schema["required"] = json!(required);
    }
    schema
}

/// The Go server's patterns, so clients validate selectors the same way.
pub const FIELD_SELECTOR_PATTERN: &str = r"^[.\-A-Za-z0-9]+([=!,]{1,2}[./\-A-Za-z0-9]+)+$";
pub const LABEL_SELECTOR_PATTERN: &str = r"^([/_.\-A-Za-z0-9=, ()!])+$";

pub fn field_selector_property(what: &str) -> Value {
    json!({
        "type": "string",
        "description": format!("Optional Kubernetes field selector for {what} (e.g. 'metadata.name=web', 'status.phase=Running')"),
        "pattern": FIELD_SELECTOR_PATTERN,
    })
}

/// The `continue` argument of every list tool: where a list cut at `max_list_page_size`
/// resumes.
pub fn continue_property() -> Value {
    json!({
        "type": "string",
        "description": "The continue token a truncated list gave, to read its next page (with the same other arguments)",
    })
}

pub fn label_selector_property(what: &str) -> Value {
    json!({
        "type": "string",
        "description": format!("Optional Kubernetes label selector for {what} (e.g. 'app=web,tier!=cache')"),
        "pattern": LABEL_SELECTOR_PATTERN,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Flags;

    fn names(registry: &Registry) -> Vec<String> {
        registry.list().iter().map(|t| t.name.to_string()).collect()
    }

    #[test]
    fn default_toolsets_give_the_go_servers_twenty_tools() {
        let config = Config::from_toml("", Flags::default()).unwrap();
        let registry = Registry::new(&config, &[], None);
        assert_eq!(names(&registry).len(), 20, "{:?}", names(&registry));
    }

    #[test]
    fn read_only_keeps_only_read_only_tools() {
        let config = Config::from_toml("read_only = true", Flags::default()).unwrap();
        let registry = Registry::new(&config, &[], None);
        assert_eq!(names(&registry).len(), 14, "{:?}", names(&registry));
        assert!(
            registry
                .list()
                .iter()
                .all(|t| t.annotations.as_ref().and_then(|a| a.read_only_hint) == Some(true))
        );
        assert!(registry.get("pods_delete").is_none());
    }

    #[test]
    fn disable_destructive_drops_destructive_tools_only() {
        let config = Config::from_toml("disable_destructive = true", Flags::default()).unwrap();
        let registry = Registry::new(&config, &[], None);
        assert!(registry.get("pods_delete").is_none());
        assert!(registry.get("resources_create_or_update").is_none());
        assert!(
            registry.get("pods_run").is_some(),
            "pods_run is not destructive"
        );
    }

    #[test]
    fn several_contexts_add_a_context_argument_and_the_contexts_tool() {
        let config = Config::from_toml("", Flags::default()).unwrap();
        let contexts = vec!["a".to_owned(), "b".to_owned()];
        let registry = Registry::new(&config, &contexts, Some("a"));
        assert!(registry.get("configuration_contexts_list").is_some());
        let pods_get = registry.get("pods_get").unwrap();
        assert!(pods_get.input_schema["properties"]["context"].is_object());
        let view = registry.get("configuration_view").unwrap();
        assert!(view.input_schema["properties"].get("context").is_none());

        let config = Config::from_toml("disable_multi_cluster = true", Flags::default()).unwrap();
        let registry = Registry::new(&config, &contexts, Some("a"));
        assert!(registry.get("configuration_contexts_list").is_none());
    }

    #[test]
    fn tools_list_is_stable() {
        let config = Config::from_toml(
            "toolsets = [\"core\", \"config\", \"helm\"]",
            Flags::default(),
        )
        .unwrap();
        let registry = Registry::new(&config, &[], None);
        let summary: Vec<Value> = registry
            .list()
            .iter()
            .map(|t| json!({ "name": t.name, "inputSchema": t.input_schema, "annotations": t.annotations }))
            .collect();
        insta::assert_json_snapshot!(summary);
    }
}
