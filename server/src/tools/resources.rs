//! Generic resources of any API group, found through discovery: list, get, create-or-update
//! (server-side apply), delete, scale. The other core tools print through the same helpers.
//! Does I/O against the apiserver.

use kube::Resource as _;
use kube::api::{Api, DeleteParams, DynamicObject, ListParams, Patch, PatchParams};
use kube::core::GroupVersionKind;
use kube::discovery::{ApiResource, Scope};
use serde::Deserialize;
use serde_json::{Value, json};

use super::output::{table, tidy, yaml};
use super::{
    Arguments, Hints, ToolContext, ToolError, ToolSpec, Toolset, field_selector_property,
    label_selector_property, object_schema,
};
use std::sync::Arc;

use crate::cluster::Target;
use crate::config::ListOutput;

/// Field manager of every server-side apply this server makes.
pub const FIELD_MANAGER: &str = "kubernetes-mcp-server";

/// `apps/v1` + `Deployment` → group `apps`, version `v1`; `v1` → the core group.
pub fn gvk(api_version: &str, kind: &str) -> Result<GroupVersionKind, ToolError> {
    if kind.is_empty() {
        return Err(ToolError::InvalidArguments("kind must not be empty".into()));
    }
    match api_version.split_once('/') {
        Some((group, version)) if !group.is_empty() && !version.is_empty() => {
            Ok(GroupVersionKind::gvk(group, version, kind))
        }
        None if !api_version.is_empty() => Ok(GroupVersionKind::gvk("", api_version, kind)),
        _ => Err(ToolError::InvalidArguments(format!(
            "apiVersion {api_version:?} is not of the form v1 or group/version"
        ))),
    }
}

fn api(
    target: &Target,
    ar: &ApiResource,
    scope: &Scope,
    namespace: Option<&str>,
) -> Api<DynamicObject> {
    match (scope, namespace) {
        (Scope::Namespaced, Some(ns)) => Api::namespaced_with(target.client.clone(), ns, ar),
        _ => Api::all_with(target.client.clone(), ar),
    }
}

/// The resource name for messages, e.g. `ingresses`, as discovery would most likely call it.
fn plural(gvk: &GroupVersionKind) -> String {
    ApiResource::from_gvk(gvk).plural
}

/// Checks the deny-list, then finds the client and the API resource for `gvk`; `action` names
/// what the tool was doing in the error.
async fn resolve(
    ctx: &ToolContext,
    gvk: &GroupVersionKind,
    action: &str,
) -> Result<(Arc<Target>, ApiResource, Scope), ToolError> {
    ctx.check_allowed(gvk)?;
    let target = ctx.target().await?;
    let (ar, caps) = target.resolve(gvk).await.map_err(|e| ToolError::Failed {
        action: action.to_owned(),
        message: super::chain(&e),
    })?;
    Ok((target, ar, caps.scope))
}

/// Lists `gvk` in `namespace` (None: every namespace) as a table or YAML. When listing every
/// namespace is forbidden and no namespace was asked for, falls back to the default one.
pub async fn list(
    ctx: &ToolContext,
    gvk: &GroupVersionKind,
    namespace: Option<&str>,
    params: &ListParams,
) -> Result<String, ToolError> {
    let action = format!("list {}", plural(gvk));
    let (target, ar, scope) = resolve(ctx, gvk, &action).await?;
    let namespace = namespace.filter(|ns| !ns.is_empty());
    match list_in(ctx, &target, &ar, &scope, namespace, params).await {
        Err(kube::Error::Api(status))
            if status.code == 403 && namespace.is_none() && scope == Scope::Namespaced =>
        {
            let ns = target.default_namespace.clone();
            list_in(ctx, &target, &ar, &scope, Some(&ns), params)
                .await
                .map_err(ToolError::api(action))
        }
        other => other.map_err(ToolError::api(action)),
    }
}

async fn list_in(
    ctx: &ToolContext,
    target: &Target,
    ar: &ApiResource,
    scope: &Scope,
    namespace: Option<&str>,
    params: &ListParams,
) -> Result<String, kube::Error> {
    match ctx.list_output {
        ListOutput::Yaml => {
            let list = api(target, ar, scope, namespace).list(params).await?;
            let items: Vec<Value> = list
                .items
                .into_iter()
                .map(|o| serde_json::to_value(o).map(tidy))
                .collect::<Result<_, _>>()
                .map_err(kube::Error::SerdeError)?;
            Ok(yaml(&Value::Array(items)))
        }
        ListOutput::Table => {
            let ns = match scope {
                Scope::Namespaced => namespace,
                Scope::Cluster => None,
            };
            let url = DynamicObject::url_path(ar, ns);
            let mut request = kube::core::Request::new(url)
                .list(params)
                .map_err(kube::Error::BuildRequest)?;
            request.headers_mut().insert(
                http::header::ACCEPT,
                http::HeaderValue::from_static(
                    "application/json;as=Table;v=v1;g=meta.k8s.io,application/json",
                ),
            );
            let response: Value = target.client.request(request).await?;
            Ok(table(&response, &ar.api_version, &ar.kind))
        }
    }
}

