//! The cluster access every toolset shares: kinds from `apiVersion` + `kind`, discovery, typed
//! APIs, list (table or YAML), get, delete, selectors, raw GETs (node proxy, metrics API) and URL
//! encoding. Every way a tool reaches the apiserver passes `denied_resources` here first (tools
//! build no `Api` and send no request of their own), and every object printed goes through
//! [`ToolContext::printable`], which redacts Secrets. Does I/O against the apiserver.

use std::fmt::Write as _;
use std::sync::Arc;

use k8s_openapi::api::core::v1::Pod;
use kube::Resource;
use kube::api::{Api, DeleteParams, DynamicObject, GetParams, ListParams, LogParams};
use kube::core::GroupVersionKind;
use kube::discovery::{ApiResource, Scope};
use serde::Deserialize;
use serde_json::Value;
use tokio_util::compat::FuturesAsyncReadCompatExt as _;

use super::bounded::read_tail;
use super::output::{Table, table, yaml};
use super::{ToolContext, ToolError};
use crate::cluster::{Target, chain};
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

/// The dynamic API of a resolved kind, namespaced when the kind is and a namespace is given.
pub fn api(
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
pub fn plural(gvk: &GroupVersionKind) -> String {
    ApiResource::from_gvk(gvk).plural
}

/// Checks the deny-list, then finds the client and the API resource for `gvk`; `action` names
/// what the tool was doing in the error.
pub async fn resolve(
    ctx: &ToolContext,
    gvk: &GroupVersionKind,
    action: &str,
) -> Result<(Arc<Target>, ApiResource, Scope), ToolError> {
    ctx.check_allowed(gvk)?;
    let target = ctx.target().await?;
    let (ar, caps) = target.resolve(gvk).await.map_err(|e| ToolError::Failed {
        action: action.to_owned(),
        message: chain(&e),
    })?;
    // Discovery's plural, which a guess from the kind may miss.
    ctx.confirm.note_kind(gvk, &ar.plural);
    Ok((target, ar, caps.scope))
}

/// The kind of a typed resource, for the deny-list.
pub fn kind_of<K: Resource<DynamicType = ()>>() -> GroupVersionKind {
    GroupVersionKind::gvk(&K::group(&()), &K::version(&()), &K::kind(&()))
}

/// Checks the deny-list, then gives the typed API of `K` in `namespace` (default: the
/// configured one) and that namespace.
pub async fn namespaced<K>(
    ctx: &ToolContext,
    namespace: Option<&str>,
) -> Result<(Api<K>, String), ToolError>
where
    K: Resource<DynamicType = (), Scope = kube::core::NamespaceResourceScope>,
{
    ctx.check_allowed(&kind_of::<K>())?;
    let target = ctx.target().await?;
    let ns = target.namespace_or_default(namespace).to_owned();
    Ok((Api::namespaced(target.client.clone(), &ns), ns))
}

/// Checks the deny-list, then gives the dynamic API of a kind whose resource name is known (a
/// CRD's, so no discovery request) in `namespace` (default: the configured one), and that
/// namespace.
pub async fn custom(
    ctx: &ToolContext,
    gvk: &GroupVersionKind,
    plural: &str,
    namespace: Option<&str>,
) -> Result<(Api<DynamicObject>, String), ToolError> {
    ctx.check_allowed(gvk)?;
    let target = ctx.target().await?;
    let ns = target.namespace_or_default(namespace).to_owned();
    let ar = ApiResource::from_gvk_with_plural(gvk, plural);
    Ok((Api::namespaced_with(target.client.clone(), &ns, &ar), ns))
}

/// A container's log as `params` asks for it, keeping only its last `cap` bytes; `true` when
/// older bytes were dropped.
pub async fn container_log(
    pods: &Api<Pod>,
    pod: &str,
    params: &LogParams,
    cap: Option<usize>,
) -> Result<(Vec<u8>, bool), ToolError> {
    let action = format!("get log of pod {pod}");
    let stream = pods
        .log_stream(pod, params)
        .await
        .map_err(ToolError::api(action.clone()))?;
    read_tail(stream.compat(), cap)
        .await
        .map_err(|e| ToolError::Failed {
            action,
            message: e.to_string(),
        })
}

/// Checks the deny-list, then gives the typed API of `K` across every namespace.
pub async fn everywhere<K: Resource<DynamicType = ()>>(
    ctx: &ToolContext,
) -> Result<Api<K>, ToolError> {
    ctx.check_allowed(&kind_of::<K>())?;
    Ok(Api::all(ctx.target().await?.client.clone()))
}

/// How a list tool narrows a list and where it resumes: its selectors and the apiserver's
/// `continue` token of the page before. Every field optional.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Selection {
    pub label_selector: Option<String>,
    pub field_selector: Option<String>,
    #[serde(rename = "continue")]
    pub continue_token: Option<String>,
}

