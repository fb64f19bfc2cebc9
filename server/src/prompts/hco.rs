//! The Go server's `hco-status` prompt (kubevirt toolset): the cluster's first HyperConverged
//! resource (the HyperConverged Cluster Operator's), its conditions, versions, feature gates and
//! virtualization settings, the status of the KubeVirt, CDI and NetworkAddonsConfig resources it
//! manages and the Warning events of its namespace, gathered as the caller into one user
//! message. Without a HyperConverged resource the prompt is an error, as in Go. Does I/O
//! against the apiserver.

use k8s_openapi::api::core::v1::Event;
use kube::api::{DynamicObject, ListParams};
use rmcp::model::{GetPromptResult, Prompt};
use serde_json::Value;

use super::{PromptError, api, block, events_section, guide, rbac_meta};
use crate::cluster::kube_message;
use crate::tools::ToolContext;

pub const NAME: &str = "hco-status";

const NOT_INSTALLED: &str = "HyperConverged Cluster Operator is not installed";

/// The prompt as `prompts/list` shows it (Go's text and RBAC declaration).
pub fn prompt() -> Prompt {
    let mut prompt = Prompt::new(
        NAME,
        Some(
            "Generate a status report for the HyperConverged Cluster Operator (HCO) managing KubeVirt and related components",
        ),
        None,
    );
    prompt.meta = serde_json::from_str(include_str!("hco-status.rbac.json"))
        .ok()
        .map(rbac_meta);
    prompt
}

/// `### heading` and `value` as YAML, or `absent` in italics when it is missing or empty.
fn section(heading: &str, value: Option<&Value>, absent: &str) -> String {
    let present = value.filter(|v| match v {
        Value::Array(a) => !a.is_empty(),
        Value::Object(o) => !o.is_empty(),
        Value::Null => false,
        _ => true,
    });
    match present {
        Some(v) => format!("### {heading}\n\n{}", block(v)),
        None => format!("### {heading}\n\n*{absent}*"),
    }
}

/// One managed component: the conditions (else the whole status) of the first object of its
/// kind; a kind the caller may not read or the cluster does not serve is said as such, so the
/// model does not take an access problem for a failed component.
async fn component(
    ctx: &ToolContext,
    name: &str,
    gvk: (&str, &str, &str),
    plural: &str,
    namespace: Option<&str>,
) -> String {
    let listed = match api(ctx, gvk, plural, namespace).await {
        Ok(api) => api.list(&ListParams::default()).await,
        Err(e) => return format!("### {name}\n\n*Error fetching {name}: {e}*"),
    };
    let list = match listed {
        Ok(list) => list,
        Err(kube::Error::Api(status)) if status.code == 403 => {
            return format!(
                "### {name}\n\n*Access denied — no RBAC permission to read {name}. Component health is unknown (tooling limitation, not a failure).*"
            );
        }
        Err(kube::Error::Api(status)) if status.code == 404 => {
            return format!(
                "### {name}\n\n*{name} CRD not registered — this component is not installed.*"
            );
        }
        Err(e) => {
            return format!(
                "### {name}\n\n*Error fetching {name}: {}*",
                kube_message(&e)
            );
        }
    };
    let Some(first) = list.items.first() else {
        return format!("### {name}\n\n*{name} CR not found*");
    };
    let heading = format!(
        "{name}: {}/{}",
        first.metadata.namespace.as_deref().unwrap_or_default(),
        first.metadata.name.as_deref().unwrap_or_default()
    );
    let status = first.data.get("status");
    match status.and_then(|s| s.get("conditions")) {
        Some(conditions) => format!("### {heading}\n\n{}", block(conditions)),
        None => section(&heading, status, "No status available"),
    }
}

async fn warning_events(ctx: &ToolContext, namespace: &str) -> String {
    let warning = |e: &Event| e.type_.as_deref() == Some("Warning");
    let heading = format!("Warning Events in {namespace} namespace");
    events_section(
        ctx,
        namespace,
        warning,
        &heading,
        "No warning events found in the HCO namespace",
    )
    .await
}

/// The cluster's first HyperConverged, or why there is none (Go's words).
async fn hyperconverged(ctx: &ToolContext) -> Result<DynamicObject, PromptError> {
    let listed = match api(
        ctx,
        ("hco.kubevirt.io", "v1", "HyperConverged"),
        "hyperconvergeds",
        None,
    )
    .await
    {
        Ok(api) => api
            .list(&ListParams::default())
            .await
            .map_err(|e| kube_message(&e)),
        Err(e) => Err(e),
    };
    match listed {
        Err(e) => Err(PromptError::Unavailable(format!(
            "{NOT_INSTALLED} (failed to list HyperConverged resources: {e})"
        ))),
        Ok(list) => list.items.into_iter().next().ok_or_else(|| {
            PromptError::Unavailable(format!("{NOT_INSTALLED} (no HyperConverged CR found)"))
        }),
    }
}

