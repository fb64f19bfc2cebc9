//! The kubeconfig `helm` is given: the server's own cluster identity for the tool call's
//! context, never whatever `~/.kube/config` the host has. From the server's kubeconfig, only the
//! chosen context's cluster and user; in-cluster, the pod's service account (API server from
//! `KUBERNETES_SERVICE_HOST`/`_PORT`, the mounted CA and token file, which helm re-reads as it
//! rotates). When the server acts as its callers, the user is the caller: impersonated
//! (`as`, `as-uid`, `as-groups`, `as-user-extra`) or their own token (passthrough). Pure apart
//! from reading two environment variables in-cluster.

use kube::config::Kubeconfig;
use serde_json::{Value, json};

use super::super::{ToolContext, ToolError};
use crate::auth::Caller;
use crate::cluster::ClusterError;
use crate::config::auth::ClusterAuthMode;

/// The service account files every pod gets (the paths client-go and kube-rs read).
const SA_DIR: &str = "/var/run/secrets/kubernetes.io/serviceaccount";

/// The one context of the kubeconfig written for helm.
pub const CONTEXT: &str = "kubernetes-mcp-server";

/// The kubeconfig for this call, as JSON (which every kubeconfig reader takes).
pub fn kubeconfig(ctx: &ToolContext) -> Result<Value, ToolError> {
    let (cluster, user) = if ctx.cluster.in_cluster() {
        in_cluster(
            std::env::var("KUBERNETES_SERVICE_HOST").ok(),
            std::env::var("KUBERNETES_SERVICE_PORT").ok(),
        )?
    } else {
        from_kubeconfig(ctx.cluster.kubeconfig()?, ctx.context.as_deref())?
    };
    let user = match &ctx.caller {
        Some(caller) => as_caller(user, caller)?,
        None => user,
    };
    Ok(json!({
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": CONTEXT, "cluster": cluster}],
        "users": [{"name": CONTEXT, "user": user}],
        "contexts": [{"name": CONTEXT, "context": {"cluster": CONTEXT, "user": CONTEXT}}],
        "current-context": CONTEXT,
    }))
}

fn in_cluster(host: Option<String>, port: Option<String>) -> Result<(Value, Value), ToolError> {
    let (Some(host), Some(port)) = (host, port) else {
        return Err(ClusterError::InCluster(
            "KUBERNETES_SERVICE_HOST and KUBERNETES_SERVICE_PORT are not set".into(),
        )
        .into());
    };
    let host = if host.contains(':') {
        format!("[{host}]")
    } else {
        host
    };
    Ok((
        json!({"server": format!("https://{host}:{port}"), "certificate-authority": format!("{SA_DIR}/ca.crt")}),
        json!({"tokenFile": format!("{SA_DIR}/token")}),
    ))
}

/// The cluster and user of `context` (None: the current context) as the kubeconfig has them
/// (kube-rs made their file paths absolute when it read the file).
fn from_kubeconfig(k: &Kubeconfig, context: Option<&str>) -> Result<(Value, Value), ToolError> {
    let name = context
        .filter(|c| !c.is_empty())
        .map(str::to_owned)
        .or_else(|| k.current_context.clone())
        .ok_or_else(|| ClusterError::Kubeconfig("the kubeconfig has no current context".into()))?;
    let found = k
        .contexts
        .iter()
        .find(|c| c.name == name)
        .and_then(|c| c.context.as_ref())
        .ok_or_else(|| ClusterError::UnknownContext(name.clone()))?;
    let cluster = k
        .clusters
        .iter()
        .find(|c| c.name == found.cluster)
        .and_then(|c| c.cluster.as_ref())
        .ok_or_else(|| {
            ClusterError::Kubeconfig(format!(
                "context {name} names cluster {:?}, which the kubeconfig does not define",
                found.cluster
            ))
        })?;
    let user = found
        .user
        .as_ref()
        .and_then(|u| k.auth_infos.iter().find(|a| a.name == *u))
        .and_then(|a| a.auth_info.as_ref());
    let to_json = |v: serde_json::Result<Value>| {
        v.map_err(|e| ToolError::Failed {
            action: "write a kubeconfig for helm".into(),
            message: e.to_string(),
        })
    };
    Ok((
        to_json(serde_json::to_value(cluster))?,
        match user {
            Some(u) => to_json(serde_json::to_value(u))?,
            None => json!({}),
        },
    ))
}

