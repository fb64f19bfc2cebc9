//! The Go server's `pipeline-troubleshoot` prompt (tekton toolset): a PipelineRun's object, its
//! Pipeline definition (embedded, resolved or referenced), its TaskRuns' status, the logs of
//! failed or errored steps, related warning events, Pipeline-as-Code Repositories and
//! TektonConfigs, gathered as the caller into one user message. A part that cannot be read is
//! said in its section. Does I/O against the apiserver.

use std::fmt::Write as _;

use k8s_openapi::api::core::v1::Event;
use k8s_openapi::jiff::Timestamp;
use kube::api::{Api, ListParams};
use rmcp::model::{GetPromptResult, Prompt, PromptArgument};
use serde_json::{Map, Value};

use super::{PromptError, api, block, guide, rbac_meta, required};
use crate::tools::{ToolContext, tekton_logs};

pub const NAME: &str = "pipeline-troubleshoot";

/// The prompt as `prompts/list` shows it (Go's text and RBAC declaration).
pub fn prompt() -> Prompt {
    let mut prompt = Prompt::new(
        NAME,
        Some(
            "Gather PipelineRun status, its Pipeline definition, TaskRuns, failed or errored step logs, warning events, Pipeline-as-Code Repository, and TektonConfig context for Tekton troubleshooting",
        ),
        Some(vec![
            PromptArgument::new("namespace")
                .with_description("Namespace of the PipelineRun to troubleshoot")
                .with_required(true),
            PromptArgument::new("name")
                .with_description("Name of the PipelineRun to troubleshoot")
                .with_required(true),
        ]),
    );
    prompt.meta = serde_json::from_str(include_str!("pipeline-troubleshoot.rbac.json"))
        .ok()
        .map(rbac_meta);
    prompt
}

async fn list_block(
    ctx: &ToolContext,
    gvk: (&str, &str, &str),
    plural: &str,
    ns: Option<&str>,
    what: &str,
) -> String {
    let listed = match api(ctx, gvk, plural, ns).await {
        Ok(api) => api
            .list(&ListParams::default())
            .await
            .map_err(|e| crate::cluster::kube_message(&e)),
        Err(e) => Err(e),
    };
    match listed {
        Err(e) => format!("*{what} resources unavailable: {e}*"),
        Ok(list) if list.items.is_empty() => format!("*No {what} resources found*"),
        Ok(list) => block(&serde_json::to_value(&list.items).unwrap_or_default()),
    }
}

/// A step that ended badly or waits for something other than its start.
fn failed(step: &Value) -> bool {
    let reason = |p: &str| step.pointer(p).and_then(Value::as_str).unwrap_or_default();
    if let Some(terminated) = step.get("terminated") {
        return terminated
            .get("exitCode")
            .and_then(Value::as_i64)
            .unwrap_or(0)
            != 0
            || !matches!(reason("/terminated/reason"), "" | "Completed");
    }
    step.get("waiting").is_some()
        && !matches!(
            reason("/waiting/reason"),
            "" | "PodInitializing" | "ContainerCreating"
        )
}

async fn definition(ctx: &ToolContext, ns: &str, run: &Value) -> String {
    for (pointer, source) in [
        ("/spec/pipelineSpec", "Embedded"),
        ("/status/pipelineSpec", "Resolved"),
    ] {
        if let Some(spec) = run.pointer(pointer) {
            return format!("**{source} PipelineSpec**\n\n{}", block(spec));
        }
    }
    let Some(name) = run
        .pointer("/spec/pipelineRef/name")
        .and_then(Value::as_str)
    else {
        return "*Pipeline definition unavailable because the PipelineRun has no named Pipeline reference or embedded PipelineSpec*".into();
    };
    match api(ctx, ("tekton.dev", "v1", "Pipeline"), "pipelines", Some(ns)).await {
        Ok(api) => match api.get(name).await {
            Ok(p) => block(&ctx.printable(&p, "Pipeline")),
            Err(e) => format!(
                "*Pipeline definition unavailable: failed to fetch Pipeline {name:?}: {}*",
                crate::cluster::kube_message(&e)
            ),
        },
        Err(e) => format!("*Pipeline definition unavailable: {e}*"),
    }
}

async fn warnings(ctx: &ToolContext, ns: &str, targets: &[(&str, String)]) -> String {
    let Ok(target) = ctx.target().await else {
        return "*No related warning events found*".into();
    };
    let events: Api<Event> = Api::namespaced(target.client.clone(), ns);
    let mut found = Vec::new();
    for (kind, name) in targets {
        let selector = format!("involvedObject.kind={kind},involvedObject.name={name}");
        if let Ok(list) = events.list(&ListParams::default().fields(&selector)).await {
            found.extend(
                list.items
                    .into_iter()
                    .filter(|e| e.type_.as_deref() == Some("Warning")),
            );
        }
    }
    if found.is_empty() {
        return "*No related warning events found*".into();
    }
    block(&serde_json::to_value(&found).unwrap_or_default())
}

