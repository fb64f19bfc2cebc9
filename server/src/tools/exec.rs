//! `pods_exec`: runs a command in a Pod's container over the apiserver's exec WebSocket and
//! answers with its output, stdout and stderr read together and bounded by
//! `max_tool_response_bytes` (the tool timeout ends a command that neither ends nor writes).
//! Does I/O against the apiserver.

use k8s_openapi::api::core::v1::Pod;
use kube::api::AttachParams;
use serde::Deserialize;
use serde_json::json;

use super::bounded::capture;
use super::kube::namespaced;
use super::{Arguments, Hints, ToolContext, ToolError, ToolSpec, object_schema};

use crate::config::Toolset;

pub fn tool() -> ToolSpec {
    ToolSpec {
        name: "pods_exec",
        toolset: Toolset::Core,
        title: "Pods: Exec",
        description: "Run a command in a Pod's container and return its output, like kubectl exec.",
        input_schema: object_schema(
            &json!({
                "name": {"type": "string", "description": "Name of the Pod"},
                "namespace": {"type": "string", "description": "Namespace of the Pod (default: the configured namespace)"},
                "container": {"type": "string", "description": "Container name (default: the Pod's first container)"},
                "command": {"type": "array", "items": {"type": "string"}, "description": "The command and its arguments, e.g. [\"ls\", \"-l\", \"/tmp\"]"},
            }),
            &["name", "command"],
        ),
        hints: Hints::DESTRUCTIVE,
        cluster_aware: true,
        handler: |ctx, args| Box::pin(pods_exec(ctx, args)),
    }
}

#[derive(Deserialize)]
struct ExecArgs {
    name: String,
    namespace: Option<String>,
    container: Option<String>,
    command: Vec<String>,
}

async fn pods_exec(ctx: &ToolContext, args: Arguments) -> Result<String, ToolError> {
    let a: ExecArgs = args.parse()?;
    if a.command.is_empty() {
        return Err(ToolError::InvalidArguments(
            "command must not be empty".into(),
        ));
    }
    let (pods, _) = namespaced::<Pod>(ctx, a.namespace.as_deref()).await?;
    let mut params = AttachParams::default()
        .stdin(false)
        .stdout(true)
        .stderr(true);
    if let Some(c) = a.container.filter(|c| !c.is_empty()) {
        params = params.container(c);
    }
    let action = format!("exec in pod {}", a.name);
    let failed = |message: String| ToolError::Failed {
        action: action.clone(),
        message,
    };
    let mut process = pods
        .exec(&a.name, a.command, &params)
        .await
        .map_err(ToolError::api(action.clone()))?;
    let (Some(stdout), Some(stderr)) = (process.stdout(), process.stderr()) else {
        return Err(failed("the exec stream has no stdout or stderr".into()));
    };
    let cap = ctx.limits.max_tool_response_bytes;
    let got = capture(stdout, stderr, cap)
        .await
        .map_err(|e| failed(e.to_string()))?;
    let output = format!(
        "{}{}",
        String::from_utf8_lossy(&got.stdout),
        String::from_utf8_lossy(&got.stderr)
    );
    if got.truncated {
        // Dropping the process closes the stream: the command is not waited for. The note
        // goes first, so that the answer's own cut cannot drop it.
        drop(process);
        return Ok(format!(
            "[output truncated at {} bytes (max_tool_response_bytes): the command was not waited for; narrow its output, e.g. with head or grep]\n{output}",
            cap.unwrap_or_default()
        ));
    }
    let status = match process.take_status() {
        Some(s) => s.await,
        None => None,
    };
    process.join().await.map_err(|e| failed(e.to_string()))?;
    if let Some(status) = status.filter(|s| s.status.as_deref() == Some("Failure")) {
        return Err(failed(format!(
            "{}\n{output}",
            status.message.unwrap_or_default()
        )));
    }
    Ok(if output.is_empty() {
        "The command succeeded with no output".to_owned()
    } else {
        output
    })
}