/// `user` turned into the caller, as the server's own requests are for this call.
fn as_caller(mut user: Value, caller: &Caller) -> Result<Value, ToolError> {
    let identity = &caller.identity;
    match caller.mode {
        ClusterAuthMode::Kubeconfig => {}
        ClusterAuthMode::Impersonate => {
            user["as"] = json!(identity.username);
            if !identity.uid.is_empty() {
                user["as-uid"] = json!(identity.uid);
            }
            if !identity.groups.is_empty() {
                user["as-groups"] = json!(identity.groups);
            }
            if !identity.extra.is_empty() {
                user["as-user-extra"] = json!(identity.extra);
            }
        }
        ClusterAuthMode::Passthrough => {
            let token = caller.token().ok_or_else(|| {
                ClusterError::Caller("passthrough needs the caller's token".into())
            })?;
            // Only the token: a client certificate of the server's would win over it.
            user = json!({"token": token.reveal()});
        }
    }
    Ok(user)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::auth::Identity;

    const KUBECONFIG: &str = r"
apiVersion: v1
kind: Config
current-context: a
clusters:
- name: ca
  cluster: {server: https://a.example:6443, certificate-authority: /abs/ca.crt}
- name: cb
  cluster: {server: https://b.example:6443}
users:
- name: ua
  user: {client-certificate: /abs/a.crt, client-key: /abs/a.key}
- name: ub
  user: {token: secret-b}
contexts:
- name: a
  context: {cluster: ca, user: ua, namespace: apps}
- name: b
  context: {cluster: cb, user: ub}
";

    #[test]
    fn only_the_chosen_context_is_written() {
        let k = Kubeconfig::from_yaml(KUBECONFIG).unwrap();
        let (cluster, user) = from_kubeconfig(&k, None).unwrap();
        assert_eq!(cluster["server"], "https://a.example:6443");
        assert_eq!(cluster["certificate-authority"], "/abs/ca.crt");
        assert_eq!(user["client-key"], "/abs/a.key");
        let (cluster, user) = from_kubeconfig(&k, Some("b")).unwrap();
        assert_eq!(cluster["server"], "https://b.example:6443");
        assert_eq!(user, json!({"token": "secret-b"}));
        let err = from_kubeconfig(&k, Some("c")).unwrap_err().to_string();
        assert!(err.contains('c'), "{err}");
    }

    #[test]
    fn in_cluster_is_the_service_account() {
        let (cluster, user) = in_cluster(Some("fd00::1".into()), Some("443".into())).unwrap();
        assert_eq!(cluster["server"], "https://[fd00::1]:443");
        assert_eq!(user["tokenFile"], format!("{SA_DIR}/token"));
        assert!(in_cluster(None, Some("443".into())).is_err());
    }

    #[test]
    fn an_impersonating_server_makes_helm_impersonate_too() {
        let identity = Identity {
            username: "alice".into(),
            uid: "u-1".into(),
            groups: vec!["devs".into()],
            extra: [("scopes".to_owned(), vec!["read".to_owned()])].into(),
        };
        let caller = Caller::for_test(identity, ClusterAuthMode::Impersonate);
        let user = as_caller(json!({"token": "server"}), &caller).unwrap();
        assert_eq!(
            user,
            json!({"token": "server", "as": "alice", "as-uid": "u-1", "as-groups": ["devs"], "as-user-extra": {"scopes": ["read"]}})
        );
        let passthrough = Caller::for_test(Identity::default(), ClusterAuthMode::Passthrough);
        assert!(as_caller(json!({}), &passthrough).is_err());
    }
}
