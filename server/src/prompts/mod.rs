//! MCP prompts: the Go server's built-in ones for the toolsets this server serves
//! (`cluster-health-check` with core, `pipeline-troubleshoot` with tekton, `hco-status`,
//! `vm-troubleshoot` and `windows-golden-image` with kubevirt) and the
//! `[[prompts]]` templates of the config, which replace a built-in prompt of the same name.
//! `prompts/list` is pure; `prompts/get` of a built-in prompt gathers its data from the cluster
//! (`health.rs`, `pipeline.rs`, `hco.rs`, `vm.rs`); `windows-golden-image` asks the user
//! (`windows.rs`).

mod hco;
mod health;
mod pipeline;
mod vm;
mod windows;

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::Event;
use kube::api::{Api, DynamicObject, ListParams};
use kube::core::GroupVersionKind;
use kube::discovery::ApiResource;
use rmcp::model::{GetPromptResult, MetaObject, Prompt, PromptArgument, PromptMessage, Role};
use serde_json::{Map, Value, json};

use crate::config::compat::{PromptConfig, PromptRole};
use crate::config::{Config, Toolset};
use crate::tools::ToolContext;
use crate::tools::output::yaml;

/// Why `prompts/get` failed; the message becomes a JSON-RPC invalid-params error.
#[derive(Debug, thiserror::Error)]
pub enum PromptError {
    #[error("prompt not found: {0}")]
    Unknown(String),
    #[error("required argument '{0}' is missing")]
    MissingArgument(String),
    /// A built-in prompt's required argument is missing (Go's words for those).
    #[error("{0} argument is required")]
    ArgumentRequired(String),
    /// What the prompt is about is not in the cluster (the message says what).
    #[error("{0}")]
    Unavailable(String),
    /// An argument's value is refused, or the user could not be asked (the message says why).
    #[error("{0}")]
    Invalid(String),
}

/// A prompt the server serves: a built-in one or a config template.
enum Source {
    ClusterHealthCheck,
    PipelineTroubleshoot,
    HcoStatus,
    VmTroubleshoot,
    WindowsGoldenImage,
    Template(PromptConfig),
}

/// The prompts of one server instance, by name.
pub struct Prompts {
    by_name: BTreeMap<String, Source>,
}

impl Prompts {
    pub fn new(config: &Config) -> Self {
        let mut by_name = BTreeMap::new();
        if config.toolsets.contains(&Toolset::Core) {
            by_name.insert(health::NAME.to_owned(), Source::ClusterHealthCheck);
        }
        if config.toolsets.contains(&Toolset::Tekton) {
            by_name.insert(pipeline::NAME.to_owned(), Source::PipelineTroubleshoot);
        }
        if config.toolsets.contains(&Toolset::Kubevirt) {
            by_name.insert(hco::NAME.to_owned(), Source::HcoStatus);
            by_name.insert(vm::NAME.to_owned(), Source::VmTroubleshoot);
            by_name.insert(windows::NAME.to_owned(), Source::WindowsGoldenImage);
        }
        for prompt in &config.go.prompts {
            by_name.insert(prompt.name.clone(), Source::Template(prompt.clone()));
        }
        Self { by_name }
    }

    pub fn is_empty(&self) -> bool {
        self.by_name.is_empty()
    }

    /// What `prompts/list` shows, sorted by name.
    pub fn list(&self) -> Vec<Prompt> {
        self.by_name
            .iter()
            .map(|(name, source)| match source {
                Source::ClusterHealthCheck => health::prompt(),
                Source::PipelineTroubleshoot => pipeline::prompt(),
                Source::HcoStatus => hco::prompt(),
                Source::VmTroubleshoot => vm::prompt(),
                Source::WindowsGoldenImage => windows::prompt(),
                Source::Template(t) => template_prompt(name, t),
            })
            .collect()
    }

    /// Renders the prompt `name` with `arguments`; built-in prompts read the cluster as `ctx`.
    pub async fn get(
        &self,
        name: &str,
        arguments: &Map<String, Value>,
        ctx: &ToolContext,
    ) -> Result<GetPromptResult, PromptError> {
        match self.by_name.get(name) {
            None => Err(PromptError::Unknown(name.to_owned())),
            Some(Source::ClusterHealthCheck) => Ok(health::get(arguments, ctx).await),
            Some(Source::PipelineTroubleshoot) => pipeline::get(arguments, ctx).await,
            Some(Source::HcoStatus) => hco::get(ctx).await,
            Some(Source::VmTroubleshoot) => vm::get(arguments, ctx).await,
            Some(Source::WindowsGoldenImage) => windows::get(arguments, ctx).await,
            Some(Source::Template(t)) => render(t, arguments),
        }
    }
}

