//! Whether the admission policies that hold every McpServer to its author's rights are in force:
//! the ValidatingAdmissionPolicies `kubernetes-mcp-access` (what is bound where) and
//! `kubernetes-mcp-impersonate` (who may ask for impersonation), each with a binding that has
//! `Deny` among its actions. Without them any author of an McpServer could grant what they may
//! not, so with `--require-admission-policy` the reconcile grants nothing while either is not in
//! force. Checked at start, then once a minute (four GETs); a change re-runs every reconcile.
//! Does I/O.

use std::time::Duration;

use futures::Stream;
use k8s_openapi::api::admissionregistration::v1::{
    ValidatingAdmissionPolicy, ValidatingAdmissionPolicyBinding,
};
use kube::Client;
use kube::api::Api;
use tokio::sync::watch;

use crate::tenancy::{IMPERSONATE_POLICY_NAME, POLICY_NAME};

/// The policies that must be in force, by name (each bound under the same name).
const POLICIES: [&str; 2] = [POLICY_NAME, IMPERSONATE_POLICY_NAME];

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
        tracing::info!(policies = ?POLICIES, "the admission policies are in force");
    } else {
        tracing::error!(
            policies = ?POLICIES,
            "an admission policy is not in force (missing, or its binding does not Deny): no \
             RBAC is granted to McpServers until it is; apply config/admission or the chart, or \
             run with --require-admission-policy=false"
        );
    }
}

async fn check(client: &Client) -> Result<bool, kube::Error> {
    for name in POLICIES {
        let policy = Api::<ValidatingAdmissionPolicy>::all(client.clone())
            .get_opt(name)
            .await?;
        let binding = Api::<ValidatingAdmissionPolicyBinding>::all(client.clone())
            .get_opt(name)
            .await?;
        if !in_force(name, policy.as_ref(), binding.as_ref()) {
            return Ok(false);
        }
    }
    Ok(true)
}

/// The policy `name` exists and a binding of it denies (Warn or Audit alone only report). Pure.
fn in_force(
    name: &str,
    policy: Option<&ValidatingAdmissionPolicy>,
    binding: Option<&ValidatingAdmissionPolicyBinding>,
) -> bool {
    policy.is_some()
        && binding.is_some_and(|b| {
            b.spec.policy_name == name && b.spec.validation_actions.iter().any(|a| a == "Deny")
        })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tenancy::{
        access_policy, access_policy_binding, impersonate_policy, impersonate_policy_binding,
    };

    #[test]
    fn the_shipped_policy_is_in_force_and_anything_less_is_not() {
        let policy = access_policy();
        let binding = access_policy_binding();
        assert!(in_force(POLICY_NAME, Some(&policy), Some(&binding)));
        assert!(!in_force(POLICY_NAME, None, Some(&binding)));
        assert!(!in_force(POLICY_NAME, Some(&policy), None));
        let mut warn_only = binding.clone();
        warn_only.spec.validation_actions = vec!["Warn".into(), "Audit".into()];
        assert!(!in_force(POLICY_NAME, Some(&policy), Some(&warn_only)));
        let mut other = binding;
        other.spec.policy_name = "something-else".into();
        assert!(!in_force(POLICY_NAME, Some(&policy), Some(&other)));
        let (policy, binding) = (impersonate_policy(), impersonate_policy_binding());
        assert!(in_force(
            IMPERSONATE_POLICY_NAME,
            Some(&policy),
            Some(&binding)
        ));
        assert!(!in_force(POLICY_NAME, Some(&policy), Some(&binding)));
    }
}
