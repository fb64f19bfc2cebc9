//! The `tekton` toolset: start Pipelines and Tasks, restart or cancel their runs, and read the
//! logs of the pods their TaskRuns name, all through Tekton's `tekton.dev/v1` objects on the
//! apiserver, as the Go server does (Tekton's controller does the running); the log tools are
//! `tekton/logs.rs`. Does I/O against the apiserver.

mod logs;

pub use logs::collect_logs;

use kube::api::{Api, DynamicObject, Patch, PatchParams, PostParams};
use kube::core::GroupVersionKind;
use serde::Deserialize;
use serde_json::{Map, Value, json};

use super::kube::custom;
use super::{Arguments, Hints, ToolContext, ToolError, ToolSpec};

use crate::config::Toolset;

/// Starting a run creates an object and changes nothing else: not destructive, not idempotent,
/// and (as Go declares it) not open-world.
const START: Hints = Hints {
    open_world: false,
    ..Hints::WRITE
};

#[allow(clippy::too_many_lines, reason = "a table of tool definitions")]
pub fn tools() -> Vec<ToolSpec> {
    vec![
        ToolSpec {
            name: "tekton_pipeline_start",
            toolset: Toolset::Tekton,
            title: "Tekton: Start Pipeline",
            description: "Start a Tekton Pipeline by creating a PipelineRun that references it",
            input_schema: start_schema("Pipeline"),
            hints: START,
            cluster_aware: true,
            handler: |ctx, args| Box::pin(start(ctx, args, &PIPELINE)),
        },
        ToolSpec {
            name: "tekton_pipelinerun_lifecycle",
            toolset: Toolset::Tekton,
            title: "Tekton: PipelineRun Lifecycle",
            description: "Manage a Tekton PipelineRun lifecycle by restarting it with the same spec or cancelling it by setting spec.status to Cancelled.",
            input_schema: json!({
                "type": "object",
                "properties": {
                    "name": {"type": "string", "description": "Name of the PipelineRun to manage"},
                    "namespace": {"type": "string", "description": "Namespace of the PipelineRun"},
                    "action": {
                        "type": "string",
                        "enum": ["restart", "cancel"],
                        "description": "Lifecycle action to perform: 'restart' creates a new PipelineRun with the same spec; 'cancel' sets spec.status to Cancelled.",
                    },
                },
                "required": ["name", "action"],
            }),
            hints: Hints::DESTRUCTIVE,
            cluster_aware: true,
            handler: |ctx, args| Box::pin(pipelinerun_lifecycle(ctx, args)),
        },
        ToolSpec {
            name: "tekton_pipelinerun_logs",
            toolset: Toolset::Tekton,
            title: "Tekton: Get PipelineRun Logs",
            description: "Get logs for all TaskRuns owned by a Tekton PipelineRun. Use this to inspect PipelineRun execution output without locating pods manually.",
            input_schema: json!({
                "type": "object",
                "properties": {
                    "name": {"type": "string", "description": "Name of the PipelineRun to get logs from"},
                    "namespace": {"type": "string", "description": "Namespace of the PipelineRun"},
                    "task": {"type": "string", "description": "Pipeline task name to filter by (tekton.dev/pipelineTask label)"},
                    "step": {"type": "string", "description": "Step name to include within matching TaskRuns"},
                    "tail": {"type": "integer", "description": "Number of lines to retrieve from the end of each container log (default: 100)", "default": 100, "minimum": 0},
                },
                "required": ["name"],
            }),
            hints: Hints::READ_IDEMPOTENT,
            cluster_aware: true,
            handler: |ctx, args| Box::pin(logs::pipelinerun_logs(ctx, args)),
        },
        ToolSpec {
            name: "tekton_task_start",
            toolset: Toolset::Tekton,
            title: "Tekton: Start Task",
            description: "Start a Tekton Task by creating a TaskRun that references it",
            input_schema: start_schema("Task"),
            hints: START,
            cluster_aware: true,
            handler: |ctx, args| Box::pin(start(ctx, args, &TASK)),
        },
        ToolSpec {
            name: "tekton_taskrun_restart",
            toolset: Toolset::Tekton,
            title: "Tekton: Restart TaskRun",
            description: "Restart a Tekton TaskRun by creating a new TaskRun with the same spec",
            input_schema: json!({
                "type": "object",
                "properties": {
                    "name": {"type": "string", "description": "Name of the TaskRun to restart"},
                    "namespace": {"type": "string", "description": "Namespace of the TaskRun"},
                },
                "required": ["name"],
            }),
            hints: START,
            cluster_aware: true,
            handler: |ctx, args| Box::pin(taskrun_restart(ctx, args)),
        },
        ToolSpec {
            name: "tekton_taskrun_logs",
            toolset: Toolset::Tekton,
            title: "Tekton: Get TaskRun Logs",
            description: "Get the logs from a Tekton TaskRun by resolving its underlying pod",
            input_schema: json!({
                "type": "object",
                "properties": {
                    "name": {"type": "string", "description": "Name of the TaskRun to get logs from"},
                    "namespace": {"type": "string", "description": "Namespace of the TaskRun"},
                    "step": {"type": "string", "description": "Step name to include. If omitted, logs from all steps and sidecars are returned"},
                    "tail": {"type": "integer", "description": "Number of lines to retrieve from the end of the logs (Optional, default: 100)", "default": 100, "minimum": 0},
                },
                "required": ["name"],
            }),
            hints: Hints {
                open_world: false,
                ..Hints::READ_IDEMPOTENT
            },
            cluster_aware: true,
            handler: |ctx, args| Box::pin(logs::taskrun_logs(ctx, args)),
        },
    ]
}