impl Selection {
    /// The apiserver's list parameters, at most `limit` objects.
    fn params(&self, limit: Option<u32>) -> ListParams {
        let given = |s: &Option<String>| s.clone().filter(|s| !s.is_empty());
        ListParams {
            label_selector: given(&self.label_selector),
            field_selector: given(&self.field_selector),
            continue_token: given(&self.continue_token),
            limit,
            ..ListParams::default()
        }
    }
}

/// Lists `gvk` in `namespace` (None: every namespace) as a table or YAML, one page of at most
/// `max_list_page_size` objects (the apiserver's `limit`, so a huge list is never held whole);
/// a page with more after it says so first, with the `continue` token that reads the next one.
/// When listing every namespace is forbidden and no namespace was asked for, falls back to the
/// default one.
pub async fn list(
    ctx: &ToolContext,
    gvk: &GroupVersionKind,
    namespace: Option<&str>,
    selection: &Selection,
) -> Result<String, ToolError> {
    let action = format!("list {}", plural(gvk));
    let (target, ar, scope) = resolve(ctx, gvk, &action).await?;
    let namespace = namespace.filter(|ns| !ns.is_empty());
    let params = selection.params(ctx.limits.max_list_page_size);
    let (text, page) = match list_in(ctx, &target, &ar, &scope, namespace, &params).await {
        Err(kube::Error::Api(status))
            if status.code == 403 && namespace.is_none() && scope == Scope::Namespaced =>
        {
            let ns = target.default_namespace.clone();
            list_in(ctx, &target, &ar, &scope, Some(&ns), &params)
                .await
                .map_err(ToolError::api(action))
        }
        other => other.map_err(ToolError::api(action)),
    }?;
    Ok(match page.next {
        Some(token) => format!("{}\n{text}", cut_list_note(&token, page.remaining)),
        None => text,
    })
}

/// The apiserver's token for the rest of a list, if it holds more than this page, and how many
/// more objects if it said.
#[derive(Debug, Default)]
struct Page {
    next: Option<String>,
    remaining: Option<i64>,
}

impl Page {
    fn of(meta: &kube::core::ListMeta) -> Self {
        Self {
            next: meta.continue_.clone().filter(|c| !c.is_empty()),
            remaining: meta.remaining_item_count,
        }
    }
}

/// A list as the apiserver sends it, its items kept as JSON to print.
#[derive(serde::Deserialize)]
struct JsonList {
    #[serde(default)]
    metadata: kube::core::ListMeta,
    items: Option<Vec<Value>>,
}

/// What the model reads first when a list stopped at `max_list_page_size`: how much is left,
/// how to read it and how to need less of it.
fn cut_list_note(next: &str, remaining: Option<i64>) -> String {
    let more = remaining.map_or_else(|| "more".to_owned(), |n| format!("{n} more"));
    format!(
        "[list truncated at max_list_page_size: the cluster has {more}. For the next page call this tool again with the same arguments and \"continue\": \"{next}\"; or narrow the list with a namespace, a labelSelector or a fieldSelector]"
    )
}

async fn list_in(
    ctx: &ToolContext,
    target: &Target,
    ar: &ApiResource,
    scope: &Scope,
    namespace: Option<&str>,
    params: &ListParams,
) -> Result<(String, Page), kube::Error> {
    let mut request = kube::core::Request::new(url(ar, scope, namespace))
        .list(params)
        .map_err(kube::Error::BuildRequest)?;
    match ctx.list_output {
        ListOutput::Yaml => {
            let list: JsonList = target.client.request(request).await?;
            let items: Vec<Value> = list
                .items
                .unwrap_or_default()
                .into_iter()
                .map(|o| ctx.printable_json(o, &ar.kind))
                .collect();
            Ok((yaml(&Value::Array(items)), Page::of(&list.metadata)))
        }
        ListOutput::Table => {
            request.headers_mut().insert(
                http::header::ACCEPT,
                http::HeaderValue::from_static(
                    "application/json;as=Table;v=v1;g=meta.k8s.io,application/json",
                ),
            );
            // Typed: only what is printed is kept (see `Table`), so a Secret's metadata is
            // never held, and nothing of it needs redacting.
            let response: Table = target.client.request(request).await?;
            Ok((
                table(&response, &ar.api_version, &ar.kind),
                Page::of(&response.metadata),
            ))
        }
    }
}

