//! The `core` toolset's pod tools: list, get, delete, log, top and run (exec is `exec.rs`).
//! Does I/O against the apiserver.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use k8s_openapi::api::core::v1::{Pod, Service};
use kube::api::{DeleteParams, ListParams, LogParams, PostParams};
use kube::core::GroupVersionKind;
use serde::Deserialize;
use serde_json::{Value, json};

use super::bounded::{cap_tail, log_notes};
use super::kube::{
    FIELD_MANAGER, Selection, container_log, delete, encode, get, items, kind_of, list,
    metrics_api, namespaced,
};
use super::output::yaml;
use super::{
    Arguments, Hints, ToolContext, ToolError, ToolSpec, continue_property, field_selector_property,
    label_selector_property, object_schema,
};

use crate::config::Toolset;

fn pod_gvk() -> GroupVersionKind {
    kind_of::<Pod>()
}

#[allow(clippy::too_many_lines, reason = "a table of tool definitions")]
pub fn tools() -> Vec<ToolSpec> {
    let name = json!({"type": "string", "description": "Name of the Pod"});
    let namespace = json!({"type": "string", "description": "Namespace of the Pod (default: the configured namespace)"});
    vec![
        ToolSpec {
            name: "pods_list",
            toolset: Toolset::Core,
            title: "Pods: List",
            description: "List the Pods of every namespace, with optional label and field selectors.",
            input_schema: object_schema(
                &json!({
                    "labelSelector": label_selector_property("Pods"),
                    "fieldSelector": field_selector_property("Pods"),
                    "continue": continue_property(),
                }),
                &[],
            ),
            hints: Hints::READ,
            cluster_aware: true,
            handler: |ctx, args| Box::pin(pods_list(ctx, args)),
        },
        ToolSpec {
            name: "pods_list_in_namespace",
            toolset: Toolset::Core,
            title: "Pods: List in Namespace",
            description: "List the Pods of one namespace, with optional label and field selectors.",
            input_schema: object_schema(
                &json!({
                    "namespace": {"type": "string", "description": "Namespace to list Pods from"},
                    "labelSelector": label_selector_property("Pods"),
                    "fieldSelector": field_selector_property("Pods"),
                    "continue": continue_property(),
                }),
                &["namespace"],
            ),
            hints: Hints::READ,
            cluster_aware: true,
            handler: |ctx, args| Box::pin(pods_list(ctx, args)),
        },
        ToolSpec {
            name: "pods_get",
            toolset: Toolset::Core,
            title: "Pods: Get",
            description: "Get one Pod as YAML.",
            input_schema: object_schema(&json!({"name": name, "namespace": namespace}), &["name"]),
            hints: Hints::READ,
            cluster_aware: true,
            handler: |ctx, args| Box::pin(pods_get(ctx, args)),
        },
        ToolSpec {
            name: "pods_delete",
            toolset: Toolset::Core,
            title: "Pods: Delete",
            description: "Delete one Pod (and the Service that pods_run created for it, if any).",
            input_schema: object_schema(&json!({"name": name, "namespace": namespace}), &["name"]),
            hints: Hints::DESTRUCTIVE_IDEMPOTENT,
            cluster_aware: true,
            handler: |ctx, args| Box::pin(pods_delete(ctx, args)),
        },
        ToolSpec {
            name: "pods_log",
            toolset: Toolset::Core,
            title: "Pods: Log",
            description: "Read the log of a Pod's container (the current or the previous instance).",
            input_schema: object_schema(
                &json!({
                    "name": name,
                    "namespace": namespace,
                    "container": {"type": "string", "description": "Container name (default: the Pod's only container)"},
                    "previous": {"type": "boolean", "description": "Read the log of the previous, terminated instance"},
                    "tail": {"type": "integer", "description": "Number of lines from the end of the log (0: all)", "default": 100, "minimum": 0},
                }),
                &["name"],
            ),
            hints: Hints::READ,
            cluster_aware: true,
            handler: |ctx, args| Box::pin(pods_log(ctx, args)),
        },
        ToolSpec {
            name: "pods_top",
            toolset: Toolset::Core,
            title: "Pods: Top",
            description: "CPU and memory usage of Pods per container, from the metrics API (needs metrics-server).",
            input_schema: object_schema(
                &json!({
                    "all_namespaces": {"type": "boolean", "description": "Pods of every namespace (when no namespace is given)", "default": true},
                    "namespace": {"type": "string", "description": "Namespace of the Pods"},
                    "name": {"type": "string", "description": "Name of one Pod"},
                    "label_selector": label_selector_property("Pods"),
                }),
                &[],
            ),
            hints: Hints::READ_IDEMPOTENT,
            cluster_aware: true,
            handler: |ctx, args| Box::pin(pods_top(ctx, args)),
        },
        ToolSpec {
            name: "pods_run",
            toolset: Toolset::Core,
            title: "Pods: Run",
            description: "Run a container image in a new Pod; with a port, also expose it with a Service.",
            input_schema: object_schema(
                &json!({
                    "image": {"type": "string", "description": "Container image to run"},
                    "name": {"type": "string", "description": "Name of the Pod (default: generated)"},
                    "namespace": namespace,
                    "port": {"type": "number", "description": "TCP port the container listens on, exposed by a Service"},
                }),
                &["image"],
            ),
            hints: Hints::WRITE,
            cluster_aware: true,
            handler: |ctx, args| Box::pin(pods_run(ctx, args)),
        },
    ]
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct ListArgs {
    namespace: Option<String>,
    #[serde(flatten)]
    selection: Selection,
}

async fn pods_list(ctx: &ToolContext, args: Arguments) -> Result<String, ToolError> {
    let a: ListArgs = args.parse()?;
    list(ctx, &pod_gvk(), a.namespace.as_deref(), &a.selection).await
}

#[derive(Deserialize)]
struct PodArgs {
    name: String,
    namespace: Option<String>,
}

async fn pods_get(ctx: &ToolContext, args: Arguments) -> Result<String, ToolError> {
    let a: PodArgs = args.parse()?;
    get(ctx, &pod_gvk(), a.namespace.as_deref(), &a.name).await
}

const MANAGED_BY: &str = "app.kubernetes.io/managed-by";
const NAME_LABEL: &str = "app.kubernetes.io/name";

async fn pods_delete(ctx: &ToolContext, args: Arguments) -> Result<String, ToolError> {
    let a: PodArgs = args.parse()?;
    let deleted = delete(ctx, &pod_gvk(), a.namespace.as_deref(), &a.name, None).await?;
    // Remove the Service that pods_run made beside the Pod, if there is one and Services may
    // be touched; the Pod is gone either way, so a denied Service is a note, not an error.
    let services = match namespaced::<Service>(ctx, a.namespace.as_deref()).await {
        Ok((services, _)) => services,
        Err(ToolError::Denied(kind)) => {
            return Ok(format!(
                "{deleted}\nServices were not looked for: {kind} is denied by denied_resources"
            ));
        }
        Err(e) => return Err(e),
    };
    let selector = format!("{MANAGED_BY}={FIELD_MANAGER},{NAME_LABEL}={}", a.name);
    if let Ok(list) = services
        .list(&ListParams::default().labels(&selector))
        .await
    {
        for svc in list {
            if let Some(name) = svc.metadata.name {
                services
                    .delete(&name, &DeleteParams::default())
                    .await
                    .map_err(ToolError::api(format!("delete service {name}")))?;
            }
        }
    }
    Ok(deleted)
}

#[derive(Deserialize)]
struct LogArgs {
    name: String,
    namespace: Option<String>,
    container: Option<String>,
    previous: Option<bool>,
    tail: Option<i64>,
}

async fn pods_log(ctx: &ToolContext, args: Arguments) -> Result<String, ToolError> {
    let a: LogArgs = args.parse()?;
    let (pods, ns) = namespaced::<Pod>(ctx, a.namespace.as_deref()).await?;
    let asked = match a.tail.unwrap_or(100) {
        n if n < 0 => return Err(ToolError::InvalidArguments("tail must be 0 or more".into())),
        0 => None,
        n => Some(n),
    };
    let (tail_lines, capped) = cap_tail(asked, ctx.limits.max_log_tail_lines);
    let params = LogParams {
        container: a.container.filter(|c| !c.is_empty()),
        previous: a.previous.unwrap_or(false),
        tail_lines,
        ..LogParams::default()
    };
    // Only the newest bytes that can be answered are kept, however long the lines are.
    let (log, cut) =
        container_log(&pods, &a.name, &params, ctx.limits.max_tool_response_bytes).await?;
    if log.is_empty() {
        return Ok(format!(
            "The pod {} in namespace {ns} has no log output",
            a.name
        ));
    }
    let notes = log_notes(capped, cut);
    let log = String::from_utf8_lossy(&log);
    Ok(if notes.is_empty() {
        log.into_owned()
    } else {
        format!(
            "[{}; ask for a smaller tail or another container to see less]\n{log}",
            notes.join("; ")
        )
    })
}

#[derive(Deserialize)]
struct TopArgs {
    all_namespaces: Option<bool>,
    namespace: Option<String>,
    name: Option<String>,
    label_selector: Option<String>,
}

async fn pods_top(ctx: &ToolContext, args: Arguments) -> Result<String, ToolError> {
    let a: TopArgs = args.parse()?;
    let target = ctx.target().await?;
    let namespace = a.namespace.filter(|n| !n.is_empty());
    let scope = match (&namespace, a.all_namespaces.unwrap_or(true), &a.name) {
        (Some(ns), _, _) => format!("namespaces/{}/", encode(ns)),
        (None, true, None) => String::new(),
        (None, _, _) => format!("namespaces/{}/", encode(&target.default_namespace)),
    };
    let mut path = format!("/apis/metrics.k8s.io/v1beta1/{scope}pods");
    if let Some(name) = a.name.as_deref().filter(|n| !n.is_empty()) {
        path = format!("{path}/{}", encode(name));
    } else if let Some(selector) = a.label_selector.as_deref().filter(|s| !s.is_empty()) {
        path = format!("{path}?labelSelector={}", encode(selector));
    }
    let touches = [
        pod_gvk(),
        GroupVersionKind::gvk("metrics.k8s.io", "v1beta1", "PodMetrics"),
    ];
    let metrics = metrics_api(ctx, &touches, &path, "get pods top").await?;
    let mut out = String::from("NAMESPACE\tPOD\tCONTAINER\tCPU(cores)\tMEMORY(bytes)\n");
    for pod in items(&metrics) {
        let ns = pod
            .pointer("/metadata/namespace")
            .and_then(Value::as_str)
            .unwrap_or("");
        let name = pod
            .pointer("/metadata/name")
            .and_then(Value::as_str)
            .unwrap_or("");
        for c in pod
            .get("containers")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            let _ = writeln!(
                out,
                "{ns}\t{name}\t{}\t{}\t{}",
                c.get("name").and_then(Value::as_str).unwrap_or(""),
                c.pointer("/usage/cpu")
                    .and_then(Value::as_str)
                    .unwrap_or(""),
                c.pointer("/usage/memory")
                    .and_then(Value::as_str)
                    .unwrap_or(""),
            );
        }
    }
    Ok(out)
}

