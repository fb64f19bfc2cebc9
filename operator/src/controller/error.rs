//! What can go wrong in a reconcile: one variant per pipeline step, naming the object, with the
//! cause as its source; and the one `reason()` that feeds the error metric label, the Warning
//! Event and the Degraded condition; and whether it stalls the McpServer. Pure.

use kube::runtime::finalizer;

use crate::validate::ValidationError;

#[derive(Debug, thiserror::Error)]
pub enum ReconcileError {
    #[error("invalid McpServer: {0}")]
    Invalid(#[from] ValidationError),
    #[error("looking up {what}: {source}")]
    Lookup {
        what: &'static str,
        #[source]
        source: kube::Error,
    },
    #[error("applying {kind} {name}: {source}")]
    Apply {
        kind: &'static str,
        name: String,
        #[source]
        source: kube::Error,
    },
    /// The apiserver refused the operator a binding: its own RBAC may not bind the ClusterRole.
    #[error(
        "the operator may not bind ClusterRole {role} ({kind} {name}): a platform admin adds it \
         to the chart value rbac.bindableClusterRoles; no binding of this McpServer is kept \
         meanwhile: {source}"
    )]
    RbacRefused {
        kind: &'static str,
        name: String,
        role: Box<str>,
        #[source]
        source: kube::Error,
    },
    /// The admission policy is not in force and the operator was told to require it.
    #[error(
        "no RBAC is granted while the admission policy kubernetes-mcp-access (and its binding \
         with Deny) is not in force: it keeps authors from granting what they may not; a \
         platform admin applies config/admission or the chart"
    )]
    AdmissionPolicyMissing,
    #[error("deleting {kind} {name}: {source}")]
    Delete {
        kind: &'static str,
        name: String,
        #[source]
        source: kube::Error,
    },
    #[error("writing the status of McpServer {name}: {source}")]
    StatusWrite {
        name: String,
        #[source]
        source: kube::Error,
    },
    /// Adding or removing the finalizer itself (its Apply and Cleanup failures are the
    /// variants above).
    #[error("the cleanup finalizer: {source}")]
    Finalizer {
        #[source]
        source: Box<finalizer::Error<ReconcileError>>,
    },
}

impl ReconcileError {
    /// The reason of the Degraded condition, the Event and the error metric label.
    pub fn reason(&self) -> &'static str {
        match self {
            Self::Invalid(e) => e.reason(),
            Self::Lookup { .. } => "LookupFailed",
            // A ServiceMonitor that cannot be built was reported as failing to apply: kept.
            Self::Apply { .. } => "ApplyFailed",
            Self::RbacRefused { .. } => "RBACRefused",
            Self::AdmissionPolicyMissing => "AdmissionPolicyMissing",
            Self::Delete { .. } => "DeleteFailed",
            Self::StatusWrite { .. } => "StatusWriteFailed",
            Self::Finalizer { .. } => "FinalizerFailed",
        }
    }

    /// Whether retrying cannot help until the spec (or the operator's RBAC) changes: kstatus'
    /// `Stalled`. An invalid spec, a refused grant, and an apply the apiserver rejects on its
    /// merits (a namespace that does not exist, an invalid or forbidden object), a missing
    /// admission policy (the admin must act); anything else
    /// (timeouts, conflicts, an apiserver restarting) is retried and so still `Reconciling`.
    pub fn stalls(&self) -> bool {
        match self {
            Self::Invalid(_) | Self::RbacRefused { .. } | Self::AdmissionPolicyMissing => true,
            Self::Apply { source, .. } => {
                matches!(source, kube::Error::Api(s) if matches!(s.code, 403 | 404 | 422))
            }
            _ => false,
        }
    }
}

/// Whether the apiserver answered 403: RBAC (or admission) refused.
pub fn is_forbidden(error: &kube::Error) -> bool {
    matches!(error, kube::Error::Api(s) if s.code == 403)
}

/// Whether the apiserver answered 404: the object (or API) is not there.
pub fn is_not_found(error: &kube::Error) -> bool {
    matches!(error, kube::Error::Api(s) if s.code == 404)
}
