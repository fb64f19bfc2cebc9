//! Unit tests of the status: conditions, Events, next checks. Pure.

use super::*;
use crate::validate::{Facts, ValidationError, validate};
use k8s_openapi::jiff::Timestamp;
use kube::runtime::finalizer;

fn facts(service_monitor_served: bool) -> Facts {
    Facts {
        default_image: "i".into(),
        service_monitor_served,
        scrape_namespaces: Vec::new(),
        ..crate::validate::test_facts()
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
    let s = status(&v, &mcp, &d, (&Progress::Done, &Handshake::Off), &at(100));
    assert_eq!(s.url.as_deref(), Some("http://m.apps.svc:8080/mcp"));
    assert_eq!(s.observed_generation, Some(2));
    let ready = s.conditions.iter().find(|c| c.type_ == "Ready").unwrap();
    assert_eq!(
        (ready.status.as_str(), ready.reason.as_str()),
        ("True", "Available")
    );
    let (v, mcp, d) = inputs(0);
    let s = status(&v, &mcp, &d, (&Progress::Done, &Handshake::Off), &at(100));
    assert_eq!(s.conditions[0].status, "False");
}

#[test]
fn ready_and_the_url_wait_for_the_mcp_handshake() {
    let (v, mcp, d) = inputs(1);
    let ready = |handshake: &Handshake| {
        let s = status(&v, &mcp, &d, (&Progress::Done, handshake), &at(100));
        let c = s.conditions.iter().find(|c| c.type_ == "Ready").unwrap();
        (c.status.clone(), c.reason.clone(), s.url.is_some(), s.tools)
    };
    assert_eq!(
        ready(&Handshake::Answered { tools: 12 }),
        ("True".into(), "Available".into(), true, Some(12))
    );
    assert_eq!(
        ready(&Handshake::Pending),
        ("False".into(), "McpHandshakePending".into(), false, None)
    );
    let failed = Handshake::Failed("tools/list: HTTP 404 Not Found".into());
    assert_eq!(
        ready(&failed),
        ("False".into(), "McpHandshakeFailed".into(), false, None)
    );
    let s = status(&v, &mcp, &d, (&Progress::Done, &failed), &at(100));
    let c = s.conditions.iter().find(|c| c.type_ == "Ready").unwrap();
    assert!(c.message.ends_with("HTTP 404 Not Found"), "{}", c.message);
}

#[test]
fn a_wanted_but_unserved_service_monitor_is_a_false_condition() {
    let (v, mcp, d) = inputs(1);
    let s = status(&v, &mcp, &d, (&Progress::Done, &Handshake::Off), &at(100));
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
    mcp.status = Some(status(
        &v,
        &mcp,
        &d,
        (&Progress::Done, &Handshake::Off),
        &at(100),
    ));
    let failed = ReconcileError::Finalizer {
        source: Box::new(finalizer::Error::UnnamedObject),
    };
    let s = degraded(&mcp, &failed, &at(200));
    let get =
        |s: &McpServerStatus, t: &str| s.conditions.iter().find(|c| c.type_ == t).cloned().unwrap();
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
    let ready = status(&v, &mcp, &d, (&Progress::Done, &Handshake::Off), &at(100));
    let reasons = |before, after: &McpServerStatus| -> Vec<&str> {
        changes(before, after).into_iter().map(|(r, _)| r).collect()
    };
    assert_eq!(reasons(None, &ready), ["Applied", "Ready"]);
    assert!(reasons(Some(&ready), &ready).is_empty());
    let (_, _, none_ready) = inputs(0);
    let lost = status(
        &v,
        &mcp,
        &none_ready,
        (&Progress::Done, &Handshake::Off),
        &at(200),
    );
    assert_eq!(reasons(Some(&ready), &lost), ["NotReady"]);
}

#[test]
fn a_missing_service_monitor_crd_is_looked_for_again_soon_and_nothing_else_at_rest() {
    let (v, mcp, _) = inputs(1);
    assert_eq!(
        next_check(&v, &Progress::Done, |_| true),
        Action::requeue(Duration::from_secs(10))
    );
    let served = facts(true);
    assert_eq!(
        next_check(&validate(&mcp, &served).unwrap(), &Progress::Done, |_| true),
        Action::await_change()
    );
}

#[test]
fn transition_time_moves_only_when_the_status_flips() {
    let (v, mut mcp, d) = inputs(1);
    let first = status(&v, &mcp, &d, (&Progress::Done, &Handshake::Off), &at(100));
    mcp.status = Some(first.clone());
    let again = status(&v, &mcp, &d, (&Progress::Done, &Handshake::Off), &at(200));
    assert_eq!(
        again, first,
        "nothing changed: the status (and so no write) is the same"
    );
    let (_, _, not_ready) = inputs(0);
    let flipped = status(
        &v,
        &mcp,
        &not_ready,
        (&Progress::Done, &Handshake::Off),
        &at(300),
    );
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
    let done = status(&v, &mcp, &d, (&Progress::Done, &Handshake::Off), &at(100));
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
    let s = status(&v, &mcp, &d, (&rolling, &Handshake::Off), &at(100));
    assert!(types(&s, "True").contains(&pair("Reconciling", "RollingOut")));
    let crashing = Progress::Stalled {
        reason: "CrashLoopBackOff",
        message: "pod p".into(),
    };
    let s = status(&v, &mcp, &d, (&crashing, &Handshake::Off), &at(100));
    assert!(types(&s, "True").contains(&pair("Stalled", "CrashLoopBackOff")));
    assert!(!s.conditions.iter().any(|c| c.type_ == "Reconciling"));
    // Wanted but unservable: stalled even when the pods are fine.
    let (v, mcp, d) = inputs(1);
    let s = status(&v, &mcp, &d, (&rolling, &Handshake::Off), &at(100));
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
    mcp.status = Some(status(&v, &mcp, &d, (&rolling, &Handshake::Off), &at(100)));
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
fn an_apply_after_a_failure_is_an_event_and_only_an_unanswered_handshake_is_looked_at_again_soon() {
    let (v, mut mcp, d) = inputs(1);
    let good = status(&v, &mcp, &d, (&Progress::Done, &Handshake::Off), &at(100));
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
    assert_eq!(next_check(&v, &rolling, |_| true), Action::await_change());
    let unanswered = Progress::Rolling {
        reason: HANDSHAKE_FAILED,
        message: String::new(),
    };
    assert_eq!(
        next_check(&v, &unanswered, |_| true),
        Action::requeue(Duration::from_secs(10))
    );
}

#[test]
fn a_wanted_prometheus_rule_is_applied_or_stalls_on_its_missing_crd_like_a_service_monitor() {
    let (_, mut mcp, d) = inputs(1);
    mcp.spec.metrics.service_monitor.enabled = false;
    mcp.spec.metrics.prometheus_rule.enabled = true;
    let unserved = Facts {
        prometheus_rule_served: false,
        ..facts(true)
    };
    let v = validate(&mcp, &unserved).unwrap();
    let s = status(&v, &mcp, &d, (&Progress::Done, &Handshake::Off), &at(100));
    assert!(types(&s, "False").contains(&pair("PrometheusRule", "CRDNotServed")));
    assert!(types(&s, "True").contains(&pair("Stalled", "PrometheusRuleCRDNotServed")));
    assert!(!s.conditions.iter().any(|c| c.type_ == "ServiceMonitor"));
    assert_eq!(
        next_check(&v, &Progress::Done, |_| true),
        Action::requeue(Duration::from_secs(10))
    );
    let v = validate(&mcp, &facts(true)).unwrap();
    let s = status(&v, &mcp, &d, (&Progress::Done, &Handshake::Off), &at(100));
    assert!(types(&s, "True").contains(&pair("PrometheusRule", "Applied")));
    assert!(!s.conditions.iter().any(|c| c.type_ == "Stalled"));
}

#[test]
fn bindings_a_namespaced_controller_cannot_see_are_looked_at_every_five_minutes() {
    let (_, mut mcp, _) = inputs(1);
    mcp.spec.access.namespaces = vec!["apps".into(), "elsewhere".into()];
    let v = validate(&mcp, &facts(true)).unwrap();
    assert_eq!(
        next_check(&v, &Progress::Done, |ns| ns == "apps"),
        Action::requeue(Duration::from_secs(300))
    );
    assert_eq!(
        next_check(&v, &Progress::Done, |_| true),
        Action::await_change()
    );
}
