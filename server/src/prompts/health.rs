//! The Go server's `cluster-health-check` prompt (core toolset): its name, arguments and RBAC
//! declaration as v0.0.67 lists them, and a `prompts/get` that gathers the diagnostic data
//! (nodes, pods, workloads, volume claims, recent warning events) from the cluster as the
//! caller, into one user message asking for an assessment. Does I/O against the apiserver.

use std::fmt::Write as _;

use k8s_openapi::api::apps::v1::{DaemonSet, Deployment, StatefulSet};
use k8s_openapi::api::core::v1::{Event, Namespace, Node, PersistentVolumeClaim, Pod};
use k8s_openapi::jiff::{Timestamp, ToSpan as _};
use kube::api::{Api, ListParams};
use kube::core::NamespaceResourceScope;
use kube::{Client, Resource};
use rmcp::model::{GetPromptResult, Prompt, PromptArgument};
use serde::de::DeserializeOwned;
use serde_json::{Map, Value};

use super::{argument, guide, rbac_meta};
use crate::tools::ToolContext;

pub const NAME: &str = "cluster-health-check";

/// The prompt as `prompts/list` shows it (Go's text and RBAC declaration).
pub fn prompt() -> Prompt {
    let mut prompt = Prompt::new(
        NAME,
        Some("Perform comprehensive health assessment of Kubernetes/OpenShift cluster"),
        Some(vec![
            PromptArgument::new("namespace").with_description(
                "Optional namespace to limit health check scope (default: all namespaces)",
            ),
            PromptArgument::new("check_events").with_description(
                "Include recent warning/error events (true/false, default: true)",
            ),
        ]),
    );
    prompt.meta = serde_json::from_str(include_str!("cluster-health-check.rbac.json"))
        .ok()
        .map(rbac_meta);
    prompt
}

/// Lists `K` in `namespace` (None: everywhere), or says why it could not.
async fn list<K>(client: &Client, namespace: Option<&str>) -> Result<Vec<K>, String>
where
    K: Resource<DynamicType = (), Scope = NamespaceResourceScope>
        + Clone
        + DeserializeOwned
        + std::fmt::Debug,
{
    let api: Api<K> = match namespace {
        Some(ns) => Api::namespaced(client.clone(), ns),
        None => Api::all(client.clone()),
    };
    api.list(&ListParams::default())
        .await
        .map(|l| l.items)
        .map_err(|e| crate::cluster::kube_message(&e))
}

/// One section: a heading, then each problem line, or "none" / the listing error.
fn section(out: &mut String, heading: &str, found: Result<Vec<String>, String>) {
    let _ = writeln!(out, "## {heading}\n");
    match found {
        Ok(lines) if lines.is_empty() => out.push_str("*No issues found*\n"),
        Ok(lines) => {
            for line in lines {
                let _ = writeln!(out, "- {line}");
            }
        }
        Err(e) => {
            let _ = writeln!(out, "*Could not be checked: {e}*");
        }
    }
    out.push_str("\n---\n\n");
}

fn name_of<K: Resource>(object: &K) -> String {
    let meta = object.meta();
    match &meta.namespace {
        Some(ns) => format!("{ns}/{}", meta.name.as_deref().unwrap_or("")),
        None => meta.name.clone().unwrap_or_default(),
    }
}

fn node_problems(nodes: &[Node]) -> Vec<String> {
    nodes
        .iter()
        .filter_map(|node| {
            let conditions = node.status.as_ref()?.conditions.as_ref()?;
            let bad: Vec<String> = conditions
                .iter()
                .filter(|c| (c.type_ == "Ready") != (c.status == "True"))
                .map(|c| format!("{}={}", c.type_, c.status))
                .collect();
            (!bad.is_empty()).then(|| format!("node {}: {}", name_of(node), bad.join(", ")))
        })
        .collect()
}

fn pod_problems(pods: &[Pod]) -> Vec<String> {
    pods.iter()
        .filter_map(|pod| {
            let status = pod.status.as_ref()?;
            let phase = status.phase.as_deref().unwrap_or("Unknown");
            let restarts: i32 = status
                .container_statuses
                .iter()
                .flatten()
                .map(|c| c.restart_count)
                .sum();
            let waiting: Vec<String> = status
                .container_statuses
                .iter()
                .flatten()
                .filter_map(|c| c.state.as_ref()?.waiting.as_ref()?.reason.clone())
                .collect();
            let unhealthy = !matches!(phase, "Running" | "Succeeded") || !waiting.is_empty();
            (unhealthy || restarts > 5).then(|| {
                format!(
                    "pod {}: phase {phase}, restarts {restarts}{}",
                    name_of(pod),
                    if waiting.is_empty() {
                        String::new()
                    } else {
                        format!(", waiting: {}", waiting.join(", "))
                    }
                )
            })
        })
        .collect()
}

/// Workloads with fewer ready replicas than wanted.
fn unready<K: Resource>(kind: &str, items: &[K], counts: impl Fn(&K) -> (i32, i32)) -> Vec<String> {
    items
        .iter()
        .filter_map(|w| {
            let (ready, wanted) = counts(w);
            (ready < wanted).then(|| format!("{kind} {}: {ready}/{wanted} ready", name_of(w)))
        })
        .collect()
}