fn start_schema(kind: &str) -> Value {
    json!({
        "type": "object",
        "properties": {
            "name": {"type": "string", "description": format!("Name of the {kind} to start")},
            "namespace": {"type": "string", "description": format!("Namespace of the {kind}")},
            "params": {
                "type": "object",
                "description": format!("Parameter values to pass to the {kind}. Keys are parameter names; values can be a string, an array of strings, or an object (map of string to string) depending on the parameter type defined in the {kind} spec"),
                "properties": {},
                "additionalProperties": true,
            },
        },
        "required": ["name"],
    })
}

/// A Tekton kind and the kind of its runs.
struct Runnable {
    kind: &'static str,
    plural: &'static str,
    run_kind: &'static str,
    run_plural: &'static str,
    /// The field of a run's spec that names what it runs.
    reference: &'static str,
}

const PIPELINE: Runnable = Runnable {
    kind: "Pipeline",
    plural: "pipelines",
    run_kind: "PipelineRun",
    run_plural: "pipelineruns",
    reference: "pipelineRef",
};

const TASK: Runnable = Runnable {
    kind: "Task",
    plural: "tasks",
    run_kind: "TaskRun",
    run_plural: "taskruns",
    reference: "taskRef",
};

fn gvk(kind: &str) -> GroupVersionKind {
    GroupVersionKind::gvk("tekton.dev", "v1", kind)
}

async fn api(
    ctx: &ToolContext,
    kind: &str,
    plural: &str,
    namespace: Option<&str>,
) -> Result<(Api<DynamicObject>, String), ToolError> {
    custom(ctx, &gvk(kind), plural, namespace).await
}

/// Tekton params from the tool's `params` object: a string, an array of strings or an object of
/// strings each, as Tekton's string, array and object param types.
fn params(raw: &Map<String, Value>) -> Result<Vec<Value>, ToolError> {
    raw.iter()
        .map(|(name, value)| {
            let all_strings = |mut values: Box<dyn Iterator<Item = &Value> + '_>| {
                values.all(Value::is_string)
            };
            let ok = match value {
                Value::String(_) => true,
                Value::Array(items) => all_strings(Box::new(items.iter())),
                Value::Object(fields) => all_strings(Box::new(fields.values())),
                _ => false,
            };
            if ok {
                Ok(json!({"name": name, "value": value}))
            } else {
                Err(ToolError::InvalidArguments(format!(
                    "param {name:?}: expected a string, an array of strings or an object of strings, got {value}"
                )))
            }
        })
        .collect()
}

#[derive(Deserialize)]
struct StartArgs {
    name: String,
    namespace: Option<String>,
    #[serde(default)]
    params: Map<String, Value>,
}

async fn start(ctx: &ToolContext, args: Arguments, kind: &Runnable) -> Result<String, ToolError> {
    let a: StartArgs = args.parse()?;
    let params = params(&a.params)?;
    let (defs, ns) = api(ctx, kind.kind, kind.plural, a.namespace.as_deref()).await?;
    defs.get(&a.name)
        .await
        .map_err(ToolError::api(format!("get {} {ns}/{}", kind.kind, a.name)))?;
    let mut spec = json!({ kind.reference: {"name": a.name} });
    if !params.is_empty() {
        spec["params"] = Value::Array(params);
    }
    let run = create_run(ctx, kind, &ns, &format!("{}-", a.name), spec).await?;
    Ok(format!(
        "{} '{}' started as {} '{run}' in namespace '{ns}'",
        kind.kind, a.name, kind.run_kind
    ))
}

