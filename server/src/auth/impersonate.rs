//! Tool calls as the caller. A call gets a kube [`Client`] whose every request carries the
//! caller's identity: `Impersonate-User/-Uid/-Group/-Extra-*` from the TokenReview over the
//! server's own client (`impersonate`), or the caller's bearer token over a client of the same
//! context without the server's credentials (`passthrough`; a client certificate would otherwise
//! win over the token at the apiserver). Either way the per-call client is a thin tower service
//! over a shared client, so every call reuses one connection pool. No I/O of its own.

use std::sync::Arc;
use std::task::{Context, Poll};

use futures::future::BoxFuture;
use http::header::{AUTHORIZATION, HeaderName, HeaderValue};
use http::{HeaderMap, Request, Response};
use kube::Client;
use kube::client::Body;

use super::{Caller, Identity};
use crate::cluster::{ClusterError, Target};
use crate::config::auth::ClusterAuthMode;

/// The target a tool call of `caller` runs against: `base` itself in `kubeconfig` mode, else the
/// same context (and discovery cache) through a client that acts as the caller.
pub async fn target_for(caller: &Caller, base: &Arc<Target>) -> Result<Arc<Target>, ClusterError> {
    let client = match caller.mode {
        ClusterAuthMode::Kubeconfig => return Ok(base.clone()),
        ClusterAuthMode::Impersonate => {
            with_headers(&base.client, impersonation_headers(&caller.identity)?)
        }
        ClusterAuthMode::Passthrough => {
            let token = caller.token.as_ref().ok_or_else(|| {
                ClusterError::Caller("passthrough needs the caller's token".into())
            })?;
            with_headers(
                &base.credentialless().await?,
                bearer_headers(token.reveal())?,
            )
        }
    };
    Ok(Arc::new(base.through(client)))
}

/// The `Impersonate-*` headers naming `identity` (extra keys percent-encoded as client-go does).
pub fn impersonation_headers(identity: &Identity) -> Result<HeaderMap, ClusterError> {
    let mut headers = HeaderMap::new();
    headers.append("impersonate-user", value(&identity.username)?);
    if !identity.uid.is_empty() {
        headers.append("impersonate-uid", value(&identity.uid)?);
    }
    for group in &identity.groups {
        headers.append("impersonate-group", value(group)?);
    }
    for (key, values) in &identity.extra {
        let name = HeaderName::try_from(format!("impersonate-extra-{}", escape_extra_key(key)))
            .map_err(|e| ClusterError::Caller(format!("extra {key:?}: {e}")))?;
        for v in values {
            headers.append(name.clone(), value(v)?);
        }
    }
    Ok(headers)
}

fn bearer_headers(token: &str) -> Result<HeaderMap, ClusterError> {
    let mut bearer = value(&format!("Bearer {token}"))
        .map_err(|_| ClusterError::Caller("the bearer token is not a valid header value".into()))?;
    bearer.set_sensitive(true);
    Ok(HeaderMap::from_iter([(AUTHORIZATION, bearer)]))
}

fn value(text: &str) -> Result<HeaderValue, ClusterError> {
    HeaderValue::from_str(text)
        .map_err(|_| ClusterError::Caller(format!("{text:?} is not a valid header value")))
}

/// Percent-encodes what may not appear in a header name (and `%` itself), as the apiserver
/// decodes `Impersonate-Extra-` keys.
fn escape_extra_key(key: &str) -> String {
    const TOKEN: &[u8] = b"!#$&'*+-.^_`|~";
    key.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || TOKEN.contains(&b) {
                char::from(b).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

/// A client whose requests get `headers` (replacing any of the same name) and then go through
/// `inner`, sharing its connection pool.
fn with_headers(inner: &Client, headers: HeaderMap) -> Client {
    let namespace = inner.default_namespace().to_owned();
    Client::new(
        WithHeaders {
            inner: inner.clone(),
            headers: Arc::new(headers),
        },
        namespace,
    )
}

#[derive(Clone)]
struct WithHeaders {
    inner: Client,
    headers: Arc<HeaderMap>,
}

impl tower::Service<Request<Body>> for WithHeaders {
    type Response = Response<Body>;
    type Error = kube::Error;
    type Future = BoxFuture<'static, Result<Response<Body>, kube::Error>>;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        // The inner client waits for its own readiness in `send`.
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, mut request: Request<Body>) -> Self::Future {
        let target = request.headers_mut();
        for name in self.headers.keys() {
            target.remove(name);
        }
        for (name, value) in self.headers.iter() {
            target.append(name.clone(), value.clone());
        }
        let inner = self.inner.clone();
        Box::pin(async move { inner.send(request).await })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn impersonation_names_user_uid_groups_and_extras() {
        let identity = Identity {
            username: "system:serviceaccount:team:agent".into(),
            uid: "u-1".into(),
            groups: vec![
                "system:serviceaccounts".into(),
                "system:authenticated".into(),
            ],
            extra: [(
                "authentication.kubernetes.io/pod-name".to_owned(),
                vec!["agent-0".to_owned()],
            )]
            .into(),
        };
        let headers = impersonation_headers(&identity).unwrap();
        assert_eq!(
            headers["impersonate-user"],
            "system:serviceaccount:team:agent"
        );
        assert_eq!(headers["impersonate-uid"], "u-1");
        let groups: Vec<_> = headers.get_all("impersonate-group").iter().collect();
        assert_eq!(groups, ["system:serviceaccounts", "system:authenticated"]);
        assert_eq!(
            headers["impersonate-extra-authentication.kubernetes.io%2Fpod-name"],
            "agent-0"
        );
    }

    #[test]
    fn extra_keys_are_escaped_like_client_go() {
        assert_eq!(escape_extra_key("scopes"), "scopes");
        assert_eq!(escape_extra_key("a/b c%"), "a%2Fb%20c%25");
    }

    #[test]
    fn a_header_breaking_value_is_an_error_not_a_silent_drop() {
        let identity = Identity {
            username: "evil\nname".into(),
            ..Identity::default()
        };
        assert!(impersonation_headers(&identity).is_err());
        let bearer = bearer_headers("tok").unwrap();
        assert!(bearer[AUTHORIZATION].is_sensitive());
    }
}
