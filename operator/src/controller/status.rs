//! The McpServer's status, computed: conditions from what was applied and how its rollout
//! stands (or from the error that stopped a reconcile), the Events a status change deserves, and
//! when to look again. kstatus' `Reconciling` and `Stalled` are abnormal-true: present only while
//! True. The clock is passed in. Pure.

use std::time::Duration;

use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{Condition, Time};
use kube::runtime::controller::Action;

use super::error::ReconcileError;
use super::progress::{Progress, pod_selector};
use crate::api::{McpServer, McpServerStatus};
use crate::validate::{SERVER_PORT, ServiceMonitorPlan, ValidatedMcpServer};

/// A condition of `type_`; `lastTransitionTime` keeps its old value unless the status flips.
fn condition(
    previous: &[Condition],
    generation: Option<i64>,
    now: &Time,
    (type_, ok, reason, message): (&str, bool, &str, String),
) -> Condition {
    let status = if ok { "True" } else { "False" };
    let last = previous
        .iter()
        .find(|c| c.type_ == type_ && c.status == status)
        .map_or_else(|| now.clone(), |c| c.last_transition_time.clone());
    Condition {
        type_: type_.to_owned(),
        status: status.to_owned(),
        reason: reason.to_owned(),
        message,
        observed_generation: generation,
        last_transition_time: last,
    }
}

fn previous_conditions(mcp: &McpServer) -> &[Condition] {
    mcp.status
        .as_ref()
        .map(|s| s.conditions.as_slice())
        .unwrap_or_default()
}

/// Puts `c` in place of the condition of its type.
fn set(conditions: &mut Vec<Condition>, c: Condition) {
    conditions.retain(|old| old.type_ != c.type_);
    conditions.push(c);
}

/// The status for what was applied.
pub fn status(
    v: &ValidatedMcpServer,
    mcp: &McpServer,
    deployment: &Deployment,
    progress: &Progress,
    now: &Time,
) -> McpServerStatus {
    let ds = deployment.status.clone().unwrap_or_default();
    let ready = ds.ready_replicas.unwrap_or(0);
    let wanted = deployment.spec.replicas.unwrap_or(1);
    let available = ready >= 1 || wanted == 0;
    let previous = previous_conditions(mcp);
    let condition = |c| condition(previous, v.generation, now, c);
    let mut conditions = vec![
        condition((
            "Ready",
            available,
            if available {
                "Available"
            } else {
                "Progressing"
            },
            format!("{ready}/{wanted} pods ready"),
        )),
        condition((
            "Available",
            available,
            if available {
                "MinimumReplicasAvailable"
            } else {
                "NoReplicasReady"
            },
            format!("{ready} ready replicas"),
        )),
        condition((
            "Degraded",
            false,
            "AsExpected",
            "every child applied".to_owned(),
        )),
    ];
    // A condition only for a ServiceMonitor the McpServer asks for: applied, or awaiting its CRD.
    let served = match v.service_monitor {
        ServiceMonitorPlan::Create { .. } => Some(true),
        ServiceMonitorPlan::AwaitCrd => Some(false),
        ServiceMonitorPlan::Delete | ServiceMonitorPlan::Absent => None,
    };
    // A ServiceMonitor that cannot exist stalls an otherwise finished (or rolling) McpServer.
    let progress = match (progress, served) {
        (Progress::Done | Progress::Rolling { .. }, Some(false)) => &Progress::Stalled {
            reason: "ServiceMonitorCRDNotServed",
            message: "a ServiceMonitor is wanted but monitoring.coreos.com/v1 is not served".into(),
        },
        _ => progress,
    };
    match progress {
        Progress::Done => {}
        Progress::Rolling { reason, message } => {
            conditions.push(condition(("Reconciling", true, reason, message.clone())));
        }
        Progress::Stalled { reason, message } => {
            conditions.push(condition(("Stalled", true, reason, message.clone())));
        }
    }
    if let Some(served) = served {
        conditions.push(condition((
            "ServiceMonitor",
            served,
            if served { "Applied" } else { "CRDNotServed" },
            if served {
                "ServiceMonitor applied".to_owned()
            } else {
                "monitoring.coreos.com/v1 ServiceMonitor is not served: install prometheus-operator's CRDs".to_owned()
            },
        )));
    }
    McpServerStatus {
        observed_generation: v.generation,
        conditions,
        url: Some(format!(
            "http://{}.{}.svc:{SERVER_PORT}/mcp",
            v.name, v.namespace
        )),
        replicas: ds.replicas,
        ready_replicas: Some(ready),
        auth: Some(v.auth.status()),
        selector: Some(pod_selector(deployment)),
        telemetry: v.telemetry.status.clone(),
    }
}