#[derive(Deserialize)]
struct RunArgs {
    image: String,
    name: Option<String>,
    namespace: Option<String>,
    port: Option<f64>,
}

async fn pods_run(ctx: &ToolContext, args: Arguments) -> Result<String, ToolError> {
    let a: RunArgs = args.parse()?;
    if a.image.is_empty() {
        return Err(ToolError::InvalidArguments(
            "image must not be empty".into(),
        ));
    }
    // The Go schema types port as a JSON number; accept only whole TCP port numbers.
    let port = match a.port {
        None => None,
        Some(p) => Some(
            format!("{p}")
                .parse::<u16>()
                .ok()
                .filter(|p| *p > 0)
                .map(i32::from)
                .ok_or_else(|| {
                    ToolError::InvalidArguments(format!("port {p} is not a TCP port"))
                })?,
        ),
    };
    // Both APIs first: a denied Service refuses the call before the Pod exists.
    let services = match port {
        Some(_) => Some(namespaced::<Service>(ctx, a.namespace.as_deref()).await?.0),
        None => None,
    };
    let (pods, _) = namespaced::<Pod>(ctx, a.namespace.as_deref()).await?;
    let name = a
        .name
        .filter(|n| !n.is_empty())
        .unwrap_or_else(|| format!("kubernetes-mcp-server-run-{}", random_suffix()));
    let (pod, service) = run_objects(&name, &a.image, port)?;
    let params = PostParams {
        field_manager: Some(FIELD_MANAGER.into()),
        ..PostParams::default()
    };
    let mut created = Vec::new();
    let pod = pods
        .create(&params, &pod)
        .await
        .map_err(ToolError::api(format!("create pod {name}")))?;
    created.push(ctx.printable(&pod, "Pod"));
    if let (Some(services), Some(service)) = (services, service) {
        let service = services
            .create(&params, &service)
            .await
            .map_err(ToolError::api(format!("create service {name}")))?;
        created.push(ctx.printable(&service, "Service"));
    }
    Ok(format!(
        "# The following resources (YAML) have been created or updated successfully\n{}",
        yaml(&Value::Array(created))
    ))
}

