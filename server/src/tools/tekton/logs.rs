//! The `tekton` log tools: the logs of the steps (and sidecars) of a TaskRun, or of every
//! TaskRun of a PipelineRun, read from the pod each TaskRun's status names, as the Go server
//! reads them. Does I/O against the apiserver (pod logs come from the kubelet through it).

use std::fmt::Write as _;

use k8s_openapi::api::core::v1::Pod;
use kube::api::{DynamicObject, ListParams, LogParams};
use serde::Deserialize;

use super::super::bounded::cap_tail;
use super::super::kube::{container_log, namespaced};
use super::super::{Arguments, ToolContext, ToolError};
use super::api;

/// Largest log read from one container, as the Go server bounds it.
const MAX_LOG_BYTES_PER_CONTAINER: usize = 1 << 20;

#[derive(Deserialize)]
struct LogArgs {
    name: String,
    namespace: Option<String>,
    task: Option<String>,
    step: Option<String>,
    tail: Option<i64>,
}

impl LogArgs {
    fn step(&self) -> Option<&str> {
        self.step.as_deref().filter(|s| !s.is_empty())
    }

    /// Lines per container, Go's default 100, capped by `max_log_tail_lines`.
    fn tail(&self, ctx: &ToolContext) -> Result<Option<i64>, ToolError> {
        match self.tail.unwrap_or(100) {
            n if n < 0 => Err(ToolError::InvalidArguments("tail must be 0 or more".into())),
            n => Ok(cap_tail(Some(n), ctx.limits.max_log_tail_lines).0),
        }
    }
}

pub async fn taskrun_logs(ctx: &ToolContext, args: Arguments) -> Result<String, ToolError> {
    let a: LogArgs = args.parse()?;
    let tail = a.tail(ctx)?;
    let (runs, ns) = api(ctx, "TaskRun", "taskruns", a.namespace.as_deref()).await?;
    let run = runs
        .get(&a.name)
        .await
        .map_err(ToolError::api(format!("get TaskRun {ns}/{}", a.name)))?;
    let logs = collect_logs(ctx, &ns, &run, a.step(), tail).await?;
    Ok(if logs.is_empty() {
        format!(
            "No logs available for TaskRun '{}' in namespace '{ns}'",
            a.name
        )
    } else {
        logs
    })
}

pub async fn pipelinerun_logs(ctx: &ToolContext, args: Arguments) -> Result<String, ToolError> {
    let a: LogArgs = args.parse()?;
    let tail = a.tail(ctx)?;
    let (pipelineruns, ns) =
        api(ctx, "PipelineRun", "pipelineruns", a.namespace.as_deref()).await?;
    pipelineruns
        .get(&a.name)
        .await
        .map_err(ToolError::api(format!("get PipelineRun {ns}/{}", a.name)))?;
    let (taskruns, _) = api(ctx, "TaskRun", "taskruns", Some(&ns)).await?;
    let mut selector = format!("tekton.dev/pipelineRun={}", a.name);
    let task = a.task.as_deref().filter(|t| !t.is_empty());
    if let Some(task) = task {
        write!(selector, ",tekton.dev/pipelineTask={task}").ok();
    }
    let runs = taskruns
        .list(&ListParams::default().labels(&selector))
        .await
        .map_err(ToolError::api(format!(
            "list TaskRuns for PipelineRun {ns}/{}",
            a.name
        )))?;
    if runs.items.is_empty() {
        let matching = task
            .map(|t| format!(" matching pipeline task '{t}'"))
            .unwrap_or_default();
        return Ok(format!(
            "No TaskRuns found for PipelineRun '{}' in namespace '{ns}'{matching}",
            a.name
        ));
    }
    let mut out = String::new();
    for run in &runs.items {
        let logs = collect_logs(ctx, &ns, run, a.step(), tail).await?;
        if logs.trim().is_empty() {
            continue;
        }
        let name = run.metadata.name.as_deref().unwrap_or_default();
        write!(out, "# TaskRun: {name}\n{logs}").ok();
        if !logs.ends_with('\n') {
            out.push('\n');
        }
    }
    Ok(if out.is_empty() {
        format!(
            "No logs available for PipelineRun '{}' in namespace '{ns}'",
            a.name
        )
    } else {
        out
    })
}

/// One step or sidecar of a TaskRun's status: its name and the container that ran it.
#[derive(Deserialize)]
struct Container {
    #[serde(default)]
    name: String,
    #[serde(default)]
    container: String,
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase")]
struct RunStatus {
    #[serde(default)]
    pod_name: String,
    #[serde(default)]
    steps: Vec<Container>,
    #[serde(default)]
    sidecars: Vec<Container>,
}

/// The logs of a TaskRun's steps (only `step` if given) and, without `step`, its sidecars, from
/// the pod its status names; an error for one container is printed in its place, as Go does.
pub async fn collect_logs(
    ctx: &ToolContext,
    ns: &str,
    run: &DynamicObject,
    step: Option<&str>,
    tail: Option<i64>,
) -> Result<String, ToolError> {
    let status: RunStatus = run
        .data
        .get("status")
        .and_then(|s| serde_json::from_value(s.clone()).ok())
        .unwrap_or_default();
    let mut out = String::new();
    if step.is_some_and(|step| !status.steps.iter().any(|s| s.name == step)) {
        return Ok(out);
    }
    if status.pod_name.is_empty() {
        let name = run.metadata.name.as_deref().unwrap_or_default();
        writeln!(
            out,
            "TaskRun '{name}' in namespace '{ns}' has not started a pod yet"
        )
        .ok();
        return Ok(out);
    }
    let (pods, _) = namespaced::<Pod>(ctx, Some(ns)).await?;
    let steps = status
        .steps
        .iter()
        .filter(|s| step.is_none_or(|step| s.name == step))
        .map(|s| ("step", s));
    let sidecars = status
        .sidecars
        .iter()
        .filter(|_| step.is_none())
        .map(|s| ("sidecar", s));
    for (what, c) in steps.chain(sidecars) {
        let params = LogParams {
            container: Some(c.container.clone()),
            tail_lines: tail,
            ..LogParams::default()
        };
        let cap = Some(MAX_LOG_BYTES_PER_CONTAINER);
        match container_log(&pods, &status.pod_name, &params, cap).await {
            Ok((log, _)) if log.is_empty() => {}
            Ok((log, _)) => {
                writeln!(
                    out,
                    "[{what}: {}]\n{}",
                    c.name,
                    String::from_utf8_lossy(&log)
                )
                .ok();
            }
            Err(e) => {
                writeln!(out, "[{what}: {}] error retrieving logs: {e}", c.name).ok();
            }
        }
    }
    Ok(out)
}
