//! The McpServer's status, computed: conditions from what was applied and how its rollout
//! stands (or from the error that stopped a reconcile), the Events a status change deserves, and
//! when to look again. kstatus' `Reconciling` and `Stalled` are abnormal-true: present only while
//! True. The clock is passed in. Pure.

use std::time::Duration;

use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{Condition, Time};
use kube::runtime::controller::Action;

use super::error::ReconcileError;
use super::handshake::Handshake;
use super::progress::{HANDSHAKE_FAILED, Progress, pod_selector};
use crate::api::{McpServer, McpServerStatus};
use crate::validate::{
    PrometheusRulePlan, RbacScope, SERVER_PORT, ServiceMonitorPlan, ValidatedMcpServer,
};

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

/// Whether the handshake lets an available server be Ready, with the Ready reason and message.
fn readiness(available: bool, handshake: &Handshake, pods: String) -> (bool, &'static str, String) {
    match handshake {
        _ if !available => (false, "Progressing", pods),
        Handshake::Off => (true, "Available", pods),
        Handshake::Answered { tools } => (
            true,
            "Available",
            format!("{pods}; a pod answered the MCP handshake listing {tools} tools"),
        ),
        Handshake::Secured => (
            true,
            "Available",
            format!(
                "{pods}; a pod refused an unauthenticated initialize with 401 and the RFC 9728 \
                 resource metadata (callers must authenticate, so its tools are not listed)"
            ),
        ),
        Handshake::ToolsMissing { tools, missing } => (
            false,
            "McpToolsMissing",
            format!(
                "{pods}; a pod answered the MCP handshake listing {tools} tools, but not {} \
                 that the spec's toolsets ask for",
                missing.join(", ")
            ),
        ),
        Handshake::Pending => (
            false,
            "McpHandshakePending",
            format!("{pods}; the MCP handshake waits for the rollout"),
        ),
        Handshake::Failed(why) => (
            false,
            HANDSHAKE_FAILED,
            format!("{pods}; the MCP handshake failed: {why}"),
        ),
    }
}