/// The Pod (and, with a port, the Service) that `pods_run` creates. Pure.
fn run_objects(
    name: &str,
    image: &str,
    port: Option<i32>,
) -> Result<(Pod, Option<Service>), ToolError> {
    let labels: BTreeMap<&str, &str> = BTreeMap::from([
        (NAME_LABEL, name),
        ("app.kubernetes.io/component", name),
        (MANAGED_BY, FIELD_MANAGER),
        (
            "app.kubernetes.io/part-of",
            "kubernetes-mcp-server-run-sandbox",
        ),
    ]);
    let ports = port
        .map(|p| json!([{"containerPort": p}]))
        .unwrap_or(json!([]));
    let pod: Pod = serde_json::from_value(json!({
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name, "labels": labels},
        "spec": {"containers": [{"name": name, "image": image, "imagePullPolicy": "IfNotPresent", "ports": ports}]},
    }))
    .map_err(|e| ToolError::InvalidArguments(e.to_string()))?;
    let service = port
        .map(|p| {
            serde_json::from_value(json!({
                "apiVersion": "v1",
                "kind": "Service",
                "metadata": {"name": name, "labels": labels},
                "spec": {"selector": labels, "ports": [{"name": "http", "port": p, "targetPort": p, "protocol": "TCP"}]},
            }))
        })
        .transpose()
        .map_err(|e| ToolError::InvalidArguments(e.to_string()))?;
    Ok((pod, service))
}

