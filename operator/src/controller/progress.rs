//! Where the rollout of an applied generation stands, in kstatus' terms: done, still rolling
//! out (`Reconciling`), or unable to progress without a change (`Stalled`). Read off the applied
//! Deployment and, while it rolls out, its pods (and their selector). Pure.

use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::{ContainerStateWaiting, ContainerStatus, Pod};

/// The rollout of the applied generation.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Progress {
    /// Every wanted pod runs the applied template and is available.
    Done,
    /// Still rolling out: `Reconciling=True` with this reason and message.
    Rolling {
        reason: &'static str,
        message: String,
    },
    /// Cannot progress without a change: `Stalled=True` with this reason and message.
    Stalled {
        reason: &'static str,
        message: String,
    },
}

/// The reason of a rollout that is done but whose pods do not answer the MCP handshake.
pub const HANDSHAKE_FAILED: &str = "McpHandshakeFailed";

/// The label selector of the Deployment's pods, as a string (`k=v,k=v`).
pub fn pod_selector(deployment: &Deployment) -> String {
    let labels = deployment.spec.selector.match_labels.iter().flatten();
    let pairs: Vec<String> = labels.map(|(k, v)| format!("{k}={v}")).collect();
    pairs.join(",")
}

/// The rollout as the Deployment shows it (the same checks kstatus makes on a Deployment).
pub fn rollout(deployment: &Deployment) -> Progress {
    let status = deployment.status.clone().unwrap_or_default();
    let generation = deployment.metadata.generation.unwrap_or_default();
    let rolling = |reason, message| Progress::Rolling { reason, message };
    if status.observed_generation.unwrap_or_default() < generation {
        return rolling(
            "DeploymentNotObserved",
            format!("Deployment generation {generation} is not yet observed"),
        );
    }
    let deadline = status.conditions.iter().flatten().find(|c| {
        c.type_.as_deref() == Some("Progressing")
            && c.status.as_deref() == Some("False")
            && c.reason.as_deref() == Some("ProgressDeadlineExceeded")
    });
    if let Some(c) = deadline {
        return Progress::Stalled {
            reason: "ProgressDeadlineExceeded",
            message: c.message.clone().unwrap_or_default(),
        };
    }
    let wanted = deployment.spec.replicas.unwrap_or(1);
    let updated = status.updated_replicas.unwrap_or(0);
    let replicas = status.replicas.unwrap_or(0);
    let available = status.available_replicas.unwrap_or(0);
    if updated < wanted {
        rolling(
            "RollingOut",
            format!("{updated}/{wanted} pods run the applied template"),
        )
    } else if replicas > updated {
        rolling(
            "RollingOut",
            format!("{} old pods are terminating", replicas - updated),
        )
    } else if available < wanted {
        rolling(
            "PodsNotAvailable",
            format!("{available}/{wanted} pods available"),
        )
    } else {
        Progress::Done
    }
}

/// Container waiting reasons that do not pass by themselves: the image cannot be pulled or
/// started, or the process keeps exiting.
const STUCK: [&str; 7] = [
    "CrashLoopBackOff",
    "ImagePullBackOff",
    "ErrImagePull",
    "InvalidImageName",
    "CreateContainerConfigError",
    "CreateContainerError",
    "RunContainerError",
];

/// The reason a container is stuck, and how it waits; `None` while it runs or starts normally.
pub fn stuck(c: &ContainerStatus) -> Option<(&'static str, &ContainerStateWaiting)> {
    let waiting = c.state.as_ref()?.waiting.as_ref()?;
    let reason = STUCK
        .into_iter()
        .find(|r| waiting.reason.as_deref() == Some(*r))?;
    Some((reason, waiting))
}