/// The status for what was applied: how its rollout stands and what the MCP handshake found.
/// Ready (and the url) only once a pod answered, unless the handshake is off.
pub fn status(
    v: &ValidatedMcpServer,
    mcp: &McpServer,
    deployment: &Deployment,
    (progress, handshake): (&Progress, &Handshake),
    now: &Time,
) -> McpServerStatus {
    let ds = deployment.status.clone().unwrap_or_default();
    let ready = ds.ready_replicas.unwrap_or(0);
    let wanted = deployment.spec.replicas.unwrap_or(1);
    let available = ready >= 1 || wanted == 0;
    let pods = format!("{ready}/{wanted} pods ready");
    let (answered, ready_reason, ready_message) = readiness(available, handshake, pods);
    let previous = previous_conditions(mcp);
    let condition = |c| condition(previous, v.generation, now, c);
    let mut conditions = vec![
        condition(("Ready", available && answered, ready_reason, ready_message)),
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
    let monitoring = monitoring(v);
    let unserved = monitoring.iter().find(|(_, _, served)| !served);
    // A child that cannot exist stalls an otherwise finished (or rolling) McpServer.
    let stalled;
    let progress = match (progress, unserved) {
        (Progress::Done | Progress::Rolling { .. }, Some(&(kind, reason, _))) => {
            stalled = Progress::Stalled {
                reason,
                message: format!("a {kind} is wanted but monitoring.coreos.com/v1 is not served"),
            };
            &stalled
        }
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
    // A condition only for each prometheus-operator child the McpServer asks for: applied, or
    // awaiting its CRD.
    for (kind, _, served) in monitoring {
        conditions.push(condition((
            kind,
            served,
            if served { "Applied" } else { "CRDNotServed" },
            if served {
                format!("{kind} applied")
            } else {
                format!("monitoring.coreos.com/v1 {kind} is not served: install prometheus-operator's CRDs")
            },
        )));
    }
    McpServerStatus {
        observed_generation: v.generation,
        conditions,
        url: (available && answered)
            .then(|| format!("http://{}.{}.svc:{SERVER_PORT}/mcp", v.name, v.namespace)),
        replicas: ds.replicas,
        ready_replicas: Some(ready),
        auth: Some(v.auth.status()),
        selector: Some(pod_selector(deployment)),
        telemetry: v.telemetry.status.clone(),
        tools: match handshake {
            Handshake::Answered { tools } => i32::try_from(*tools).ok(),
            _ => None,
        },
    }
}

/// Each prometheus-operator child the McpServer asks for: its kind, the reason it stalls while
/// its CRD is not served, and whether it is.
fn monitoring(v: &ValidatedMcpServer) -> Vec<(&'static str, &'static str, bool)> {
    let service_monitor = match v.service_monitor {
        ServiceMonitorPlan::Create { .. } => Some(true),
        ServiceMonitorPlan::AwaitCrd => Some(false),
        ServiceMonitorPlan::Delete | ServiceMonitorPlan::Absent => None,
    };
    let prometheus_rule = match v.prometheus_rule {
        PrometheusRulePlan::Create { .. } => Some(true),
        PrometheusRulePlan::AwaitCrd => Some(false),
        PrometheusRulePlan::Delete | PrometheusRulePlan::Absent => None,
    };
    [
        (
            "ServiceMonitor",
            "ServiceMonitorCRDNotServed",
            service_monitor,
        ),
        (
            "PrometheusRule",
            "PrometheusRuleCRDNotServed",
            prometheus_rule,
        ),
    ]
    .into_iter()
    .filter_map(|(kind, reason, served)| Some((kind, reason, served?)))
    .collect()
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

/// Whether the status says Ready=True.
pub fn is_ready(s: &McpServerStatus) -> bool {
    s.conditions
        .iter()
        .any(|c| c.type_ == "Ready" && c.status == "True")
}

/// The Events a status change deserves: a newly applied generation (or one applied after a
/// failure), readiness won or lost.
pub fn changes(
    before: Option<&McpServerStatus>,
    after: &McpServerStatus,
) -> Vec<(&'static str, String)> {
    let ready = |s: Option<&McpServerStatus>| {
        s.filter(|s| s.conditions.iter().any(|c| c.type_ == "Ready"))
            .map(is_ready)
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

/// When to look again without a change: soon while a wanted ServiceMonitor's or
/// PrometheusRule's CRD is missing (it may be installed at any time) or a ready pod does not
/// answer the MCP handshake, since nothing else would wake us. A rollout in progress is not
/// polled: its Deployment wakes us when it is done, stalls or its ready replicas move, and its
/// pods when a container gets stuck or comes unstuck (polling every rolling McpServer woke each
/// of a thousand applied at once a dozen times). At rest, never: every child is watched, so a
/// change wakes us. Only bindings in namespaces the controller does not watch (`watched` says
/// which it does) are looked at every five minutes.
pub fn next_check(
    v: &ValidatedMcpServer,
    progress: &Progress,
    watched: impl Fn(&str) -> bool,
) -> Action {
    let unseen = match &v.rbac.scope {
        RbacScope::Namespaces(namespaces) => namespaces.iter().any(|ns| !watched(ns)),
        RbacScope::Cluster => false,
    };
    if v.service_monitor == ServiceMonitorPlan::AwaitCrd
        || v.prometheus_rule == PrometheusRulePlan::AwaitCrd
        || matches!(
            progress,
            Progress::Rolling {
                reason: HANDSHAKE_FAILED,
                ..
            }
        )
    {
        Action::requeue(Duration::from_secs(10))
    } else if unseen {
        Action::requeue(Duration::from_secs(300))
    } else {
        Action::await_change()
    }
}

#[cfg(test)]
mod tests;
