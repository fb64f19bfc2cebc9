//! The `core` toolset's cluster-wide tools: namespaces, `OpenShift` projects, events and nodes
//! (logs, stats summary and top through the apiserver's node proxy and metrics API). Pods are in
//! `pods.rs`, generic resources in `resources.rs`. Does I/O against the apiserver.

use std::fmt::Write as _;

use k8s_openapi::api::core::v1::Node;
use kube::core::GroupVersionKind;
use serde::Deserialize;
use serde_json::{Value, json};

use super::bounded::{cap_tail, log_notes};
use super::kube::{Selection, encode, get_raw, get_raw_tail, items, kind_of, list, metrics_api};
use super::{
    Arguments, Hints, ToolContext, ToolError, ToolSpec, continue_property, field_selector_property,
    label_selector_property, object_schema,
};

use crate::config::Toolset;

#[allow(clippy::too_many_lines, reason = "a table of tool definitions")]
pub fn tools() -> Vec<ToolSpec> {
    vec![
        ToolSpec {
            name: "namespaces_list",
            toolset: Toolset::Core,
            title: "Namespaces: List",
            description: "List the namespaces of the cluster.",
            input_schema: object_schema(
                &json!({
                    "fieldSelector": field_selector_property("namespaces"),
                    "continue": continue_property(),
                }),
                &[],
            ),
            hints: Hints::READ,
            cluster_aware: true,
            handler: |ctx, args| Box::pin(namespaces_list(ctx, args)),
        },
        ToolSpec {
            name: "projects_list",
            toolset: Toolset::Core,
            title: "Projects: List",
            description: "List the OpenShift projects of the cluster (OpenShift only).",
            input_schema: object_schema(&json!({"continue": continue_property()}), &[]),
            hints: Hints::READ,
            cluster_aware: true,
            handler: |ctx, args| Box::pin(projects_list(ctx, args)),
        },
        ToolSpec {
            name: "events_list",
            toolset: Toolset::Core,
            title: "Events: List",
            description: "List the events of the cluster, or of one namespace, to find out why something failed.",
            input_schema: object_schema(
                &json!({
                    "namespace": {"type": "string", "description": "Namespace to list events from (default: all namespaces)"},
                    "fieldSelector": field_selector_property("events (e.g. 'involvedObject.name=web')"),
                    "continue": continue_property(),
                }),
                &[],
            ),
            hints: Hints::READ,
            cluster_aware: true,
            handler: |ctx, args| Box::pin(events_list(ctx, args)),
        },
        ToolSpec {
            name: "nodes_log",
            toolset: Toolset::Core,
            title: "Node: Log",
            description: "Read a log of a node through the kubelet's log endpoint, e.g. query 'kubelet' or 'kubelet.log'.",
            input_schema: object_schema(
                &json!({
                    "name": {"type": "string", "description": "Name of the node"},
                    "query": {"type": "string", "description": "The log to read: a service name (kubelet, kube-proxy, …) or a file under /var/log"},
                    "tailLines": {"type": "integer", "description": "Number of lines from the end of the log (0: all)", "default": 100, "minimum": 0},
                }),
                &["name", "query"],
            ),
            hints: Hints::READ,
            cluster_aware: true,
            handler: |ctx, args| Box::pin(nodes_log(ctx, args)),
        },
        ToolSpec {
            name: "nodes_stats_summary",
            toolset: Toolset::Core,
            title: "Node: Stats Summary",
            description: "Resource usage summary (CPU, memory, filesystem, network) of a node and its pods, from the kubelet's stats endpoint.",
            input_schema: object_schema(
                &json!({"name": {"type": "string", "description": "Name of the node"}}),
                &["name"],
            ),
            hints: Hints::READ,
            cluster_aware: true,
            handler: |ctx, args| Box::pin(nodes_stats_summary(ctx, args)),
        },
        ToolSpec {
            name: "nodes_top",
            toolset: Toolset::Core,
            title: "Nodes: Top",
            description: "CPU and memory usage of nodes, from the metrics API (needs metrics-server).",
            input_schema: object_schema(
                &json!({
                    "name": {"type": "string", "description": "Name of one node (default: all nodes)"},
                    "label_selector": label_selector_property("nodes"),
                }),
                &[],
            ),
            hints: Hints::READ_IDEMPOTENT,
            cluster_aware: true,
            handler: |ctx, args| Box::pin(nodes_top(ctx, args)),
        },
    ]
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct SelectorArgs {
    namespace: Option<String>,
    #[serde(flatten)]
    selection: Selection,
}

async fn namespaces_list(ctx: &ToolContext, args: Arguments) -> Result<String, ToolError> {
    let a: SelectorArgs = args.parse()?;
    let gvk = GroupVersionKind::gvk("", "v1", "Namespace");
    list(ctx, &gvk, None, &a.selection).await
}

async fn projects_list(ctx: &ToolContext, args: Arguments) -> Result<String, ToolError> {
    let a: SelectorArgs = args.parse()?;
    let gvk = GroupVersionKind::gvk("project.openshift.io", "v1", "Project");
    match list(ctx, &gvk, None, &a.selection).await {
        Err(ToolError::Failed { message, .. }) if message.contains("not found") || message.contains("404") => {
            Err(ToolError::Unsupported(
                "this cluster is not OpenShift: it serves no project.openshift.io/v1 Projects (use namespaces_list)".into(),
            ))
        }
        other => other,
    }
}

async fn events_list(ctx: &ToolContext, args: Arguments) -> Result<String, ToolError> {
    let a: SelectorArgs = args.parse()?;
    let gvk = GroupVersionKind::gvk("", "v1", "Event");
    list(ctx, &gvk, a.namespace.as_deref(), &a.selection).await
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct NodeLogArgs {
    name: String,
    query: String,
    tail_lines: Option<u32>,
}

async fn nodes_log(ctx: &ToolContext, args: Arguments) -> Result<String, ToolError> {
    let a: NodeLogArgs = args.parse()?;
    let asked = match a.tail_lines.unwrap_or(100) {
        0 => None,
        n => Some(i64::from(n)),
    };
    let (tail, capped) = cap_tail(asked, ctx.limits.max_log_tail_lines);
    // The kubelet's log query API (NodeLogQuery), as the Go server asks it: a service or a file
    // under /var/log in `query`, the tail done by the kubelet.
    let mut path = format!(
        "/api/v1/nodes/{}/proxy/logs?query={}",
        encode(&a.name),
        encode(&a.query)
    );
    if let Some(n) = tail {
        let _ = write!(path, "&tailLines={n}");
    }
    let action = format!("get log {} of node {}", a.query, a.name);
    let (log, cut) = get_raw_tail(
        ctx,
        &[kind_of::<Node>()],
        &path,
        &action,
        ctx.limits.max_tool_response_bytes,
    )
    .await?;
    // A kubelet tails journald services but not files: tail here as well.
    let tail = tail.and_then(|n| u32::try_from(n).ok()).unwrap_or(0);
    let lines = tail_lines(&String::from_utf8_lossy(&log), tail);
    let notes = log_notes(capped, cut);
    Ok(if notes.is_empty() {
        lines
    } else {
        format!("[{}]\n{lines}", notes.join("; "))
    })
}

/// The last `n` lines of `text` (0: all of it).
fn tail_lines(text: &str, n: u32) -> String {
    if n == 0 {
        return text.to_owned();
    }
    let lines: Vec<&str> = text.lines().collect();
    let start = lines.len().saturating_sub(n as usize);
    lines[start..].join("\n")
}

async fn nodes_stats_summary(ctx: &ToolContext, args: Arguments) -> Result<String, ToolError> {
    #[derive(Deserialize)]
    struct Args {
        name: String,
    }
    let a: Args = args.parse()?;
    let path = format!("/api/v1/nodes/{}/proxy/stats/summary", encode(&a.name));
    get_raw(
        ctx,
        &[kind_of::<Node>()],
        &path,
        &format!("get stats summary of node {}", a.name),
    )
    .await
}

async fn nodes_top(ctx: &ToolContext, args: Arguments) -> Result<String, ToolError> {
    #[derive(Deserialize)]
    struct Args {
        name: Option<String>,
        label_selector: Option<String>,
    }
    let a: Args = args.parse()?;
    let mut path = "/apis/metrics.k8s.io/v1beta1/nodes".to_owned();
    if let Some(name) = a.name.as_deref().filter(|n| !n.is_empty()) {
        path = format!("{path}/{}", encode(name));
    } else if let Some(selector) = a.label_selector.as_deref().filter(|s| !s.is_empty()) {
        path = format!("{path}?labelSelector={}", encode(selector));
    }
    let touches = [
        kind_of::<Node>(),
        GroupVersionKind::gvk("metrics.k8s.io", "v1beta1", "NodeMetrics"),
    ];
    let metrics = metrics_api(ctx, &touches, &path, "get nodes top").await?;
    let mut out = String::from("NAME\tCPU(cores)\tMEMORY(bytes)\n");
    for item in items(&metrics) {
        let _ = writeln!(
            out,
            "{}\t{}\t{}",
            item.pointer("/metadata/name")
                .and_then(Value::as_str)
                .unwrap_or(""),
            item.pointer("/usage/cpu")
                .and_then(Value::as_str)
                .unwrap_or(""),
            item.pointer("/usage/memory")
                .and_then(Value::as_str)
                .unwrap_or(""),
        );
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tail_keeps_the_last_lines() {
        assert_eq!(tail_lines("a\nb\nc\n", 2), "b\nc");
        assert_eq!(tail_lines("a\nb", 0), "a\nb");
        assert_eq!(tail_lines("a", 5), "a");
    }
}
