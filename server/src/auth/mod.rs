//! Who may call this server, and as whom its tool calls act. With `require_oauth`, every request
//! to `/mcp`, `/sse` and `/message` carries `Authorization: Bearer TOKEN`; the apiserver says
//! whose token it is (TokenReview, for `oauth_audience`) and whether that caller may use this
//! server (SubjectAccessReview on `[authorization]`'s McpServer). The [`Caller`] then rides
//! with the request to the tool call, which acts as the server, as the caller's token
//! (`passthrough`) or as the server impersonating the caller (`impersonate`).
//!
//! Decisions are cached per token for [`DECISION_TTL`] (10 s) in at most [`DECISION_ENTRIES`]
//! entries, keyed by the token's SHA-256, never the token: a revoked token, a deleted
//! ServiceAccount or a removed RoleBinding keeps working for at most 10 s, and a new grant takes
//! as long to be seen. Failed reviews (apiserver unreachable) are never cached. Does I/O through
//! the review modules.

mod access_review;
mod cache;
pub mod http;
pub mod impersonate;
mod token_review;

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::config::auth::{AccessRule, AuthSettings, ClusterAuthMode};
use cache::{Digest, TtlCache};

use crate::cluster::{Cluster, ClusterError};

/// How long a review's answer is reused (also the longest a revoked token keeps working).
pub const DECISION_TTL: Duration = Duration::from_secs(10);
/// How many tokens' decisions are remembered; the oldest goes first.
pub const DECISION_ENTRIES: usize = 4096;

/// The user a token belongs to, as the TokenReview names it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Identity {
    pub username: String,
    pub uid: String,
    pub groups: Vec<String>,
    pub extra: BTreeMap<String, Vec<String>>,
}

/// A bearer token; never printed.
#[derive(Clone)]
pub struct BearerToken(Arc<str>);

impl BearerToken {
    pub fn reveal(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for BearerToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("BearerToken(..)")
    }
}

/// An admitted caller, handed from the HTTP layer to the tool call in request extensions.
#[derive(Debug, Clone)]
pub struct Caller {
    pub identity: Arc<Identity>,
    pub mode: ClusterAuthMode,
    /// The caller's own token, kept only in `passthrough` mode.
    token: Option<BearerToken>,
}

impl Caller {
    /// The caller's own token (`passthrough` mode only), for a tool that hands it to a
    /// subprocess.
    pub fn token(&self) -> Option<&BearerToken> {
        self.token.as_ref()
    }
}

#[cfg(test)]
impl Caller {
    pub fn for_test(identity: Identity, mode: ClusterAuthMode) -> Self {
        Self {
            identity: Arc::new(identity),
            mode,
            token: None,
        }
    }
}

/// Why a request is refused.
#[derive(Debug)]
pub enum Refusal {
    /// 401: no token, or one the apiserver does not accept for the audience.
    Unauthenticated(String),
    /// 403: authenticated, but not allowed the access rule.
    Forbidden { username: String, rule: AccessRule },
    /// 503: the apiserver could not be asked.
    Unavailable(ReviewError),
}

#[derive(Debug, thiserror::Error)]
pub enum ReviewError {
    #[error("no cluster to review callers with: {0}")]
    Cluster(#[from] ClusterError),
    #[error("cannot create {review}: {}", crate::cluster::kube_message(.source))]
    Api {
        review: &'static str,
        #[source]
        source: kube::Error,
    },
}

/// A cached answer: the identity, or why the token was refused.
#[derive(Clone)]
enum Decision {
    Admitted(Arc<Identity>),
    Unauthenticated(String),
    Forbidden { username: String, rule: AccessRule },
}

pub struct Authenticator {
    settings: AuthSettings,
    cluster: Arc<Cluster>,
    decisions: Mutex<TtlCache<Decision>>,
}

impl Authenticator {
    /// Also says at start-up whom the server admits.
    pub fn new(settings: AuthSettings, cluster: Arc<Cluster>) -> Self {
        let mode = settings.mode.as_str();
        match &settings.access {
            None => tracing::warn!(
                audience = %settings.audience,
                cluster_auth_mode = mode,
                "require_oauth without [authorization]: every caller the apiserver authenticates \
                 for the audience is admitted"
            ),
            Some(rule) => tracing::info!(
                audience = %settings.audience,
                cluster_auth_mode = mode,
                "callers need {}",
                rule.describe()
            ),
        }
        Self {
            settings,
            cluster,
            decisions: Mutex::new(TtlCache::new(DECISION_TTL, DECISION_ENTRIES)),
        }
    }

    pub fn settings(&self) -> &AuthSettings {
        &self.settings
    }

    /// The caller `token` belongs to, if the apiserver authenticates it for our audience and
    /// (with an access rule) allows it the rule's verb.
    pub async fn admit(&self, token: &str) -> Result<Caller, Refusal> {
        let key = Digest::of(token);
        let cached = self.decisions().get(&key, Instant::now());
        let decision = if let Some(decision) = cached {
            decision
        } else {
            let decision = self.decide(token).await.map_err(Refusal::Unavailable)?;
            self.decisions()
                .insert(key, decision.clone(), Instant::now());
            decision
        };
        match decision {
            Decision::Admitted(identity) => Ok(Caller {
                identity,
                mode: self.settings.mode,
                token: (self.settings.mode == ClusterAuthMode::Passthrough)
                    .then(|| BearerToken(token.into())),
            }),
            Decision::Unauthenticated(reason) => Err(Refusal::Unauthenticated(reason)),
            Decision::Forbidden { username, rule } => Err(Refusal::Forbidden { username, rule }),
        }
    }

    async fn decide(&self, token: &str) -> Result<Decision, ReviewError> {
        // Reviews are the server's own business: its credentials, its default context.
        let client = self.cluster.target(None).await?.client.clone();
        let identity = match token_review::review(&client, token, &self.settings.audience).await? {
            Ok(identity) => identity,
            Err(reason) => return Ok(Decision::Unauthenticated(reason)),
        };
        if let Some(rule) = &self.settings.access
            && !access_review::review(&client, &identity, rule).await?
        {
            return Ok(Decision::Forbidden {
                username: identity.username,
                rule: rule.clone(),
            });
        }
        Ok(Decision::Admitted(Arc::new(identity)))
    }

    fn decisions(&self) -> std::sync::MutexGuard<'_, TtlCache<Decision>> {
        // Each critical section is one map operation: a panic cannot leave it half-done.
        self.decisions
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}
