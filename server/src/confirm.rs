//! Confirmation rules at run time, as in the Go server: before a tool runs (tool-level rules) and
//! before each apiserver request a tool makes (kube-level rules, through a per-call client that
//! reads the request's verb and path), a matching rule asks the user over MCP elicitation. Accept
//! goes on; decline, cancel or a failed question stop the action with "action requires
//! confirmation". A client without the elicitation capability gets `confirmation_fallback`
//! (allow, logged; or deny). Does I/O: the elicitation round trip to the client.

use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};

use futures::future::BoxFuture;
use http::{Method, Request, Response};
use kube::Client;
use kube::client::Body;
use kube::core::{GroupVersionKind, Status};
use rmcp::RoleServer;
use rmcp::model::{ElicitRequestParams, ElicitationAction, ElicitationSchema};
use rmcp::service::{ElicitationMode, Peer};

use crate::config::confirm::{ConfirmationRules, Fallback, KubeRequest};

/// Go's answer when the user says no, or the fallback denies.
pub const DENIED: &str = "action requires confirmation";

/// Asks the user of one tool call's session.
pub struct Confirmer {
    rules: Arc<ConfirmationRules>,
    peer: Option<Peer<RoleServer>>,
    /// The kinds the call declared (group, version, plural, kind), to name the kind of a request.
    kinds: Mutex<Vec<(GroupVersionKind, String)>>,
}

impl Confirmer {
    pub fn new(rules: Arc<ConfirmationRules>, peer: Option<Peer<RoleServer>>) -> Self {
        Self {
            rules,
            peer,
            kinds: Mutex::default(),
        }
    }

    /// Whether requests must go through [`client`].
    pub fn watches_requests(&self) -> bool {
        self.rules.has_kube_rules()
    }

    /// Tool-level rules for a call of `tool`.
    pub async fn tool(&self, tool: &str, destructive: bool) -> Result<(), String> {
        match self.rules.for_tool(tool, destructive) {
            Some(message) => self.ask(message).await,
            None => Ok(()),
        }
    }

    /// Remembers that the call reaches `gvk` under `plural`, so a request to that resource is
    /// matched with its kind.
    pub fn note_kind(&self, gvk: &GroupVersionKind, plural: &str) {
        if !self.watches_requests() {
            return;
        }
        if let Ok(mut kinds) = self.kinds.lock() {
            kinds.push((gvk.clone(), plural.to_owned()));
        }
    }

    fn kind_of(&self, group: &str, version: &str, plural: &str) -> String {
        self.kinds
            .lock()
            .ok()
            .and_then(|kinds| {
                kinds
                    .iter()
                    .rev()
                    .find(|(g, p)| g.group == group && g.version == version && p == plural)
                    .map(|(g, _)| g.kind.clone())
            })
            .unwrap_or_default()
    }

    /// Kube-level rules for one apiserver request.
    async fn request(&self, method: &Method, path: &str) -> Result<(), String> {
        let Some(parts) = RequestParts::parse(method, path) else {
            return Ok(());
        };
        let kind = self.kind_of(parts.group, parts.version, parts.resource);
        let request = KubeRequest {
            verb: parts.verb,
            kind: &kind,
            group: parts.group,
            version: parts.version,
            name: parts.name,
            namespace: parts.namespace,
        };
        match self.rules.for_request(&request) {
            Some(message) => self.ask(message).await,
            None => Ok(()),
        }
    }

