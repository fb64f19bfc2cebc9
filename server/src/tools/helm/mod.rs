//! The `helm` toolset. `helm_list` reads Helm 3's own storage (`storage`); `helm_install` runs
//! the `helm` program (`run`) on a chart whose source `chart` allowed; `helm_uninstall` runs it
//! too, or does Helm's uninstall itself when helm is absent (`uninstall`). Does I/O against the
//! apiserver and through helm.

mod chart;
mod identity;
mod install;
mod run;
mod storage;
mod uninstall;

use serde::Deserialize;
use serde_json::{Value, json};

use super::output::yaml;
use super::{Arguments, Hints, ToolContext, ToolError, ToolSpec, object_schema};
use storage::{Releases, latest, releases};

use crate::config::Toolset;

pub use storage::check_release;

#[allow(clippy::too_many_lines, reason = "a table of tool definitions")]
pub fn tools() -> Vec<ToolSpec> {
    vec![
        ToolSpec {
            name: "helm_list",
            toolset: Toolset::Helm,
            title: "Helm: List",
            description: "List the Helm releases of a namespace, or of every namespace, with their revision, status and chart.",
            input_schema: object_schema(
                &json!({
                    "namespace": {"type": "string", "description": "Namespace of the releases (default: the configured namespace)"},
                    "all_namespaces": {"type": "boolean", "description": "Releases of every namespace"},
                }),
                &[],
            ),
            hints: Hints::READ,
            cluster_aware: true,
            handler: |ctx, args| Box::pin(helm_list(ctx, args)),
        },
        ToolSpec {
            name: "helm_install",
            toolset: Toolset::Helm,
            title: "Helm: Install",
            description: "Install a Helm chart as a new release and wait for its objects to be ready. The chart is one of: an OCI reference (chart: oci://registry/path/name, optionally :version); an https:// URL of a chart archive (.tgz); a chart name in a chart repository (chart: the name, repo: the repository's https:// URL; the latest version is installed); or an absolute path, only inside the directories the server allows (toolset_configs.helm.local_chart_dirs). http:// and file:// are refused, and repository aliases such as bitnami/nginx are not configured. The server may restrict registries (toolset_configs.helm.allowed_registries). Needs the helm program on the server (an image with helm on PATH).",
            input_schema: object_schema(
                &json!({
                    "chart": {"type": "string", "description": "Chart reference to install: oci://registry/path/name[:version], https://host/path/name-version.tgz, a chart name (with repo) or an absolute local path"},
                    "repo": {"type": "string", "description": "Chart repository URL (https://) holding the chart named by chart (Optional)"},
                    "name": {"type": "string", "description": "Name of the Helm release (Optional, generated from the chart name if not provided)"},
                    "namespace": {"type": "string", "description": "Namespace to install the Helm chart in (Optional, current namespace if not provided)"},
                    "values": {"type": "object", "description": "Values to pass to the Helm chart (Optional)", "properties": {}},
                }),
                &["chart"],
            ),
            hints: Hints::WRITE,
            cluster_aware: true,
            handler: |ctx, args| Box::pin(install::install(ctx, args)),
        },
        ToolSpec {
            name: "helm_uninstall",
            toolset: Toolset::Helm,
            title: "Helm: Uninstall",
            description: "Uninstall a Helm release: delete its objects and its release history. Objects annotated helm.sh/resource-policy: keep are left in place. Runs helm uninstall when the server has helm (hooks run); otherwise the server deletes the objects itself in Helm's order, without running hooks.",
            input_schema: object_schema(
                &json!({
                    "name": {"type": "string", "description": "Release name"},
                    "namespace": {"type": "string", "description": "Namespace of the release (default: the configured namespace)"},
                }),
                &["name"],
            ),
            hints: Hints::DESTRUCTIVE_IDEMPOTENT,
            cluster_aware: true,
            handler: |ctx, args| Box::pin(uninstall::uninstall(ctx, args)),
        },
    ]
}

async fn helm_list(ctx: &ToolContext, args: Arguments) -> Result<String, ToolError> {
    #[derive(Deserialize)]
    struct Args {
        namespace: Option<String>,
        all_namespaces: Option<bool>,
    }
    let a: Args = args.parse()?;
    let namespace = if a.all_namespaces.unwrap_or(false) {
        None
    } else {
        let target = ctx.target().await?;
        Some(
            target
                .namespace_or_default(a.namespace.as_deref())
                .to_owned(),
        )
    };
    let Releases { found, unreadable } = releases(ctx, namespace.as_deref(), None).await?;
    let list = latest(found);
    // As YAML comments first, so the answer still parses and the cut cannot drop them.
    let skipped: String = unreadable
        .iter()
        .map(|u| ["# ", u, "\n"].concat())
        .collect();
    if list.is_empty() {
        return Ok(format!("{skipped}No Helm releases found"));
    }
    let rows: Vec<Value> = list
        .iter()
        .map(|r| {
            json!({
                "name": r.name,
                "namespace": r.namespace,
                "revision": r.version,
                "status": r.info.get("status"),
                "updated": r.info.get("last_deployed"),
                "chart": format!(
                    "{}-{}",
                    r.chart.pointer("/metadata/name").and_then(Value::as_str).unwrap_or(""),
                    r.chart.pointer("/metadata/version").and_then(Value::as_str).unwrap_or("")
                ),
                "app_version": r.chart.pointer("/metadata/appVersion"),
            })
        })
        .collect();
    Ok(format!("{skipped}{}", yaml(&Value::Array(rows))))
}