/// `group/version` `plural` in `namespace` (None: cluster-wide), as the caller.
pub(super) async fn api(
    ctx: &ToolContext,
    gvk: (&str, &str, &str),
    plural: &str,
    namespace: Option<&str>,
) -> Result<Api<DynamicObject>, String> {
    let gvk = GroupVersionKind::gvk(gvk.0, gvk.1, gvk.2);
    ctx.check_allowed(&gvk).map_err(|e| e.to_string())?;
    let target = ctx.target().await.map_err(|e| e.to_string())?;
    let ar = ApiResource::from_gvk_with_plural(&gvk, plural);
    Ok(match namespace {
        Some(ns) => Api::namespaced_with(target.client.clone(), ns, &ar),
        None => Api::all_with(target.client.clone(), &ar),
    })
}

/// `value` as a fenced YAML block, as the Go server embeds objects in its prompts.
pub(super) fn block(value: &Value) -> String {
    format!("```yaml\n{}```", yaml(value))
}

/// An event as the Go server's `EventsList` renders it (its keys, its timestamp choice).
fn go_event(event: &Event) -> Value {
    let involved = &event.involved_object;
    let timestamp = event
        .event_time
        .as_ref()
        .map(|t| t.0)
        .or_else(|| {
            event
                .series
                .as_ref()
                .and_then(|s| s.last_observed_time.as_ref())
                .map(|t| t.0)
        })
        .or_else(|| {
            (event.count.unwrap_or(0) > 1)
                .then(|| event.last_timestamp.as_ref().map(|t| t.0))
                .flatten()
        })
        .or_else(|| event.first_timestamp.as_ref().map(|t| t.0));
    json!({
        "InvolvedObject": {
            "Kind": involved.kind.clone().unwrap_or_default(),
            "Name": involved.name.clone().unwrap_or_default(),
            "apiVersion": involved.api_version.clone().unwrap_or_default(),
        },
        "Message": event.message.as_deref().unwrap_or_default().trim(),
        "Namespace": event.metadata.namespace.clone().unwrap_or_default(),
        "Reason": event.reason.clone().unwrap_or_default(),
        "Timestamp": timestamp.map(|t| t.strftime("%Y-%m-%d %H:%M:%S%.f +0000 UTC").to_string()).unwrap_or_default(),
        "Type": event.type_.clone().unwrap_or_default(),
    })
}

/// The events of `namespace` that `keep` keeps, in the Go server's form, as the caller, as a
/// section: under `heading`, or `### Events` saying `none` or why they could not be listed.
pub(super) async fn events_section(
    ctx: &ToolContext,
    namespace: &str,
    keep: impl Fn(&Event) -> bool,
    heading: &str,
    none: &str,
) -> String {
    let listed = match ctx.target().await {
        Ok(target) => Api::<Event>::namespaced(target.client.clone(), namespace)
            .list(&ListParams::default())
            .await
            .map_err(|e| crate::cluster::kube_message(&e)),
        Err(e) => Err(e.to_string()),
    };
    let events: Vec<Value> = match listed {
        Ok(list) => list
            .items
            .iter()
            .filter(|e| keep(e))
            .map(go_event)
            .collect(),
        Err(e) => return format!("### Events\n\n*Error listing events: {e}*"),
    };
    if events.is_empty() {
        return format!("### Events\n\n*{none}*");
    }
    format!("### {heading}\n\n{}", block(&Value::Array(events)))
}

/// A built-in prompt's answer, shaped as Go's are: the gathered text as the user's message,
/// the assistant's opening line, and a description.
pub(super) fn guide(text: String, assistant: &str, description: &str) -> GetPromptResult {
    GetPromptResult::new(vec![
        PromptMessage::new_text(Role::User, text),
        PromptMessage::new_text(Role::Assistant, assistant),
    ])
    .with_description(description)
}

/// A built-in prompt's required argument; missing or empty, an error naming it.
pub(super) fn required(arguments: &Map<String, Value>, key: &str) -> Result<String, PromptError> {
    argument(arguments, key)
        .filter(|v| !v.is_empty())
        .map(std::borrow::Cow::into_owned)
        .ok_or_else(|| PromptError::ArgumentRequired(key.to_owned()))
}

/// The `_meta` of a prompt that declares the RBAC it needs, as the Go server sends it.
fn rbac_meta(rbac: Value) -> MetaObject {
    MetaObject(Map::from_iter([(
        crate::tools::RBAC_META_KEY.to_owned(),
        rbac,
    )]))
}

fn template_prompt(name: &str, t: &PromptConfig) -> Prompt {
    let arguments = t
        .arguments
        .iter()
        .map(|a| {
            let mut argument = PromptArgument::new(&a.name);
            argument.description.clone_from(&a.description);
            argument.required = a.required.then_some(true);
            argument
        })
        .collect::<Vec<_>>();
    let mut prompt = Prompt::new(
        name,
        Some(&t.description),
        (!arguments.is_empty()).then_some(arguments),
    );
    prompt.title.clone_from(&t.title);
    prompt
}