/// One object as YAML.
pub async fn get(
    ctx: &ToolContext,
    gvk: &GroupVersionKind,
    namespace: Option<&str>,
    name: &str,
) -> Result<String, ToolError> {
    let action = format!("get {} {name}", plural(gvk));
    let (target, ar, scope) = resolve(ctx, gvk, &action).await?;
    let ns = target.namespace_or_default(namespace);
    let object = api(&target, &ar, &scope, Some(ns))
        .get(name)
        .await
        .map_err(ToolError::api(action))?;
    Ok(yaml(&tidy(
        serde_json::to_value(object).unwrap_or_default(),
    )))
}

/// Deletes one object; answers with what was deleted.
pub async fn delete(
    ctx: &ToolContext,
    gvk: &GroupVersionKind,
    namespace: Option<&str>,
    name: &str,
    grace_period_seconds: Option<u32>,
) -> Result<String, ToolError> {
    let action = format!("delete {} {name}", plural(gvk));
    let (target, ar, scope) = resolve(ctx, gvk, &action).await?;
    let ns = target.namespace_or_default(namespace);
    let params = DeleteParams {
        grace_period_seconds,
        ..DeleteParams::default()
    };
    api(&target, &ar, &scope, Some(ns))
        .delete(name, &params)
        .await
        .map_err(ToolError::api(action))?;
    Ok(match scope {
        Scope::Namespaced => format!("{} {name} deleted from namespace {ns}", gvk.kind),
        Scope::Cluster => format!("{} {name} deleted", gvk.kind),
    })
}

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
    label_selector: Option<String>,
    field_selector: Option<String>,
}

/// List parameters from optional selectors.
pub fn selectors(label: Option<&str>, field: Option<&str>) -> ListParams {
    let mut params = ListParams::default();
    if let Some(l) = label.filter(|s| !s.is_empty()) {
        params = params.labels(l);
    }
    if let Some(f) = field.filter(|s| !s.is_empty()) {
        params = params.fields(f);
    }
    params
}

async fn resources_list(ctx: &ToolContext, args: Arguments) -> Result<String, ToolError> {
    let a: ListArgs = args.parse()?;
    let gvk = gvk(&a.api_version, &a.kind)?;
    let params = selectors(a.label_selector.as_deref(), a.field_selector.as_deref());
    list(ctx, &gvk, a.namespace.as_deref(), &params).await
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
        Some(replicas) => {
            let patch = json!({"spec": {"replicas": replicas}});
            api.patch_scale(&a.name, &PatchParams::default(), &Patch::Merge(&patch))
                .await
        }
        None => api.get_scale(&a.name).await,
    }
    .map_err(ToolError::api(action))?;
    Ok(yaml(&tidy(serde_json::to_value(scale).unwrap_or_default())))
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
        let (api_version, kind, name) = identity(&object)?;
        let gvk = gvk(&api_version, &kind)?;
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
        applied.push(tidy(serde_json::to_value(result).unwrap_or_default()));
    }
    Ok(format!(
        "# The following resources (YAML) have been created or updated successfully\n{}",
        yaml(&Value::Array(applied))
    ))
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

fn identity(object: &Value) -> Result<(String, String, String), ToolError> {
    let field = |path: &str| {
        object
            .pointer(path)
            .and_then(Value::as_str)
            .filter(|s| !s.is_empty())
            .map(str::to_owned)
            .ok_or_else(|| ToolError::InvalidArguments(format!("every object needs {path}")))
    };
    Ok((
        field("/apiVersion")?,
        field("/kind")?,
        field("/metadata/name")?,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn api_versions_split_into_group_and_version() {
        let g = gvk("apps/v1", "Deployment").unwrap();
        assert_eq!((g.group.as_str(), g.version.as_str()), ("apps", "v1"));
        let g = gvk("v1", "Pod").unwrap();
        assert_eq!((g.group.as_str(), g.version.as_str()), ("", "v1"));
        assert!(gvk("", "Pod").is_err());
        assert!(gvk("apps/", "Deployment").is_err());
        assert!(gvk("v1", "").is_err());
    }

    #[test]
    fn manifests_split_into_documents() {
        let docs = parse_manifest(
            "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: a}\n---\n---\n{\"apiVersion\": \"v1\", \"kind\": \"Secret\", \"metadata\": {\"name\": \"b\"}}\n",
        )
        .unwrap();
        assert_eq!(docs.len(), 2);
        assert_eq!(identity(&docs[1]).unwrap().1, "Secret");
        assert!(parse_manifest("").is_err());
        assert!(parse_manifest("key: [unclosed").is_err());
        assert!(identity(&json!({"apiVersion": "v1", "kind": "Pod"})).is_err());
    }
}