/// The TaskRuns' status and the logs of their failed steps (the last 100 lines of each); adds
/// each TaskRun and its pod to the event `targets`.
async fn taskruns(
    ctx: &ToolContext,
    ns: &str,
    name: &str,
    targets: &mut Vec<(&'static str, String)>,
) -> (String, String) {
    let taskruns = match api(ctx, ("tekton.dev", "v1", "TaskRun"), "taskruns", Some(ns)).await {
        Ok(api) => api
            .list(&ListParams::default().labels(&format!("tekton.dev/pipelineRun={name}")))
            .await
            .map(|l| l.items)
            .map_err(|e| crate::cluster::kube_message(&e)),
        Err(e) => Err(e),
    };
    let (mut status_text, mut logs) = (String::new(), String::new());
    match &taskruns {
        Err(e) => status_text = format!("*Error listing TaskRuns: {e}*"),
        Ok(runs) if runs.is_empty() => {
            status_text = "*No TaskRuns found for this PipelineRun*".into();
        }
        Ok(runs) => {
            for tr in runs {
                let tr_name = tr.metadata.name.clone().unwrap_or_default();
                let status = tr.data.get("status").cloned().unwrap_or(Value::Null);
                write!(
                    status_text,
                    "### TaskRun: {tr_name}\n\n{}\n\n",
                    block(&status)
                )
                .ok();
                targets.push(("TaskRun", tr_name.clone()));
                if let Some(pod) = status.get("podName").and_then(Value::as_str) {
                    targets.push(("Pod", pod.to_owned()));
                }
                let mut tr_logs = String::new();
                for step in status
                    .get("steps")
                    .and_then(Value::as_array)
                    .into_iter()
                    .flatten()
                    .filter(|s| failed(s))
                {
                    let Some(step) = step
                        .get("name")
                        .and_then(Value::as_str)
                        .filter(|s| !s.is_empty())
                    else {
                        continue;
                    };
                    if let Ok(text) = tekton_logs(ctx, ns, tr, Some(step), Some(100)).await {
                        tr_logs.push_str(&text);
                    }
                }
                if !tr_logs.trim().is_empty() {
                    write!(logs, "### TaskRun: {tr_name}\n\n{tr_logs}\n").ok();
                }
            }
        }
    }
    (status_text, logs)
}

pub async fn get(
    arguments: &Map<String, Value>,
    ctx: &ToolContext,
) -> Result<GetPromptResult, PromptError> {
    let (ns, name) = (
        required(arguments, "namespace")?,
        required(arguments, "name")?,
    );
    let run = match api(
        ctx,
        ("tekton.dev", "v1", "PipelineRun"),
        "pipelineruns",
        Some(&ns),
    )
    .await
    {
        Ok(api) => api
            .get(&name)
            .await
            .map_err(|e| crate::cluster::kube_message(&e)),
        Err(e) => Err(e),
    };
    let run_json = run.as_ref().ok().map(|r| ctx.printable(r, "PipelineRun"));
    let mut targets = vec![("PipelineRun", name.clone())];
    let (status_text, logs) = taskruns(ctx, &ns, &name, &mut targets).await;
    let logs = if logs.is_empty() {
        "*No failed or errored step logs available for this PipelineRun*".into()
    } else {
        logs
    };
    let status_hint = run_json
        .as_ref()
        .and_then(|r| {
            r.pointer("/status/conditions")
                .and_then(Value::as_array)?
                .last()?
                .get("reason")?
                .as_str()
                .map(str::to_owned)
        })
        .unwrap_or_else(|| "unknown".into());
    let (run_text, pipeline_text) = match &run_json {
        Some(r) => (block(r), definition(ctx, &ns, r).await),
        None => (
            format!(
                "*Error fetching PipelineRun: {}*",
                run.err().unwrap_or_default()
            ),
            "*Pipeline definition unavailable because the PipelineRun could not be fetched*".into(),
        ),
    };
    let pac = list_block(
        ctx,
        ("pipelinesascode.tekton.dev", "v1alpha1", "Repository"),
        "repositories",
        Some(&ns),
        "Pipeline-as-Code Repository",
    )
    .await;
    let config = list_block(
        ctx,
        ("operator.tekton.dev", "v1alpha1", "TektonConfig"),
        "tektonconfigs",
        None,
        "TektonConfig",
    )
    .await;
    let events = warnings(ctx, &ns, &targets).await;
    let text = format!(
        "# Tekton PipelineRun Troubleshooting Guide\n\n## PipelineRun: {ns}/{name}\n\n**Collected:** {}\n**Current status hint:** {status_hint}\n\n\
Analyze the collected data and use these exact section headings in the response:\n\
1. PipelineRun Status - overall status, conditions, and timing\n\
2. TaskRun Status - per-task pass, failure, or blocked state\n\
3. Failed Step Logs - errors from failed or errored steps\n\
4. Events - related warnings and errors\n\
5. Troubleshooting Analysis - diagnosis based on the Pipeline definition and collected context\n\
6. Fix Suggestions - concrete next actions for the identified failure pattern\n\n---\n\n\
## PipelineRun Status\n\n{run_text}\n\n---\n\n## Pipeline Definition\n\n{pipeline_text}\n\n---\n\n\
## TaskRun Status\n\n{status_text}\n\n---\n\n## Failed Step Logs\n\n{logs}\n\n---\n\n\
## Pipeline-as-Code Repositories\n\n{pac}\n\n---\n\n## TektonConfig\n\n{config}\n\n---\n\n## Events\n\n{events}\n\n---\n\n\
## Troubleshooting Analysis\n\nUse the collected data to identify:\n\
1. The first failed or blocked PipelineTask\n\
2. The failed step and its relevant log error\n\
3. Pipeline definition, parameter, workspace, dependency, or scheduling problems\n\
4. Warning events that confirm the failure path\n\
5. Pipeline-as-Code or TektonConfig settings that contributed to the failure\n\n---\n\n\
## Fix Suggestions\n\nRecommend only fixes supported by the collected evidence. Common actions include correcting missing Pipeline or Task references, invalid parameters or workspaces, image pull failures, insufficient permissions or resources, and timeout or cancellation settings.\n",
        Timestamp::now()
    );
    Ok(guide(
        text,
        "I'll analyze the collected Tekton data to identify the PipelineRun issue.",
        "PipelineRun troubleshooting data gathered successfully",
    ))
}
