//! Generic resources of any API group, found through discovery: list, get, create-or-update
//! (server-side apply), delete, scale, through the shared helpers of `kube.rs`.
//! Does I/O against the apiserver.

use kube::api::{Patch, PatchParams, PostParams};
use kube::core::GroupVersionKind;
use serde::Deserialize;
use serde_json::{Value, json};

use super::kube::{FIELD_MANAGER, Selection, api, delete, get, gvk, list, plural, resolve};
use super::output::yaml;
use super::{
    Arguments, Hints, ToolContext, ToolError, ToolSpec, continue_property, field_selector_property,
    label_selector_property, object_schema,
};
use crate::config::Toolset;

#[allow(clippy::too_many_lines, reason = "a table of tool definitions")]
pub fn tools() -> Vec<ToolSpec> {
    let api_version = json!({"type": "string", "description": "apiVersion of the resources (e.g. v1, apps/v1, networking.k8s.io/v1)"});
    let kind = json!({"type": "string", "description": "kind of the resources (e.g. Pod, Deployment, Ingress)"});
    let namespace = json!({"type": "string", "description": "Namespace of the resource (default: the configured namespace; ignored for cluster-scoped kinds)"});
    let name = json!({"type": "string", "description": "Name of the resource"});
    vec![
        ToolSpec {
            name: "resources_list",
            toolset: Toolset::Core,
            title: "Resources: List",
            description: "List Kubernetes resources of any kind and API group (Pods, Deployments, CRDs…) in a namespace or in all namespaces, with optional label and field selectors.",
            input_schema: object_schema(
                &json!({
                    "apiVersion": api_version,
                    "kind": kind,
                    "namespace": {"type": "string", "description": "Namespace to list from (default: all namespaces)"},
                    "labelSelector": label_selector_property("the resources"),
                    "fieldSelector": field_selector_property("the resources"),
                    "continue": continue_property(),
                }),
                &["apiVersion", "kind"],
            ),
            hints: Hints::READ,
            cluster_aware: true,
            handler: |ctx, args| Box::pin(resources_list(ctx, args)),
        },
        ToolSpec {
            name: "resources_get",
            toolset: Toolset::Core,
            title: "Resources: Get",
            description: "Get one Kubernetes resource of any kind and API group as YAML.",
            input_schema: object_schema(
                &json!({"apiVersion": api_version, "kind": kind, "namespace": namespace, "name": name}),
                &["apiVersion", "kind", "name"],
            ),
            hints: Hints::READ,
            cluster_aware: true,
            handler: |ctx, args| Box::pin(resources_get(ctx, args)),
        },
        ToolSpec {
            name: "resources_create_or_update",
            toolset: Toolset::Core,
            title: "Resources: Create or Update",
            description: "Create or update Kubernetes resources from a YAML or JSON manifest (several documents separated by ---), with server-side apply. The status field is ignored.",
            input_schema: object_schema(
                &json!({"resource": {"type": "string", "description": "YAML or JSON manifest of one or more resources"}}),
                &["resource"],
            ),
            hints: Hints::DESTRUCTIVE_IDEMPOTENT,
            cluster_aware: true,
            handler: |ctx, args| Box::pin(resources_create_or_update(ctx, args)),
        },
        ToolSpec {
            name: "resources_delete",
            toolset: Toolset::Core,
            title: "Resources: Delete",
            description: "Delete one Kubernetes resource of any kind and API group.",
            input_schema: object_schema(
                &json!({
                    "apiVersion": api_version, "kind": kind, "namespace": namespace, "name": name,
                    "gracePeriodSeconds": {"type": "integer", "description": "Seconds the object gets to terminate (default: the kind's own)"},
                }),
                &["apiVersion", "kind", "name"],
            ),
            hints: Hints::DESTRUCTIVE_IDEMPOTENT,
            cluster_aware: true,
            handler: |ctx, args| Box::pin(resources_delete(ctx, args)),
        },
        ToolSpec {
            name: "resources_scale",
            toolset: Toolset::Core,
            title: "Resources: Scale",
            description: "Read or set the replica count of a scalable resource (Deployment, StatefulSet, ReplicaSet…). Without `scale` it only reports the current scale.",
            input_schema: object_schema(
                &json!({
                    "apiVersion": api_version, "kind": kind, "namespace": namespace, "name": name,
                    "scale": {"type": "integer", "description": "The desired number of replicas; omit to read the current scale"},
                }),
                &["apiVersion", "kind", "name"],
            ),
            hints: Hints::DESTRUCTIVE_IDEMPOTENT,
            cluster_aware: true,
            handler: |ctx, args| Box::pin(resources_scale(ctx, args)),
        },
    ]
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct ListArgs {
    api_version: String,
    kind: String,
    namespace: Option<String>,
    #[serde(flatten)]
    selection: Selection,
}

async fn resources_list(ctx: &ToolContext, args: Arguments) -> Result<String, ToolError> {
    let a: ListArgs = args.parse()?;
    let gvk = gvk(&a.api_version, &a.kind)?;
    list(ctx, &gvk, a.namespace.as_deref(), &a.selection).await
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct ObjectArgs {
    api_version: String,
    kind: String,
    namespace: Option<String>,
    name: String,
    grace_period_seconds: Option<u32>,
    scale: Option<i32>,
}

async fn resources_get(ctx: &ToolContext, args: Arguments) -> Result<String, ToolError> {
    let a: ObjectArgs = args.parse()?;
    get(
        ctx,
        &gvk(&a.api_version, &a.kind)?,
        a.namespace.as_deref(),
        &a.name,
    )
    .await
}

async fn resources_delete(ctx: &ToolContext, args: Arguments) -> Result<String, ToolError> {
    let a: ObjectArgs = args.parse()?;
    let gvk = gvk(&a.api_version, &a.kind)?;
    delete(
        ctx,
        &gvk,
        a.namespace.as_deref(),
        &a.name,
        a.grace_period_seconds,
    )
    .await
}

async fn resources_scale(ctx: &ToolContext, args: Arguments) -> Result<String, ToolError> {
    let a: ObjectArgs = args.parse()?;
    let gvk = gvk(&a.api_version, &a.kind)?;
    let action = format!("scale {} {}", plural(&gvk), a.name);
    let (target, ar, scope) = resolve(ctx, &gvk, &action).await?;
    let ns = target.namespace_or_default(a.namespace.as_deref());
    let api = api(&target, &ar, &scope, Some(ns));
    let scale = match a.scale {
        // Read, then update (not patch): the verbs the tool declares in its RBAC metadata, as
        // the Go server does; the resourceVersion read makes a concurrent change a conflict.
        Some(replicas) => {
            async {
                let mut current = api.get_scale(&a.name).await?;
                current.spec.get_or_insert_default().replicas = Some(replicas);
                api.replace_scale(&a.name, &PostParams::default(), &current)
                    .await
            }
            .await
        }
        None => api.get_scale(&a.name).await,
    }
    .map_err(ToolError::api(action))?;
    Ok(yaml(&ctx.printable(&scale, "Scale")))
}

async fn resources_create_or_update(
    ctx: &ToolContext,
    args: Arguments,
) -> Result<String, ToolError> {
    #[derive(Deserialize)]
    struct Args {
        resource: String,
    }
    let a: Args = args.parse()?;
    let documents = parse_manifest(&a.resource)?;
    let mut applied = Vec::with_capacity(documents.len());
    for mut object in documents {
        let (gvk, name) = identity(&object)?;
        let kind = gvk.kind.clone();
        let action = format!("create or update {} {name}", plural(&gvk));
        let (target, ar, scope) = resolve(ctx, &gvk, &action).await?;
        // Status belongs to controllers; a model may not write it.
        if let Some(map) = object.as_object_mut() {
            map.remove("status");
        }
        let namespace = object
            .pointer("/metadata/namespace")
            .and_then(Value::as_str)
            .map(str::to_owned);
        let ns = target.namespace_or_default(namespace.as_deref()).to_owned();
        let params = PatchParams::apply(FIELD_MANAGER).force();
        let result = api(&target, &ar, &scope, Some(&ns))
            .patch(&name, &params, &Patch::Apply(&object))
            .await
            .map_err(ToolError::api(action))?;
        applied.push(ctx.printable(&result, &kind));
    }
    Ok(format!(
        "# The following resources (YAML) have been created or updated successfully\n{}",
        yaml(&Value::Array(applied))
    ))
}

/// What `resources_create_or_update` checks of a manifest before it calls the apiserver: every
/// document parses and names its kind and object. The fuzz target `manifest_yaml` drives this.
pub fn check_manifest(text: &str) -> Result<(), ToolError> {
    for object in parse_manifest(text)? {
        identity(&object)?;
    }
    Ok(())
}

/// Splits a manifest into its documents (YAML or JSON, `---` separated), skipping empty ones.
fn parse_manifest(text: &str) -> Result<Vec<Value>, ToolError> {
    let documents: Vec<Value> = serde_saphyr::from_str_multiple(text).map_err(|e| {
        ToolError::InvalidArguments(format!("resource is not valid YAML or JSON: {e}"))
    })?;
    let documents: Vec<Value> = documents.into_iter().filter(|d| !d.is_null()).collect();
    if documents.is_empty() {
        return Err(ToolError::InvalidArguments(
            "resource contains no object".into(),
        ));
    }
    Ok(documents)
}

/// The kind (from `apiVersion` and `kind`) and the name of one object of a manifest.
fn identity(object: &Value) -> Result<(GroupVersionKind, String), ToolError> {
    let field = |path: &str| {
        object
            .pointer(path)
            .and_then(Value::as_str)
            .filter(|s| !s.is_empty())
            .map(str::to_owned)
            .ok_or_else(|| ToolError::InvalidArguments(format!("every object needs {path}")))
    };
    let gvk = gvk(&field("/apiVersion")?, &field("/kind")?)?;
    Ok((gvk, field("/metadata/name")?))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn manifests_split_into_documents() {
        let docs = parse_manifest(
            "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: a}\n---\n---\n{\"apiVersion\": \"v1\", \"kind\": \"Secret\", \"metadata\": {\"name\": \"b\"}}\n",
        )
        .unwrap();
        assert_eq!(docs.len(), 2);
        assert_eq!(identity(&docs[1]).unwrap().0.kind, "Secret");
        assert!(parse_manifest("").is_err());
        assert!(parse_manifest("key: [unclosed").is_err());
        assert!(identity(&json!({"apiVersion": "v1", "kind": "Pod"})).is_err());
        assert!(
            check_manifest("apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: w}").is_ok()
        );
        assert!(
            check_manifest("apiVersion: apps/\nkind: Deployment\nmetadata: {name: w}").is_err()
        );
    }
}
