//! Cluster access: kube clients per kubeconfig context (or in-cluster), built lazily on first use
//! so that a missing or unreachable cluster is an error of the tool call, never of start-up.
//! Also resolves kinds to API resources through discovery, cached per kind. Does I/O.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;

use kube::config::{AuthInfo, KubeConfigOptions, Kubeconfig};
use kube::core::GroupVersionKind;
use kube::discovery::{ApiCapabilities, ApiResource};
use kube::{Client, Config};
use tokio::sync::{Mutex, OnceCell, RwLock};

use crate::config::ClusterProvider;

#[derive(Debug, thiserror::Error)]
pub enum ClusterError {
    #[error("no Kubernetes cluster is configured")]
    Disabled,
    #[error("cannot use the kubeconfig: {0}")]
    Kubeconfig(String),
    #[error("cannot use in-cluster credentials: {0}")]
    InCluster(String),
    #[error("context {0:?} is not in the kubeconfig")]
    UnknownContext(String),
    #[error("building the Kubernetes client: {0}")]
    Client(#[source] kube::Error),
    #[error("{}", kube_message(.0))]
    Api(#[from] kube::Error),
    #[error("cannot act as the caller: {0}")]
    Caller(String),
}

/// What the apiserver said (its Status message, e.g. `pods "x" is forbidden: …`), or the
/// error and its causes when the request never got an answer.
pub fn kube_message(error: &kube::Error) -> String {
    match error {
        kube::Error::Api(status) if !status.message.is_empty() => status.message.clone(),
        other => chain(other),
    }
}

/// An error and its causes, `a: b: c`, so that "client error (Connect)" says what failed.
pub fn chain(error: &(dyn std::error::Error + 'static)) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        let cause_text = cause.to_string();
        if !text.contains(&cause_text) {
            text = format!("{text}: {cause_text}");
        }
        source = cause.source();
    }
    text
}

/// Where credentials come from, decided once at start-up.
#[derive(Debug)]
enum Source {
    Kubeconfig(Box<Kubeconfig>),
    InCluster,
    Disabled,
    /// The kubeconfig could not be read or parsed: every call reports why.
    Broken(String),
}

type Kinds = RwLock<HashMap<GroupVersionKind, (ApiResource, ApiCapabilities)>>;

/// One context's client, its default namespace and a cache of resolved kinds.
pub struct Target {
    pub client: Client,
    pub default_namespace: String,
    kinds: Arc<Kinds>,
    credentialless: Arc<Credentialless>,
}

/// The context's connection settings without the server's credentials, and the client built
/// from them on first use (for callers who bring their own token).
struct Credentialless {
    config: Config,
    client: OnceCell<Client>,
}

impl Target {
    /// The namespace to use when a tool call names none.
    pub fn namespace_or_default<'a>(&'a self, namespace: Option<&'a str>) -> &'a str {
        match namespace {
            Some(ns) if !ns.is_empty() => ns,
            _ => &self.default_namespace,
        }
    }

    /// Resolves a kind through discovery (one request per kind, then cached). A kind that
    /// appears later, e.g. from a new CRD, is found because misses are never cached.
    pub async fn resolve(
        &self,
        gvk: &GroupVersionKind,
    ) -> Result<(ApiResource, ApiCapabilities), ClusterError> {
        if let Some(found) = self.kinds.read().await.get(gvk) {
            return Ok(found.clone());
        }
        let found = kube::discovery::pinned_kind(&self.client, gvk).await?;
        self.kinds.write().await.insert(gvk.clone(), found.clone());
        Ok(found)
    }

    /// The same context reached through `client` (one acting as a caller), sharing the
    /// discovery cache.
    #[must_use]
    pub fn through(&self, client: Client) -> Self {
        Self {
            client,
            default_namespace: self.default_namespace.clone(),
            kinds: self.kinds.clone(),
            credentialless: self.credentialless.clone(),
        }
    }

    /// A client of this context that presents no credentials of the server's (no token, no
    /// client certificate), built once and shared, so callers' tokens share its connections.
    pub async fn credentialless(&self) -> Result<Client, ClusterError> {
        let slot = &self.credentialless;
        slot.client
            .get_or_try_init(|| async { Client::try_from(slot.config.clone()) })
            .await
            .cloned()
            .map_err(ClusterError::Client)
    }
}

/// All the clusters the server can reach.
pub struct Cluster {
    source: Source,
    targets: Mutex<HashMap<String, Arc<Target>>>,
}

/// The key of the in-cluster target (it has no context name).
const IN_CLUSTER: &str = "";

impl Cluster {
    /// Finds the credentials: `--kubeconfig`, else `KUBECONFIG`, else `~/.kube/config`, else
    /// (provider `auto` or `in-cluster`) the pod's service account. Reads files, no network.
    pub fn discover(provider: ClusterProvider, kubeconfig: Option<&PathBuf>) -> Self {
        let source = match provider {
            ClusterProvider::None => Source::Disabled,
            ClusterProvider::Kcp => {
                Source::Broken("the kcp cluster provider is not supported".into())
            }
            ClusterProvider::InCluster => Source::InCluster,
            ClusterProvider::Kubeconfig | ClusterProvider::Auto | ClusterProvider::Disabled => {
                match read_kubeconfig(kubeconfig) {
                    Ok(Some(k)) => Source::Kubeconfig(Box::new(k)),
                    Ok(None) if provider != ClusterProvider::Kubeconfig => Source::InCluster,
                    Ok(None) => Source::Broken(
                        "no kubeconfig found (--kubeconfig, KUBECONFIG, ~/.kube/config)".into(),
                    ),
                    Err(e) => Source::Broken(e),
                }
            }
        };
        Self {
            source,
            targets: Mutex::default(),
        }
    }

    /// The kubeconfig, when that is where credentials come from.
    pub fn kubeconfig(&self) -> Result<&Kubeconfig, ClusterError> {
        match &self.source {
            Source::Kubeconfig(k) => Ok(k),
            Source::InCluster => Err(ClusterError::Kubeconfig(
                "the server runs with in-cluster credentials and has no kubeconfig".into(),
            )),
            Source::Disabled => Err(ClusterError::Disabled),
            Source::Broken(e) => Err(ClusterError::Kubeconfig(e.clone())),
        }
    }

    /// Whether credentials are the pod's service account.
    pub fn in_cluster(&self) -> bool {
        matches!(self.source, Source::InCluster)
    }

    /// Context names, sorted; empty without a kubeconfig.
    pub fn contexts(&self) -> Vec<String> {
        let mut names: Vec<String> = self
            .kubeconfig()
            .map(|k| k.contexts.iter().map(|c| c.name.clone()).collect())
            .unwrap_or_default();
        names.sort();
        names
    }

    pub fn current_context(&self) -> Option<String> {
        self.kubeconfig().ok()?.current_context.clone()
    }

    /// The target for `context` (None: the current context), building its client on first use.
    pub async fn target(&self, context: Option<&str>) -> Result<Arc<Target>, ClusterError> {
        let key = match (&self.source, context) {
            (Source::Kubeconfig(_), Some(c)) if !c.is_empty() => c.to_owned(),
            (Source::Kubeconfig(k), _) => k.current_context.clone().unwrap_or_default(),
            _ => IN_CLUSTER.to_owned(),
        };
        let mut targets = self.targets.lock().await;
        if let Some(t) = targets.get(&key) {
            return Ok(t.clone());
        }
        let config = self.client_config(&key).await?;
        let default_namespace = config.default_namespace.clone();
        let mut without_credentials = config.clone();
        without_credentials.auth_info = AuthInfo::default();
        let credentialless = Credentialless {
            config: without_credentials,
            client: OnceCell::new(),
        };
        let client = Client::try_from(config).map_err(ClusterError::Client)?;
        let target = Arc::new(Target {
            client,
            default_namespace,
            kinds: Arc::default(),
            credentialless: Arc::new(credentialless),
        });
        targets.insert(key, target.clone());
        Ok(target)
    }

    async fn client_config(&self, context: &str) -> Result<Config, ClusterError> {
        match &self.source {
            Source::Disabled => Err(ClusterError::Disabled),
            Source::Broken(e) => Err(ClusterError::Kubeconfig(e.clone())),
            Source::InCluster => {
                Config::incluster().map_err(|e| ClusterError::InCluster(e.to_string()))
            }
            Source::Kubeconfig(k) => {
                if !context.is_empty() && !k.contexts.iter().any(|c| c.name == context) {
                    return Err(ClusterError::UnknownContext(context.to_owned()));
                }
                let options = KubeConfigOptions {
                    context: (!context.is_empty()).then(|| context.to_owned()),
                    ..KubeConfigOptions::default()
                };
                let mut config = Config::from_custom_kubeconfig((**k).clone(), &options)
                    .await
                    .map_err(|e| ClusterError::Kubeconfig(e.to_string()))?;
                // Fail fast instead of hanging a tool call on an unreachable apiserver.
                config.connect_timeout = Some(std::time::Duration::from_secs(5));
                Ok(config)
            }
        }
    }
}

/// `Ok(None)` when no kubeconfig exists at any of the usual places.
fn read_kubeconfig(explicit: Option<&PathBuf>) -> Result<Option<Kubeconfig>, String> {
    if let Some(path) = explicit {
        return Kubeconfig::read_from(path)
            .map(Some)
            .map_err(|e| format!("{}: {e}", path.display()));
    }
    if std::env::var_os("KUBECONFIG").is_some_and(|v| !v.is_empty()) {
        return Kubeconfig::from_env().map_err(|e| format!("KUBECONFIG: {e}"));
    }
    let Some(home) = std::env::var_os("HOME") else {
        return Ok(None);
    };
    let path = PathBuf::from(home).join(".kube").join("config");
    if !path.exists() {
        return Ok(None);
    }
    Kubeconfig::read_from(&path)
        .map(Some)
        .map_err(|e| format!("{}: {e}", path.display()))
}