    async fn ask(&self, message: String) -> Result<(), String> {
        let peer = self.peer.as_ref().filter(|p| {
            p.supported_elicitation_modes()
                .contains(&ElicitationMode::Form)
        });
        let Some(peer) = peer else {
            return match self.rules.fallback {
                Fallback::Deny => Err(DENIED.to_owned()),
                Fallback::Allow => {
                    tracing::warn!(%message, "confirmation rules matched but the client does not support elicitation; proceeding (confirmation_fallback = \"allow\")");
                    Ok(())
                }
            };
        };
        let answer = peer
            .create_elicitation(ElicitRequestParams::FormElicitationParams {
                meta: None,
                message,
                requested_schema: ElicitationSchema::new(std::collections::BTreeMap::new()),
            })
            .await
            .map_err(|e| format!("{DENIED}: asking the client failed: {e}"))?;
        match answer.action {
            ElicitationAction::Accept => Ok(()),
            // Decline, cancel, and whatever a later protocol adds.
            _ => Err(DENIED.to_owned()),
        }
    }
}

/// What kube-level rules look at in an apiserver request path.
#[derive(Debug, PartialEq, Eq)]
struct RequestParts<'a> {
    verb: &'static str,
    group: &'a str,
    version: &'a str,
    namespace: &'a str,
    resource: &'a str,
    name: &'a str,
}

impl<'a> RequestParts<'a> {
    /// `/api/v1/namespaces/ns/pods/name` or `/apis/group/version/...`; `None` for discovery.
    fn parse(method: &Method, path_and_query: &'a str) -> Option<Self> {
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
        let (resource, name) = match rest {
            [] => return None,
            [resource] => (*resource, ""),
            [resource, name, ..] => (*resource, *name),
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
        Some(Self {
            verb,
            group,
            version,
            namespace,
            resource,
            name,
        })
    }
}

/// A client whose every request first passes the kube-level rules.
pub fn client(inner: &Client, confirmer: Arc<Confirmer>) -> Client {
    let namespace = inner.default_namespace().to_owned();
    Client::new(
        Confirming {
            inner: inner.clone(),
            confirmer,
        },
        namespace,
    )
}

#[derive(Clone)]
struct Confirming {
    inner: Client,
    confirmer: Arc<Confirmer>,
}

impl tower::Service<Request<Body>> for Confirming {
    type Response = Response<Body>;
    type Error = kube::Error;
    type Future = BoxFuture<'static, Result<Response<Body>, kube::Error>>;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        // The inner client waits for its own readiness in `send`.
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, request: Request<Body>) -> Self::Future {
        let inner = self.inner.clone();
        let confirmer = self.confirmer.clone();
        Box::pin(async move {
            let path = request
                .uri()
                .path_and_query()
                .map_or_else(|| request.uri().path().to_owned(), ToString::to_string);
            if let Err(message) = confirmer.request(request.method(), &path).await {
                // As the apiserver would refuse it, so the tool reports it like any refusal.
                return Err(kube::Error::Api(Box::new(
                    Status::failure(&message, "Forbidden").with_code(403),
                )));
            }
            inner.send(request).await
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn request_paths_give_the_verb_and_resource_of_go_rules() {
        let parse = |m: Method, p: &'static str| RequestParts::parse(&m, p).unwrap();
        assert_eq!(
            parse(Method::DELETE, "/api/v1/namespaces/prod/secrets/db"),
            RequestParts {
                verb: "delete",
                group: "",
                version: "v1",
                namespace: "prod",
                resource: "secrets",
                name: "db"
            }
        );
        let list = parse(Method::GET, "/apis/apps/v1/deployments?limit=200");
        assert_eq!(
            (list.verb, list.group, list.namespace),
            ("list", "apps", "")
        );
        let ns = parse(Method::GET, "/api/v1/namespaces/prod");
        assert_eq!(
            (ns.verb, ns.resource, ns.name, ns.namespace),
            ("get", "namespaces", "prod", "")
        );
        let sub = parse(Method::POST, "/api/v1/namespaces/a/pods/p/exec?command=ls");
        assert_eq!((sub.verb, sub.resource, sub.name), ("create", "pods", "p"));
        assert!(RequestParts::parse(&Method::GET, "/apis/apps/v1").is_none());
        assert!(RequestParts::parse(&Method::GET, "/version").is_none());
    }
}
