//! The per-call client through which a tool call's apiserver requests pass when the config asks
//! for checks at that level, as the Go server's HTTP round-tripper: kube-level
//! `confirmation_rules` (`confirm.rs`) and `validation_enabled`'s RBAC pre-check: a
//! SelfSubjectAccessReview of the request's verb and resource, refused with Go's
//! `PERMISSION_DENIED` message before the request is sent. (Go's other validator, the schema
//! check of manifests, needs nothing here: the only tool that writes a manifest the model gives
//! does so by server-side apply, which the apiserver checks against its OpenAPI schema before it
//! writes anything, whatever the setting.) Does I/O against the apiserver.

use std::sync::Arc;
use std::task::{Context, Poll};

use futures::future::BoxFuture;
use http::{Method, Request, Response};
use k8s_openapi::api::authorization::v1::{
    ResourceAttributes, SelfSubjectAccessReview, SelfSubjectAccessReviewSpec,
};
use kube::Client;
use kube::api::{Api, PostParams};
use kube::client::Body;
use kube::core::Status;

use crate::config::confirm::KubeRequest;
use crate::confirm::Confirmer;

/// The request to `/api/v1/namespaces/ns/pods/name[/sub]` or `/apis/group/version/...`
/// (its kind left empty); `None` for discovery and other paths that name no resource.
pub fn parse<'a>(method: &Method, path_and_query: &'a str) -> Option<KubeRequest<'a>> {
    let (path, query) = path_and_query
        .split_once('?')
        .unwrap_or((path_and_query, ""));
    let segments: Vec<&str> = path.trim_matches('/').split('/').collect();
    let (group, version, rest) = match segments.as_slice() {
        ["api", version, rest @ ..] => ("", *version, rest),
        ["apis", group, version, rest @ ..] => (*group, *version, rest),
        _ => return None,
    };
    let (namespace, rest) = match rest {
        ["namespaces", namespace, rest @ ..] if !rest.is_empty() => (*namespace, rest),
        rest => ("", rest),
    };
    let (resource, name, subresource) = match rest {
        [] => return None,
        [resource] => (*resource, "", ""),
        [resource, name] => (*resource, *name, ""),
        [resource, name, subresource, ..] => (*resource, *name, *subresource),
    };
    let watch = query
        .split('&')
        .any(|p| p == "watch=true" || p == "watch=1");
    let verb = match (method, name.is_empty()) {
        (&Method::GET, _) if watch => "watch",
        (&Method::GET, true) => "list",
        (&Method::GET, false) => "get",
        (&Method::POST, _) => "create",
        (&Method::PUT, _) => "update",
        (&Method::PATCH, _) => "patch",
        (&Method::DELETE, true) => "deletecollection",
        (&Method::DELETE, false) => "delete",
        _ => return None,
    };
    Some(KubeRequest {
        verb,
        kind: "",
        group,
        version,
        resource,
        subresource,
        name,
        namespace,
    })
}

/// `inner` with every request checked first: confirmation rules, and with `validate` the
/// access review.
pub fn client(inner: &Client, confirmer: Arc<Confirmer>, validate: bool) -> Client {
    let namespace = inner.default_namespace().to_owned();
    Client::new(
        Guarded {
            inner: inner.clone(),
            confirmer,
            validate,
        },
        namespace,
    )
}

#[derive(Clone)]
struct Guarded {
    inner: Client,
    confirmer: Arc<Confirmer>,
    validate: bool,
}

/// Refused as the apiserver refuses, so tools report it like any refusal.
fn refusal(message: &str, reason: &str, code: u16) -> kube::Error {
    kube::Error::Api(Box::new(Status::failure(message, reason).with_code(code)))
}

impl tower::Service<Request<Body>> for Guarded {
    type Response = Response<Body>;
    type Error = kube::Error;
    type Future = BoxFuture<'static, Result<Response<Body>, kube::Error>>;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        // The inner client waits for its own readiness in `send`.
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, request: Request<Body>) -> Self::Future {
        let this = self.clone();
        Box::pin(async move {
            let path = request
                .uri()
                .path_and_query()
                .map_or_else(|| request.uri().path().to_owned(), ToString::to_string);
            if let Some(parts) = parse(request.method(), &path) {
                if this.validate {
                    review(&this.inner, &parts).await?;
                }
                this.confirmer
                    .request(&parts)
                    .await
                    .map_err(|message| refusal(&message, "Forbidden", 403))?;
            }
            this.inner.send(request).await
        })
    }
}

/// The SelfSubjectAccessReview of the request, as whoever the client acts as.
async fn review(client: &Client, parts: &KubeRequest<'_>) -> Result<(), kube::Error> {
    let given = |s: &str| (!s.is_empty()).then(|| s.to_owned());
    let review = SelfSubjectAccessReview {
        spec: SelfSubjectAccessReviewSpec {
            resource_attributes: Some(ResourceAttributes {
                verb: Some(parts.verb.to_owned()),
                group: Some(parts.group.to_owned()),
                version: given(parts.version),
                resource: Some(parts.resource.to_owned()),
                subresource: given(parts.subresource),
                namespace: given(parts.namespace),
                name: given(parts.name),
                ..ResourceAttributes::default()
            }),
            ..SelfSubjectAccessReviewSpec::default()
        },
        ..SelfSubjectAccessReview::default()
    };
    let answer = Api::<SelfSubjectAccessReview>::all(client.clone())
        .create(&PostParams::default(), &review)
        .await?;
    if answer.status.is_some_and(|s| s.allowed) {
        return Ok(());
    }
    let resource = match (parts.group, parts.subresource) {
        ("", "") => parts.resource.to_owned(),
        ("", sub) => format!("{}/{sub}", parts.resource),
        (group, "") => format!("{}.{group}", parts.resource),
        (group, sub) => format!("{}/{sub}.{group}", parts.resource),
    };
    let scope = if parts.namespace.is_empty() {
        String::new()
    } else {
        format!(" in namespace {:?}", parts.namespace)
    };
    Err(refusal(
        &format!(
            "Validation Error [PERMISSION_DENIED]: Cannot {} {resource}{scope}",
            parts.verb
        ),
        "Forbidden",
        403,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn request_paths_give_the_verb_and_resource() {
        let parsed = |m: Method, p: &'static str| parse(&m, p).unwrap();
        assert_eq!(
            parsed(Method::DELETE, "/api/v1/namespaces/prod/secrets/db"),
            KubeRequest {
                verb: "delete",
                version: "v1",
                namespace: "prod",
                resource: "secrets",
                name: "db",
                ..KubeRequest::default()
            }
        );
        let list = parsed(Method::GET, "/apis/apps/v1/deployments?limit=200");
        assert_eq!(
            (list.verb, list.group, list.namespace),
            ("list", "apps", "")
        );
        let ns = parsed(Method::GET, "/api/v1/namespaces/prod");
        assert_eq!(
            (ns.verb, ns.resource, ns.name, ns.namespace),
            ("get", "namespaces", "prod", "")
        );
        let exec = parsed(Method::POST, "/api/v1/namespaces/a/pods/p/exec?command=ls");
        assert_eq!(
            (exec.verb, exec.resource, exec.name, exec.subresource),
            ("create", "pods", "p", "exec")
        );
        assert!(parse(&Method::GET, "/apis/apps/v1").is_none());
        assert!(parse(&Method::GET, "/version").is_none());
    }
}