/// The KubeVirt (in the HCO's namespace), CDI and NetworkAddonsConfig sections.
async fn components(ctx: &ToolContext, namespace: &str) -> String {
    [
        component(
            ctx,
            "KubeVirt",
            ("kubevirt.io", "v1", "KubeVirt"),
            "kubevirts",
            Some(namespace),
        )
        .await,
        component(
            ctx,
            "CDI",
            ("cdi.kubevirt.io", "v1beta1", "CDI"),
            "cdis",
            None,
        )
        .await,
        component(
            ctx,
            "NetworkAddonsConfig",
            (
                "networkaddonsoperator.network.kubevirt.io",
                "v1",
                "NetworkAddonsConfig",
            ),
            "networkaddonsconfigs",
            None,
        )
        .await,
    ]
    .join("\n\n")
}

pub async fn get(ctx: &ToolContext) -> Result<GetPromptResult, PromptError> {
    let hco = hyperconverged(ctx).await?;
    let name = hco.metadata.name.clone().unwrap_or_default();
    let namespace = hco.metadata.namespace.clone().unwrap_or_default();
    let pointer = |p: &str| hco.data.pointer(p);
    let conditions = format!(
        "{}\n\n{}",
        section(
            "HCO Conditions",
            pointer("/status/conditions"),
            "No conditions found"
        ),
        section(
            "Component Versions",
            pointer("/status/versions"),
            "No version information found"
        )
    );
    let configuration = format!(
        "{}\n\n{}",
        section(
            "Feature Gates",
            pointer("/spec/featureGates"),
            "No feature gates configured"
        ),
        section(
            "Virtualization Configuration",
            pointer("/spec/virtualization"),
            "Using default virtualization settings"
        )
    );
    let components = components(ctx, &namespace).await;
    let events = warning_events(ctx, &namespace).await;
    let text = format!(
        "# KubeVirt HyperConverged Cluster Operator Status Report\n\n## HCO: {name} (namespace: {namespace})\n\n\
Use this report to understand the current state of the HyperConverged Cluster Operator and all components it manages.\n\n---\n\n\
## Step 1: HCO Conditions and Versions\n\nCheck the HCO conditions:\n\
- **Available** should be True — the operator and all components are running\n\
- **Progressing** should be False — no reconciliation in progress\n\
- **Degraded** should be False — no component failures\n\
- **TaintedConfiguration** indicates manual modifications to managed CRs via jsonpatch annotations\n\
- **Upgradeable** indicates whether the operator can be safely upgraded\n\n{conditions}\n\n---\n\n\
## Step 2: HCO Configuration\n\nReview the active configuration including feature gates and virtualization settings:\n\n{configuration}\n\n---\n\n\
## Step 3: Managed Component Status\n\nHCO manages several components. Each should have its own CR with conditions:\n\n{components}\n\n---\n\n\
## Step 4: Events\n\nReview events in the HCO namespace for warnings or errors:\n\n{events}\n\n---\n\n\
## Analysis\n\nBased on the data above, determine:\n\n\
1. **Overall Health**: Are all HCO conditions healthy (Available=True, Degraded=False)?\n\
2. **Component Health**: Are all managed components (KubeVirt, CDI, Network Addons) available?\n\
3. **Configuration**: Are there any non-default feature gates or virtualization settings?\n\
4. **Warnings**: Are there any Warning events or TaintedConfiguration conditions?\n\
5. **Versions**: What versions are installed for each component?\n"
    );
    Ok(guide(
        text,
        "I'll analyze the HyperConverged Cluster Operator status report to assess the overall health and configuration.",
        "HyperConverged status report generated",
    ))
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn an_empty_or_missing_value_is_said_in_italics() {
        let empty = json!([]);
        assert_eq!(section("X", Some(&empty), "none"), "### X\n\n*none*");
        assert_eq!(section("X", None, "none"), "### X\n\n*none*");
        let gates = json!([{"name": "template", "state": "Enabled"}]);
        assert_eq!(
            section("X", Some(&gates), "none"),
            "### X\n\n```yaml\n- name: template\n  state: Enabled\n```"
        );
    }
}