/// A rollout whose pods are stuck is stalled: the first stuck container says why.
pub fn with_pods(progress: Progress, pods: &[Pod]) -> Progress {
    if !matches!(progress, Progress::Rolling { .. }) {
        return progress;
    }
    let stuck = pods
        .iter()
        .filter(|p| p.metadata.deletion_timestamp.is_none())
        .flat_map(|p| {
            let statuses = p
                .status
                .as_ref()
                .and_then(|s| s.container_statuses.as_ref());
            statuses.into_iter().flatten().map(move |c| (p, c))
        })
        .find_map(|(pod, c)| {
            let (reason, waiting) = stuck(c)?;
            Some(Progress::Stalled {
                reason,
                message: format!(
                    "pod {} container {}: {reason} ({} restarts): {}",
                    pod.metadata.name.as_deref().unwrap_or_default(),
                    c.name,
                    c.restart_count,
                    waiting.message.as_deref().unwrap_or_default()
                ),
            })
        });
    stuck.unwrap_or(progress)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn deployment(generation: i64, status: &serde_json::Value) -> Deployment {
        serde_json::from_value(json!({
            "metadata": {"generation": generation},
            "spec": {"replicas": 2, "selector": {}, "template": {}},
            "status": status,
        }))
        .unwrap()
    }

    fn reason(p: &Progress) -> &'static str {
        match p {
            Progress::Done => "Done",
            Progress::Rolling { reason, .. } | Progress::Stalled { reason, .. } => reason,
        }
    }

    #[test]
    fn a_deployment_rolls_out_until_every_wanted_pod_is_updated_and_available() {
        let done = json!({"observedGeneration": 3, "replicas": 2, "updatedReplicas": 2, "availableReplicas": 2});
        assert_eq!(rollout(&deployment(3, &done)), Progress::Done);
        assert_eq!(
            reason(&rollout(&deployment(4, &done))),
            "DeploymentNotObserved"
        );
        let cases = [
            (
                json!({"observedGeneration": 3, "replicas": 2, "updatedReplicas": 1, "availableReplicas": 2}),
                "RollingOut",
            ),
            (
                json!({"observedGeneration": 3, "replicas": 3, "updatedReplicas": 2, "availableReplicas": 2}),
                "RollingOut",
            ),
            (
                json!({"observedGeneration": 3, "replicas": 2, "updatedReplicas": 2, "availableReplicas": 1}),
                "PodsNotAvailable",
            ),
            (
                json!({"observedGeneration": 3, "conditions": [{"type": "Progressing", "status": "False",
                "reason": "ProgressDeadlineExceeded", "message": "too slow"}]}),
                "ProgressDeadlineExceeded",
            ),
        ];
        for (status, expected) in cases {
            assert_eq!(reason(&rollout(&deployment(3, &status))), expected);
        }
    }

    fn pod(waiting: &str) -> Pod {
        serde_json::from_value(json!({
            "metadata": {"name": "p"},
            "status": {"containerStatuses": [{"name": "server", "image": "i", "imageID": "",
                "ready": false, "restartCount": 3,
                "state": {"waiting": {"reason": waiting, "message": "back-off 40s"}}}]},
        }))
        .unwrap()
    }

    #[test]
    fn a_crash_looping_pod_stalls_a_rollout_and_a_starting_one_does_not() {
        let rolling = Progress::Rolling {
            reason: "PodsNotAvailable",
            message: String::new(),
        };
        let stalled = with_pods(
            rolling.clone(),
            &[pod("ContainerCreating"), pod("CrashLoopBackOff")],
        );
        let Progress::Stalled { reason, message } = stalled else {
            panic!("not stalled: {stalled:?}")
        };
        assert_eq!(reason, "CrashLoopBackOff");
        assert_eq!(
            message,
            "pod p container server: CrashLoopBackOff (3 restarts): back-off 40s"
        );
        assert_eq!(
            with_pods(rolling.clone(), &[pod("ContainerCreating")]),
            rolling
        );
        assert_eq!(
            with_pods(Progress::Done, &[pod("ErrImagePull")]),
            Progress::Done
        );
    }
}