async fn workloads(client: &Client, ns: Option<&str>) -> Result<Vec<String>, String> {
    let mut lines = unready("deployment", &list::<Deployment>(client, ns).await?, |d| {
        let s = d.status.clone().unwrap_or_default();
        (s.ready_replicas.unwrap_or(0), d.spec.replicas.unwrap_or(1))
    });
    lines.extend(unready(
        "statefulset",
        &list::<StatefulSet>(client, ns).await?,
        |s| {
            let st = s.status.clone().unwrap_or_default();
            (st.ready_replicas.unwrap_or(0), s.spec.replicas.unwrap_or(1))
        },
    ));
    lines.extend(unready(
        "daemonset",
        &list::<DaemonSet>(client, ns).await?,
        |d| {
            let s = d.status.clone().unwrap_or_default();
            (s.number_ready, s.desired_number_scheduled)
        },
    ));
    Ok(lines)
}

fn recent_warnings(events: &[Event], since: Timestamp) -> Vec<String> {
    events
        .iter()
        .filter(|e| e.type_.as_deref() == Some("Warning"))
        .filter(|e| {
            let seen = e
                .last_timestamp
                .as_ref()
                .map(|t| t.0)
                .or_else(|| e.event_time.as_ref().map(|t| t.0));
            seen.is_some_and(|t| t >= since)
        })
        .map(|e| {
            format!(
                "{} {}: {} ({})",
                e.involved_object.kind.as_deref().unwrap_or(""),
                e.involved_object.name.as_deref().unwrap_or(""),
                e.message.as_deref().unwrap_or("").trim(),
                e.reason.as_deref().unwrap_or(""),
            )
        })
        .collect()
}

/// Gathers the data; a part the caller may not read is reported in its section, not as an error.
pub async fn get(arguments: &Map<String, Value>, ctx: &ToolContext) -> GetPromptResult {
    let namespace = argument(arguments, "namespace").filter(|n| !n.is_empty());
    let namespace = namespace.as_deref();
    let check_events = argument(arguments, "check_events").is_none_or(|v| v != "false");
    let now = Timestamp::now();
    let mut out = format!(
        "# Cluster Health Check Diagnostic Data\n\n**Collection Time:** {now}\n**Scope:** {}\n\n\
         ## Your Task\n\nAnalyze the following cluster diagnostic data and provide:\n\
         1. **Overall Health Status**: Healthy, Warning, or Critical\n\
         2. **Critical Issues**: Issues requiring immediate attention\n\
         3. **Warnings**: Non-critical issues that should be addressed\n\
         4. **Recommendations**: Suggested actions to improve cluster health\n\
         5. **Summary**: Brief overview of findings by component\n\n---\n\n",
        namespace.map_or_else(
            || "All namespaces".to_owned(),
            |ns| format!("Namespace {ns}")
        ),
    );
    match ctx.target().await {
        Err(e) => {
            let _ = writeln!(out, "*The cluster could not be reached: {e}*\n\n---\n");
        }
        Ok(target) => {
            let client = &target.client;
            let nodes = Api::<Node>::all(client.clone())
                .list(&ListParams::default())
                .await;
            section(
                &mut out,
                "1. Nodes",
                nodes
                    .map(|l| node_problems(&l.items))
                    .map_err(|e| crate::cluster::kube_message(&e)),
            );
            if namespace.is_none() {
                let count = Api::<Namespace>::all(client.clone())
                    .list(&ListParams::default())
                    .await;
                let _ = writeln!(
                    out,
                    "**Namespaces:** {}\n",
                    count.map_or_else(
                        |e| crate::cluster::kube_message(&e),
                        |l| l.items.len().to_string()
                    )
                );
            }
            section(
                &mut out,
                "2. Pods",
                list::<Pod>(client, namespace)
                    .await
                    .map(|pods| pod_problems(&pods)),
            );
            section(&mut out, "3. Workloads", workloads(client, namespace).await);
            section(
                &mut out,
                "4. Persistent Volume Claims",
                list::<PersistentVolumeClaim>(client, namespace)
                    .await
                    .map(|claims| {
                        claims
                            .iter()
                            .filter_map(|c| {
                                let phase = c.status.as_ref()?.phase.clone().unwrap_or_default();
                                (phase != "Bound").then(|| format!("claim {}: {phase}", name_of(c)))
                            })
                            .collect()
                    }),
            );
            if check_events {
                let since = now - 1.hour();
                section(
                    &mut out,
                    "5. Recent Warning Events (Last Hour)",
                    list::<Event>(client, namespace)
                        .await
                        .map(|e| recent_warnings(&e, since)),
                );
            }
        }
    }
    out.push_str("**Please analyze the above diagnostic data and provide your comprehensive health assessment.**\n");
    guide(
        out,
        "I'll analyze the cluster health diagnostic data and provide a comprehensive assessment.",
        "Cluster health diagnostic data gathered successfully",
    )
}