/// The status after a failed reconcile: Degraded with the error, for the generation it failed
/// on; `Stalled` when retrying cannot help, else `Reconciling` (it is retried); an invalid spec
/// is also not Ready. Other fields keep what the last good reconcile found.
pub fn degraded(mcp: &McpServer, error: &ReconcileError, now: &Time) -> McpServerStatus {
    let previous = previous_conditions(mcp);
    let generation = mcp.metadata.generation;
    let condition = |c| condition(previous, generation, now, c);
    let mut status = mcp.status.clone().unwrap_or_default();
    let (reason, message) = (error.reason(), error.to_string());
    set(
        &mut status.conditions,
        condition(("Degraded", true, reason, message.clone())),
    );
    let (progress, other) = if error.stalls() {
        ("Stalled", "Reconciling")
    } else {
        ("Reconciling", "Stalled")
    };
    status.conditions.retain(|c| c.type_ != other);
    set(
        &mut status.conditions,
        condition((progress, true, reason, message.clone())),
    );
    // Neither will serve until someone acts: not Ready.
    if matches!(
        error,
        ReconcileError::Invalid(_) | ReconcileError::AdmissionPolicyMissing
    ) {
        set(
            &mut status.conditions,
            condition(("Ready", false, reason, message)),
        );
    }
    // Observed, and said why it is not applied: kstatus reads the conditions only then.
    status.observed_generation = generation;
    status
}

/// The Events a status change deserves: a newly applied generation (or one applied after a
/// failure), readiness won or lost.
pub fn changes(
    before: Option<&McpServerStatus>,
    after: &McpServerStatus,
) -> Vec<(&'static str, String)> {
    let ready = |s: Option<&McpServerStatus>| {
        s.and_then(|s| s.conditions.iter().find(|c| c.type_ == "Ready"))
            .map(|c| c.status == "True")
    };
    let failed = before.is_some_and(|s| {
        s.conditions
            .iter()
            .any(|c| c.type_ == "Degraded" && c.status == "True")
    });
    let mut changes = Vec::new();
    if failed || before.and_then(|s| s.observed_generation) != after.observed_generation {
        changes.push((
            "Applied",
            format!(
                "applied generation {} to every child",
                after.observed_generation.unwrap_or_default()
            ),
        ));
    }
    match (ready(before), ready(Some(after))) {
        (Some(true), Some(true)) | (None | Some(false), Some(false)) | (_, None) => {}
        (_, Some(true)) => changes.push((
            "Ready",
            format!("serving at {}", after.url.clone().unwrap_or_default()),
        )),
        (Some(true), Some(false)) => changes.push(("NotReady", "no replica is ready".into())),
    }
    changes
}