/// A string argument's value: strings as given, anything else as JSON.
fn argument<'a>(
    arguments: &'a Map<String, Value>,
    name: &str,
) -> Option<std::borrow::Cow<'a, str>> {
    match arguments.get(name)? {
        Value::String(s) => Some(s.as_str().into()),
        Value::Null => None,
        other => Some(other.to_string().into()),
    }
}

/// Replaces `{{name}}` by each given argument; a placeholder with no value stays as written,
/// as in the Go server.
fn render(
    t: &PromptConfig,
    arguments: &Map<String, Value>,
) -> Result<GetPromptResult, PromptError> {
    if let Some(missing) = t
        .arguments
        .iter()
        .find(|a| a.required && argument(arguments, &a.name).is_none_or(|v| v.is_empty()))
    {
        return Err(PromptError::MissingArgument(missing.name.clone()));
    }
    let messages = t
        .messages
        .iter()
        .map(|m| {
            let text = t.arguments.iter().fold(m.content.clone(), |text, a| {
                match argument(arguments, &a.name) {
                    Some(value) => text.replace(&format!("{{{{{}}}}}", a.name), &value),
                    None => text,
                }
            });
            let role = match m.role {
                PromptRole::User => Role::User,
                PromptRole::Assistant => Role::Assistant,
            };
            PromptMessage::new_text(role, text)
        })
        .collect();
    Ok(GetPromptResult::new(messages).with_description(t.description.clone()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Flags;

    const DEBUG_POD: &str = r#"
        [[prompts]]
        name = "debug-pod"
        description = "Debug a failing pod"
        [[prompts.arguments]]
        name = "pod_name"
        required = true
        [[prompts.messages]]
        role = "user"
        content = "Help me debug the pod {{pod_name}} ({{pod_name}})"
        [[prompts.messages]]
        role = "assistant"
        content = "Sure {{missing}}"
    "#;

    fn prompts(toml: &str) -> Prompts {
        Prompts::new(&Config::from_toml(toml, Flags::default()).unwrap())
    }

    #[test]
    fn core_brings_the_health_check_and_templates_are_added() {
        let names = |p: &Prompts| p.list().into_iter().map(|p| p.name).collect::<Vec<_>>();
        assert_eq!(names(&prompts("")), ["cluster-health-check"]);
        assert_eq!(
            names(&prompts(DEBUG_POD)),
            ["cluster-health-check", "debug-pod"]
        );
        assert!(prompts("toolsets = [\"config\"]").is_empty());
        assert_eq!(
            names(&prompts("toolsets = [\"tekton\", \"kubevirt\"]")),
            [
                "hco-status",
                "pipeline-troubleshoot",
                "vm-troubleshoot",
                "windows-golden-image"
            ]
        );
    }

    #[test]
    fn templates_substitute_arguments_and_require_the_required_ones() {
        let p = prompts(DEBUG_POD);
        let Some(Source::Template(t)) = p.by_name.get("debug-pod") else {
            panic!("debug-pod is a template");
        };
        let args = Map::from_iter([("pod_name".to_owned(), Value::from("web"))]);
        let result = render(t, &args).unwrap();
        let texts: Vec<Value> = result
            .messages
            .iter()
            .map(|m| serde_json::to_value(&m.content).unwrap()["text"].clone())
            .collect();
        assert_eq!(
            texts,
            ["Help me debug the pod web (web)", "Sure {{missing}}"]
        );
        let err = render(t, &Map::new()).unwrap_err();
        assert_eq!(err.to_string(), "required argument 'pod_name' is missing");
    }

    #[test]
    fn an_event_has_the_go_servers_keys_and_timestamp() {
        let event: Event = serde_json::from_value(json!({
            "metadata": {"name": "e", "namespace": "kubevirt-hyperconverged"},
            "involvedObject": {"apiVersion": "hco.kubevirt.io/v1", "kind": "HyperConverged", "name": "kubevirt-hyperconverged"},
            "type": "Warning", "reason": "Degraded", "message": " CDI is degraded \n", "count": 3,
            "firstTimestamp": "2026-12-04T10:00:00Z", "lastTimestamp": "2026-12-04T11:30:05Z"
        }))
        .expect("an event");
        assert_eq!(
            go_event(&event),
            json!({
                "InvolvedObject": {"Kind": "HyperConverged", "Name": "kubevirt-hyperconverged", "apiVersion": "hco.kubevirt.io/v1"},
                "Message": "CDI is degraded",
                "Namespace": "kubevirt-hyperconverged",
                "Reason": "Degraded",
                "Timestamp": "2026-12-04 11:30:05 +0000 UTC",
                "Type": "Warning",
            })
        );
    }
}