/// The path of `ar`'s objects, in `namespace` when the kind is namespaced and one is given.
fn url(ar: &ApiResource, scope: &Scope, namespace: Option<&str>) -> String {
    let namespace = match scope {
        Scope::Namespaced => namespace,
        Scope::Cluster => None,
    };
    DynamicObject::url_path(ar, namespace)
}

/// One object as YAML. Read as the apiserver's JSON and printed from it: a typed
/// `DynamicObject` would be parsed, then copied back into JSON to print.
pub async fn get(
    ctx: &ToolContext,
    gvk: &GroupVersionKind,
    namespace: Option<&str>,
    name: &str,
) -> Result<String, ToolError> {
    let action = format!("get {} {name}", plural(gvk));
    let (target, ar, scope) = resolve(ctx, gvk, &action).await?;
    let ns = target.namespace_or_default(namespace);
    let object: Value = match kube::core::Request::new(url(&ar, &scope, Some(ns)))
        .get(name, &GetParams::default())
    {
        Ok(request) => target.client.request(request).await,
        Err(e) => Err(kube::Error::BuildRequest(e)),
    }
    .map_err(ToolError::api(action))?;
    Ok(yaml(&ctx.printable_json(object, &ar.kind)))
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

/// GET of a raw apiserver path (node proxy, metrics API), as text, after checking the kinds
/// it `touches` against the deny-list.
pub async fn get_raw(
    ctx: &ToolContext,
    touches: &[GroupVersionKind],
    path: &str,
    action: &str,
) -> Result<String, ToolError> {
    raw_text(ctx, touches, http::Request::get(path), Vec::new(), action).await
}

/// A JSON `body` sent with `method` to a raw apiserver path (a KubeVirt subresource such as
/// `pause`, virt-template's `create`), after checking the kinds it `touches` against the
/// deny-list.
pub async fn send_raw(
    ctx: &ToolContext,
    touches: &[GroupVersionKind],
    method: http::Method,
    path: &str,
    body: &serde_json::Value,
    action: &str,
) -> Result<String, ToolError> {
    let request = http::Request::builder()
        .method(method)
        .uri(path)
        .header(http::header::CONTENT_TYPE, "application/json");
    raw_text(ctx, touches, request, body.to_string().into_bytes(), action).await
}

/// The answer, as text, to the request `builder` makes with `body`.
async fn raw_text(
    ctx: &ToolContext,
    touches: &[GroupVersionKind],
    builder: http::request::Builder,
    body: Vec<u8>,
    action: &str,
) -> Result<String, ToolError> {
    let (target, mut request) = raw_request(ctx, touches, builder, action).await?;
    *request.body_mut() = body;
    target
        .client
        .request_text(request)
        .await
        .map_err(ToolError::api(action))
}

/// GET of a raw apiserver path read as a stream, keeping only its last `cap` bytes (a node's
/// log, which no one bounds for us); `true` when older bytes were dropped.
pub async fn get_raw_tail(
    ctx: &ToolContext,
    touches: &[GroupVersionKind],
    path: &str,
    action: &str,
    cap: Option<usize>,
) -> Result<(Vec<u8>, bool), ToolError> {
    let (target, request) = raw_request(ctx, touches, http::Request::get(path), action).await?;
    let stream = target
        .client
        .request_stream(request)
        .await
        .map_err(ToolError::api(action))?;
    read_tail(stream.compat(), cap)
        .await
        .map_err(|e| ToolError::Failed {
            action: action.to_owned(),
            message: e.to_string(),
        })
}

/// The deny-list checked for `touches`, then the target cluster and the request `builder` makes.
async fn raw_request(
    ctx: &ToolContext,
    touches: &[GroupVersionKind],
    builder: http::request::Builder,
    action: &str,
) -> Result<(Arc<Target>, http::Request<Vec<u8>>), ToolError> {
    for gvk in touches {
        ctx.check_allowed(gvk)?;
    }
    let target = ctx.target().await?;
    let request = builder.body(Vec::new()).map_err(|e| ToolError::Failed {
        action: action.to_owned(),
        message: e.to_string(),
    })?;
    Ok((target, request))
}

/// GET from the metrics API, with a clear message when metrics-server is not installed, and an
/// error, not an empty table, when what came back is not metrics.
pub async fn metrics_api(
    ctx: &ToolContext,
    touches: &[GroupVersionKind],
    path: &str,
    action: &str,
) -> Result<Value, ToolError> {
    let text = unless_not_served(
        get_raw(ctx, touches, path, action).await,
        action,
        |status| {
            format!(
                "the metrics API (metrics.k8s.io) is not available in this cluster; install metrics-server ({status})"
            )
        },
    )?;
    metrics_body(&text).map_err(|message| ToolError::Failed {
        action: action.to_owned(),
        message,
    })
}

/// `result`, but a 404 from the apiserver (an aggregated API nobody registered) becomes a
/// failure whose message, made by `hint` from the apiserver's, says what to install.
pub fn unless_not_served<T>(
    result: Result<T, ToolError>,
    action: &str,
    hint: impl FnOnce(&str) -> String,
) -> Result<T, ToolError> {
    match result {
        Err(ToolError::Api {
            source: kube::Error::Api(status),
            ..
        }) if status.code == 404 => Err(ToolError::Failed {
            action: action.to_owned(),
            message: hint(&status.message),
        }),
        other => other,
    }
}

/// The metrics API's answer as JSON, if it is a `…Metrics` object or list; else why not, with
/// the start of the body, for whoever operates metrics-server.
fn metrics_body(text: &str) -> Result<Value, String> {
    let start: String = text.chars().take(200).collect();
    let value: Value = serde_json::from_str(text).map_err(|e| {
        format!("the metrics API answered with a body that is not JSON ({e}): {start:?}")
    })?;
    let kind = value.get("kind").and_then(Value::as_str).unwrap_or("");
    if kind.ends_with("Metrics") || kind.ends_with("MetricsList") {
        Ok(value)
    } else {
        Err(format!(
            "the metrics API answered with JSON that is not node or pod metrics (kind {kind:?}): {start:?}"
        ))
    }
}

/// The items of a list, or the object itself when it is a single one.
pub fn items(value: &Value) -> Vec<&Value> {
    match value.get("items").and_then(Value::as_array) {
        Some(items) => items.iter().collect(),
        None if value.is_object() => vec![value],
        None => Vec::new(),
    }
}

/// Percent-encodes a path segment or query value.
pub fn encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
            out.push(char::from(b));
        } else {
            let _ = write!(out, "%{b:02X}");
        }
    }
    out
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
    fn a_cut_list_says_how_much_is_left_and_how_to_narrow_it() {
        insta::assert_snapshot!(cut_list_note("eyJydiI6MX0", Some(1800)), @r#"[list truncated at max_list_page_size: the cluster has 1800 more. For the next page call this tool again with the same arguments and "continue": "eyJydiI6MX0"; or narrow the list with a namespace, a labelSelector or a fieldSelector]"#);
        assert!(cut_list_note("t", None).contains("the cluster has more."));
    }

    #[test]
    fn a_metrics_body_that_is_not_metrics_is_an_error_not_an_empty_table() {
        let list = r#"{"kind":"NodeMetricsList","items":[]}"#;
        assert_eq!(metrics_body(list).unwrap()["kind"], "NodeMetricsList");
        assert!(metrics_body(r#"{"kind":"PodMetrics","containers":[]}"#).is_ok());
        let html = metrics_body("<html>502 Bad Gateway</html>").unwrap_err();
        assert!(
            html.starts_with("the metrics API answered with a body that is not JSON")
                && html.contains("502 Bad Gateway"),
            "{html}"
        );
        let other = metrics_body(r#"{"kind":"Status","status":"Failure"}"#).unwrap_err();
        assert!(
            other.contains(r#"not node or pod metrics (kind "Status")"#),
            "{other}"
        );
        assert!(metrics_body("[]").is_err());
    }

    #[test]
    fn a_selection_gives_only_what_was_asked_for() {
        let asked: Selection = serde_json::from_value(serde_json::json!({
            "labelSelector": "app=web", "fieldSelector": "", "continue": "eyJydiI6MX0"
        }))
        .unwrap();
        let params = asked.params(Some(200));
        assert_eq!(params.label_selector.as_deref(), Some("app=web"));
        assert_eq!(params.field_selector, None);
        assert_eq!(params.continue_token.as_deref(), Some("eyJydiI6MX0"));
        assert_eq!(params.limit, Some(200));
        assert_eq!(Selection::default().params(None).limit, None);
    }

    #[test]
    fn encoding_escapes_what_a_url_cannot_hold() {
        assert_eq!(encode("app=web,tier!=db"), "app%3Dweb%2Ctier%21%3Ddb");
        assert_eq!(encode("node-1.local"), "node-1.local");
    }
}