/// When to look again without a change: soon while a wanted ServiceMonitor's CRD is missing
/// (it may be installed at any time) or the rollout is not done (a pod that starts crash-looping
/// changes no Deployment status), since nothing else would wake us; else every five minutes.
pub fn next_check(v: &ValidatedMcpServer, progress: &Progress) -> Action {
    if v.service_monitor == ServiceMonitorPlan::AwaitCrd || *progress != Progress::Done {
        Action::requeue(Duration::from_secs(10))
    } else {
        Action::requeue(Duration::from_secs(300))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::validate::{Facts, ValidationError, validate};
    use k8s_openapi::jiff::Timestamp;
    use kube::runtime::finalizer;

    fn facts(service_monitor_served: bool) -> Facts {
        Facts {
            default_image: "i".into(),
            service_monitor_served,
            scrape_namespaces: Vec::new(),
            telemetry: crate::validate::TelemetryDefaults::default(),
            service_monitor_labels: std::collections::BTreeMap::new(),
        }
    }

    fn inputs(ready: i32) -> (ValidatedMcpServer, McpServer, Deployment) {
        let mut mcp: McpServer = serde_json::from_value(serde_json::json!({
            "apiVersion": "kubernetes-mcp.io/v1alpha1", "kind": "McpServer",
            "metadata": {"name": "m", "namespace": "apps", "uid": "u", "generation": 2},
            "spec": {"metrics": {"serviceMonitor": {"enabled": true}}}
        }))
        .unwrap();
        mcp.status = None;
        let facts = facts(false);
        let v = validate(&mcp, &facts).unwrap();
        let deployment: Deployment = serde_json::from_value(serde_json::json!({
            "spec": {"selector": {}, "template": {}}, "status": {"replicas": 1, "readyReplicas": ready}
        }))
        .unwrap();
        (v, mcp, deployment)
    }

    fn at(seconds: i64) -> Time {
        Time(Timestamp::from_second(seconds).unwrap())
    }

    #[test]
    fn readiness_url_and_generation() {
        let (v, mcp, d) = inputs(1);
        let s = status(&v, &mcp, &d, &Progress::Done, &at(100));
        assert_eq!(s.url.as_deref(), Some("http://m.apps.svc:8080/mcp"));
        assert_eq!(s.observed_generation, Some(2));
        let ready = s.conditions.iter().find(|c| c.type_ == "Ready").unwrap();
        assert_eq!(
            (ready.status.as_str(), ready.reason.as_str()),
            ("True", "Available")
        );
        let (v, mcp, d) = inputs(0);
        let s = status(&v, &mcp, &d, &Progress::Done, &at(100));
        assert_eq!(s.conditions[0].status, "False");
    }

    #[test]
    fn a_wanted_but_unserved_service_monitor_is_a_false_condition() {
        let (v, mcp, d) = inputs(1);
        let s = status(&v, &mcp, &d, &Progress::Done, &at(100));
        let sm = s
            .conditions
            .iter()
            .find(|c| c.type_ == "ServiceMonitor")
            .unwrap();
        assert_eq!(
            (sm.status.as_str(), sm.reason.as_str()),
            ("False", "CRDNotServed")
        );
    }

    #[test]
    fn a_failure_is_degraded_and_an_invalid_spec_is_also_not_ready() {
        let (v, mut mcp, d) = inputs(1);
        mcp.status = Some(status(&v, &mcp, &d, &Progress::Done, &at(100)));
        let failed = ReconcileError::Finalizer {
            source: Box::new(finalizer::Error::UnnamedObject),
        };
        let s = degraded(&mcp, &failed, &at(200));
        let get = |s: &McpServerStatus, t: &str| {
            s.conditions.iter().find(|c| c.type_ == t).cloned().unwrap()
        };
        let degraded_condition = get(&s, "Degraded");
        assert_eq!(
            (
                degraded_condition.status.as_str(),
                degraded_condition.reason.as_str()
            ),
            ("True", "FinalizerFailed")
        );
        assert_eq!(degraded_condition.last_transition_time, at(200));
        assert_eq!(
            get(&s, "Ready").status,
            "True",
            "a failed apply keeps what is running"
        );
        let invalid = ReconcileError::Invalid(ValidationError::NoUid);
        assert_eq!(
            get(&degraded(&mcp, &invalid, &at(300)), "Ready").status,
            "False"
        );
    }

    #[test]
    fn status_changes_become_events() {
        let (v, mcp, d) = inputs(1);
        let ready = status(&v, &mcp, &d, &Progress::Done, &at(100));
        let reasons = |before, after: &McpServerStatus| -> Vec<&str> {
            changes(before, after).into_iter().map(|(r, _)| r).collect()
        };
        assert_eq!(reasons(None, &ready), ["Applied", "Ready"]);
        assert!(reasons(Some(&ready), &ready).is_empty());
        let (_, _, none_ready) = inputs(0);
        let lost = status(&v, &mcp, &none_ready, &Progress::Done, &at(200));
        assert_eq!(reasons(Some(&ready), &lost), ["NotReady"]);
    }

    #[test]
    fn a_missing_service_monitor_crd_is_looked_for_again_soon() {
        let (v, mcp, _) = inputs(1);
        assert_eq!(
            next_check(&v, &Progress::Done),
            Action::requeue(Duration::from_secs(10))
        );
        let served = facts(true);
        assert_eq!(
            next_check(&validate(&mcp, &served).unwrap(), &Progress::Done),
            Action::requeue(Duration::from_secs(300))
        );
    }

    #[test]
    fn transition_time_moves_only_when_the_status_flips() {
        let (v, mut mcp, d) = inputs(1);
        let first = status(&v, &mcp, &d, &Progress::Done, &at(100));
        mcp.status = Some(first.clone());
        let again = status(&v, &mcp, &d, &Progress::Done, &at(200));
        assert_eq!(
            again, first,
            "nothing changed: the status (and so no write) is the same"
        );
        let (_, _, not_ready) = inputs(0);
        let flipped = status(&v, &mcp, &not_ready, &Progress::Done, &at(300));
        assert_eq!(flipped.conditions[0].last_transition_time, at(300));
    }

    fn types(s: &McpServerStatus, status: &str) -> Vec<(String, String)> {
        s.conditions
            .iter()
            .filter(|c| c.status == status)
            .map(|c| (c.type_.clone(), c.reason.clone()))
            .collect()
    }

    fn pair(t: &str, r: &str) -> (String, String) {
        (t.to_owned(), r.to_owned())
    }

    #[test]
    fn reconciling_and_stalled_are_there_only_while_true() {
        let (_, mcp, d) = inputs(1);
        let served = facts(true);
        let v = validate(&mcp, &served).unwrap();
        let done = status(&v, &mcp, &d, &Progress::Done, &at(100));
        assert_eq!(
            types(&done, "True"),
            [
                pair("Ready", "Available"),
                pair("Available", "MinimumReplicasAvailable"),
                pair("ServiceMonitor", "Applied")
            ]
        );
        assert!(
            done.conditions
                .iter()
                .all(|c| c.observed_generation == Some(2))
        );
        let rolling = Progress::Rolling {
            reason: "RollingOut",
            message: "0/1".into(),
        };
        let s = status(&v, &mcp, &d, &rolling, &at(100));
        assert!(types(&s, "True").contains(&pair("Reconciling", "RollingOut")));
        let crashing = Progress::Stalled {
            reason: "CrashLoopBackOff",
            message: "pod p".into(),
        };
        let s = status(&v, &mcp, &d, &crashing, &at(100));
        assert!(types(&s, "True").contains(&pair("Stalled", "CrashLoopBackOff")));
        assert!(!s.conditions.iter().any(|c| c.type_ == "Reconciling"));
        // Wanted but unservable: stalled even when the pods are fine.
        let (v, mcp, d) = inputs(1);
        let s = status(&v, &mcp, &d, &rolling, &at(100));
        assert!(types(&s, "True").contains(&pair("Stalled", "ServiceMonitorCRDNotServed")));
        assert!(!s.conditions.iter().any(|c| c.type_ == "Reconciling"));
    }

    #[test]
    fn a_failure_stalls_when_retrying_cannot_help_and_reconciles_when_it_can() {
        let (v, mut mcp, d) = inputs(1);
        mcp.metadata.generation = Some(3);
        let rolling = Progress::Rolling {
            reason: "RollingOut",
            message: String::new(),
        };
        mcp.status = Some(status(&v, &mcp, &d, &rolling, &at(100)));
        let invalid = ReconcileError::Invalid(ValidationError::NoUid);
        let s = degraded(&mcp, &invalid, &at(200));
        assert_eq!(s.observed_generation, Some(3), "observed, and said why");
        assert!(types(&s, "True").contains(&pair("Stalled", "InvalidObject")));
        assert!(!s.conditions.iter().any(|c| c.type_ == "Reconciling"));
        mcp.status = Some(s);
        let timeout = ReconcileError::Lookup {
            what: "x",
            source: kube::Error::Api(Box::new(
                kube::core::Status::failure("slow", "Timeout").with_code(504),
            )),
        };
        let s = degraded(&mcp, &timeout, &at(300));
        assert!(types(&s, "True").contains(&pair("Reconciling", "LookupFailed")));
        assert!(!s.conditions.iter().any(|c| c.type_ == "Stalled"));
        let namespace_gone = ReconcileError::Apply {
            kind: "Role",
            name: "r".into(),
            source: kube::Error::Api(Box::new(
                kube::core::Status::failure("no ns", "NotFound").with_code(404),
            )),
        };
        let s = degraded(&mcp, &namespace_gone, &at(300));
        assert!(types(&s, "True").contains(&pair("Stalled", "ApplyFailed")));
    }

    #[test]
    fn an_apply_after_a_failure_is_an_event_and_a_rollout_is_looked_at_again_soon() {
        let (v, mut mcp, d) = inputs(1);
        let good = status(&v, &mcp, &d, &Progress::Done, &at(100));
        mcp.status = Some(good.clone());
        let failed = degraded(
            &mcp,
            &ReconcileError::Invalid(ValidationError::NoUid),
            &at(200),
        );
        let reasons: Vec<_> = changes(Some(&failed), &good)
            .into_iter()
            .map(|(r, _)| r)
            .collect();
        assert_eq!(reasons, ["Applied", "Ready"]);
        let served = facts(true);
        let v = validate(&mcp, &served).unwrap();
        let rolling = Progress::Rolling {
            reason: "RollingOut",
            message: String::new(),
        };
        assert_eq!(
            next_check(&v, &rolling),
            Action::requeue(Duration::from_secs(10))
        );
    }
}