/// Five lowercase letters and digits, as generateName would give.
fn random_suffix() -> String {
    use std::hash::{BuildHasher, RandomState};
    let mut n = RandomState::new().hash_one(std::time::SystemTime::now());
    let alphabet = b"bcdfghjklmnpqrstvwxz2456789";
    let base = alphabet.len() as u64;
    (0..5)
        .map(|_| {
            let c = alphabet[usize::try_from(n % base).unwrap_or_default()];
            n /= base;
            char::from(c)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn run_with_port_makes_a_matching_service() {
        let (pod, service) = run_objects("web", "nginx", Some(80)).unwrap();
        let service = service.unwrap();
        let spec = pod.spec.unwrap();
        assert_eq!(spec.containers[0].image.as_deref(), Some("nginx"));
        assert_eq!(
            spec.containers[0].ports.as_ref().unwrap()[0].container_port,
            80
        );
        assert_eq!(service.spec.unwrap().selector, pod.metadata.labels);
    }

    #[test]
    fn run_without_port_makes_no_service() {
        let (_, service) = run_objects("job", "busybox", None).unwrap();
        assert!(service.is_none());
    }

    #[test]
    fn suffixes_look_generated() {
        let s = random_suffix();
        assert_eq!(s.len(), 5);
        assert!(s.chars().all(|c| c.is_ascii_alphanumeric()));
    }
}