/// Creates a run named from `generate_name` with `spec`; answers with its name.
async fn create_run(
    ctx: &ToolContext,
    kind: &Runnable,
    ns: &str,
    generate_name: &str,
    spec: Value,
) -> Result<String, ToolError> {
    let (runs, _) = api(ctx, kind.run_kind, kind.run_plural, Some(ns)).await?;
    let object: DynamicObject = serde_json::from_value(json!({
        "apiVersion": "tekton.dev/v1",
        "kind": kind.run_kind,
        "metadata": {"namespace": ns, "generateName": generate_name},
        "spec": spec,
    }))
    .map_err(|e| ToolError::InvalidArguments(e.to_string()))?;
    let created = runs
        .create(&PostParams::default(), &object)
        .await
        .map_err(ToolError::api(format!("create {} in {ns}", kind.run_kind)))?;
    Ok(created.metadata.name.unwrap_or_default())
}

/// Creates a new run with the spec of the run `name` (its `spec.status` cleared), named like it.
async fn restart(
    ctx: &ToolContext,
    kind: &Runnable,
    namespace: Option<&str>,
    name: &str,
) -> Result<String, ToolError> {
    let (runs, ns) = api(ctx, kind.run_kind, kind.run_plural, namespace).await?;
    let existing = runs
        .get(name)
        .await
        .map_err(ToolError::api(format!("get {} {ns}/{name}", kind.run_kind)))?;
    let mut spec = existing
        .data
        .get("spec")
        .cloned()
        .unwrap_or_else(|| json!({}));
    if let Some(spec) = spec.as_object_mut() {
        spec.remove("status");
    }
    let generate_name = existing
        .metadata
        .generate_name
        .filter(|g| !g.is_empty())
        .unwrap_or_else(|| format!("{name}-"));
    let run = create_run(ctx, kind, &ns, &generate_name, spec).await?;
    Ok(format!(
        "{} '{name}' restarted as '{run}' in namespace '{ns}'",
        kind.run_kind
    ))
}

#[derive(Deserialize)]
struct LifecycleArgs {
    name: String,
    namespace: Option<String>,
    action: String,
}

async fn pipelinerun_lifecycle(ctx: &ToolContext, args: Arguments) -> Result<String, ToolError> {
    let a: LifecycleArgs = args.parse()?;
    match a.action.as_str() {
        "restart" => restart(ctx, &PIPELINE, a.namespace.as_deref(), &a.name).await,
        "cancel" => {
            let (runs, ns) =
                api(ctx, "PipelineRun", "pipelineruns", a.namespace.as_deref()).await?;
            let patch = json!({"spec": {"status": "Cancelled"}});
            runs.patch(&a.name, &PatchParams::default(), &Patch::Merge(&patch))
                .await
                .map_err(ToolError::api(format!(
                    "cancel PipelineRun {ns}/{}",
                    a.name
                )))?;
            Ok(format!(
                "PipelineRun '{}' cancelled in namespace '{ns}'",
                a.name
            ))
        }
        other => Err(ToolError::InvalidArguments(format!(
            "invalid action {other:?}: must be one of \"restart\" or \"cancel\""
        ))),
    }
}

#[derive(Deserialize)]
struct NameArgs {
    name: String,
    namespace: Option<String>,
}

async fn taskrun_restart(ctx: &ToolContext, args: Arguments) -> Result<String, ToolError> {
    let a: NameArgs = args.parse()?;
    restart(ctx, &TASK, a.namespace.as_deref(), &a.name).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn params_take_strings_arrays_and_objects_of_strings() {
        let raw = json!({"a": "x", "b": ["1", "2"], "c": {"k": "v"}});
        let parsed = params(raw.as_object().unwrap()).unwrap();
        assert_eq!(
            parsed,
            vec![
                json!({"name": "a", "value": "x"}),
                json!({"name": "b", "value": ["1", "2"]}),
                json!({"name": "c", "value": {"k": "v"}}),
            ]
        );
        for bad in [
            json!({"n": 1}),
            json!({"n": ["x", 2]}),
            json!({"n": {"k": true}}),
        ] {
            let err = params(bad.as_object().unwrap()).unwrap_err().to_string();
            assert!(err.contains("param \"n\""), "{err}");
        }
    }
}
