//! Whether the admission policy that holds every McpServer to its author's rights is in force:
//! the ValidatingAdmissionPolicy `kubernetes-mcp-access` and its binding, with `Deny` among its
//! actions. Without it any author of an McpServer could grant what they may not, so with
//! `--require-admission-policy` the reconcile grants nothing while it is not in force. Checked
//! at start, then once a minute (two GETs); a change re-runs every reconcile. Does I/O.

use std::time::Duration;

use futures::Stream;
use k8s_openapi::api::admissionregistration::v1::{
    ValidatingAdmissionPolicy, ValidatingAdmissionPolicyBinding,
};
use kube::Client;
use kube::api::Api;
use tokio::sync::watch;

use crate::tenancy::POLICY_NAME;

/// How often the policy is looked at again.
const RECHECK: Duration = Duration::from_secs(60);

/// What the reconcile reads: the last answer of the check.
#[derive(Clone, Debug)]
pub struct AdmissionGate(watch::Receiver<bool>);

impl AdmissionGate {
    /// Checks now (an error counts as not in force: the operator fails closed), then once a
    /// minute in a task of its own.
    pub async fn start(client: Client) -> Self {
        let first = check(&client).await.unwrap_or_else(|e| {
            tracing::error!(error = %e, "could not look up the admission policy");
            false
        });
        report(first);
        let (sender, receiver) = watch::channel(first);
        tokio::spawn(async move {
            loop {
                tokio::time::sleep(RECHECK).await;
                match check(&client).await {
                    Ok(now) => {
                        if sender.send_if_modified(|was| std::mem::replace(was, now) != now) {
                            report(now);
                        }
                    }
                    // A failed look keeps the last answer: a blip of the apiserver is no reason
                    // to stop, nor to start.
                    Err(e) => tracing::warn!(error = %e, "could not look up the admission policy"),
                }
            }
        });
        Self(receiver)
    }

    pub fn in_force(&self) -> bool {
        *self.0.borrow()
    }

    /// Fires whenever the answer changes, to re-run every reconcile.
    pub fn changes(&self) -> impl Stream<Item = ()> + Send + 'static {
        futures::stream::unfold(self.0.clone(), |mut receiver| async move {
            receiver.changed().await.ok()?;
            Some(((), receiver))
        })
    }
}

fn report(in_force: bool) {
    if in_force {
        tracing::info!(policy = POLICY_NAME, "the admission policy is in force");
    } else {
        tracing::error!(
            policy = POLICY_NAME,
            "the admission policy is not in force (missing, or its binding does not Deny): no \
             RBAC is granted to McpServers until it is; apply config/admission or the chart, or \
             run with --require-admission-policy=false"
        );
    }
}

async fn check(client: &Client) -> Result<bool, kube::Error> {
    let policy = Api::<ValidatingAdmissionPolicy>::all(client.clone())
        .get_opt(POLICY_NAME)
        .await?;
    let binding = Api::<ValidatingAdmissionPolicyBinding>::all(client.clone())
        .get_opt(POLICY_NAME)
        .await?;
    Ok(in_force(policy.as_ref(), binding.as_ref()))
}

/// The policy exists and a binding of it denies (Warn or Audit alone only report). Pure.
fn in_force(
    policy: Option<&ValidatingAdmissionPolicy>,
    binding: Option<&ValidatingAdmissionPolicyBinding>,
) -> bool {
    policy.is_some()
        && binding.is_some_and(|b| {
            b.spec.policy_name == POLICY_NAME
                && b.spec.validation_actions.iter().any(|a| a == "Deny")
        })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tenancy::{access_policy, access_policy_binding};

    #[test]
    fn the_shipped_policy_is_in_force_and_anything_less_is_not() {
        let policy = access_policy();
        let binding = access_policy_binding();
        assert!(in_force(Some(&policy), Some(&binding)));
        assert!(!in_force(None, Some(&binding)));
        assert!(!in_force(Some(&policy), None));
        let mut warn_only = binding.clone();
        warn_only.spec.validation_actions = vec!["Warn".into(), "Audit".into()];
        assert!(!in_force(Some(&policy), Some(&warn_only)));
        let mut other = binding;
        other.spec.policy_name = "something-else".into();
        assert!(!in_force(Some(&policy), Some(&other)));
    }
}
