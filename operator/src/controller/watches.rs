//! What wakes a reconcile, and what does not. The McpServer watch passes a change of its
//! generation or its deletion, not the operator's own status and finalizer writes. Every child
//! kind is watched through the `managed-by` label; a child wakes its McpServer when it is
//! deleted or changed by someone else (another field manager's entry in its managedFields moved;
//! for a Deployment, the rollout it reports or the operator's own entry moved, and only the
//! latter makes it applied again), never for the operator's own applies; a
//! server's pod wakes it when a container gets stuck or comes unstuck. So at rest nothing runs,
//! and a deleted or edited child is repaired at once. Each watch retries with the short
//! back-off of `outage` and reports whether it reached the apiserver. The streams are
//! kube-runtime watchers (I/O); the filters and keys are pure.

use std::borrow::Cow;
use std::collections::HashMap;
use std::fmt::Debug;
use std::sync::Arc;

use futures::{Stream, StreamExt as _, future};
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::Pod;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{ObjectMeta, OwnerReference};
use kube::api::Api;
use kube::runtime::reflector::{self, ObjectRef, Store};
use kube::runtime::{Controller, WatchStreamExt as _, watcher};
use kube::{Resource, ResourceExt as _};
use serde::de::DeserializeOwned;
use serde_json::json;

use super::Context;
use super::memory::hash_of;
use super::outage::{Reachable, WatchBackoff};
use super::progress::{self, Progress};
use crate::api::McpServer;
use crate::desired::{MANAGER, OWNER_UID};

/// What the watch of every child kind needs.
pub struct Children<'a> {
    pub context: &'a Arc<Context>,
    pub servers: &'a Store<McpServer>,
}

impl Children<'_> {
    /// `controller`, woken by the children in `api` deleted, or changed as `key` sees it, by
    /// someone else. Bindings in other namespaces and cluster-scoped ones carry no owner
    /// reference: they are matched by the owner-uid label.
    pub fn watch<K>(
        &self,
        controller: Controller<McpServer>,
        api: Api<K>,
        key: fn(&K) -> u64,
    ) -> Controller<McpServer>
    where
        K: Resource<DynamicType = ()> + Clone + DeserializeOwned + Debug + Send + Sync + 'static,
    {
        controller.watches_stream(
            changes(api, key, key, self.context.clone()),
            owner(self.servers.clone()),
        )
    }

    /// `controller`, woken when a Deployment's rollout moves or it is deleted or someone else
    /// takes a field the operator applied; only the last two make the next reconcile apply it
    /// again (for a moved rollout it reads the Deployment instead).
    pub fn watch_deployments(
        &self,
        controller: Controller<McpServer>,
        api: Api<Deployment>,
    ) -> Controller<McpServer> {
        controller.watches_stream(
            changes(api, rollout_or_ours, ours, self.context.clone()),
            owner(self.servers.clone()),
        )
    }
}

/// `controller`, woken when a container of a server's pod gets stuck or comes unstuck: a
/// crash loop or an image that cannot be pulled changes no Deployment status until its
/// progress deadline, minutes later.
pub fn watch_pods(controller: Controller<McpServer>, api: Api<Pod>) -> Controller<McpServer> {
    let only_ours =
        watcher::Config::default().labels(&format!("app.kubernetes.io/managed-by={MANAGER}"));
    let changed = watcher(api, only_ours)
        .default_backoff()
        .scan(Seen::default(), |seen, event| {
            future::ready(Some(
                event
                    .map(|e| seen.news(e, stuck, stuck).map(|(pod, _)| pod))
                    .transpose(),
            ))
        })
        .filter_map(future::ready);
    controller.watches_stream(changed, server_of_pod)
}

/// Which containers of a pod are stuck, and why.
pub fn stuck(pod: &Pod) -> u64 {
    let statuses = pod
        .status
        .as_ref()
        .and_then(|s| s.container_statuses.as_ref());
    let reasons: Vec<_> = statuses
        .into_iter()
        .flatten()
        .filter_map(|c| Some((c.name.as_str(), progress::stuck(c)?.0)))
        .collect();
    hash_of(&json!(reasons))
}

/// The McpServer whose Deployment runs a pod: named by the pod's instance label (a pod's
/// owner is its ReplicaSet, not the McpServer).
#[allow(
    clippy::needless_pass_by_value,
    reason = "the shape of a kube-runtime mapper"
)]
fn server_of_pod(pod: Pod) -> Option<ObjectRef<McpServer>> {
    let labels = pod.metadata.labels.as_ref()?;
    let name = labels.get("app.kubernetes.io/instance")?;
    Some(ObjectRef::new(name).within(pod.metadata.namespace.as_deref()?))
}

/// The McpServers (cached in the returned store) whose generation or deletion changed.
pub fn servers(
    api: Api<McpServer>,
    reachable: &Reachable,
) -> (
    Store<McpServer>,
    impl Stream<Item = Result<McpServer, watcher::Error>> + use<>,
) {
    let (store, writer) = reflector::store();
    let stream = reachable
        .track(watcher(api, watcher::Config::default()))
        .backoff(WatchBackoff::default())
        // What the reconcile never reads is not kept for every McpServer.
        .modify(|mcp| mcp.managed_fields_mut().clear())
        .reflect(writer)
        .applied_objects()
        .predicate_filter(wanted, kube::runtime::PredicateConfig::default());
    (store, stream)
}

/// What an McpServer asks for: its generation, and whether it is being deleted.
#[allow(
    clippy::unnecessary_wraps,
    reason = "the shape of a kube-runtime predicate"
)]
fn wanted(mcp: &McpServer) -> Option<u64> {
    Some(hash_of(&json!([
        mcp.metadata.generation,
        mcp.metadata.deletion_timestamp.is_some()
    ])))
}

/// The children of kind `K` that were deleted or changed as `wake` sees it; those deleted or
/// changed as `edit` sees it are remembered as touched, so that the next reconcile applies them
/// again.
fn changes<K>(
    api: Api<K>,
    wake: fn(&K) -> u64,
    edit: fn(&K) -> u64,
    ctx: Arc<Context>,
) -> impl Stream<Item = Result<K, watcher::Error>> + Send + 'static
where
    K: Resource<DynamicType = ()> + Clone + DeserializeOwned + Debug + Send + Sync + 'static,
{
    let only_ours =
        watcher::Config::default().labels(&format!("app.kubernetes.io/managed-by={MANAGER}"));
    ctx.reachable
        .track(watcher(api, only_ours))
        .backoff(WatchBackoff::default())
        .scan(Seen::default(), move |seen, event| {
            let news = event.map(|e| seen.news(e, wake, edit)).transpose();
            if let Some(Ok((child, true))) = &news
                && let Some(owner) = owner_uid(child)
            {
                let meta = child.meta();
                let key = (
                    static_kind::<K>(),
                    meta.namespace.clone().unwrap_or_default(),
                    meta.name.clone().unwrap_or_default(),
                );
                ctx.memory.touched(&owner, &key);
            }
            future::ready(Some(news.map(|n| n.map(|(child, _)| child))))
        })
        .filter_map(future::ready)
}

/// The kind of `K` as the applies name it (every kind here has a static name).
fn static_kind<K: Resource<DynamicType = ()>>() -> &'static str {
    match K::kind(&()) {
        Cow::Borrowed(kind) => kind,
        Cow::Owned(_) => "",
    }
}

/// The wake and edit keys of every child seen, by uid.
#[derive(Default)]
struct Seen(HashMap<String, (u64, u64)>);

impl Seen {
    /// The child, if this event is news: a deletion, or a `wake` key that moved since it was last
    /// seen; and whether it was edited: deleted, or its `edit` key moved. A first sighting is the
    /// operator's own creation (or a start, when every McpServer is reconciled anyway).
    fn news<K: Resource>(
        &mut self,
        event: watcher::Event<K>,
        wake: fn(&K) -> u64,
        edit: fn(&K) -> u64,
    ) -> Option<(K, bool)> {
        match event {
            watcher::Event::Delete(child) => {
                self.0.remove(&child.uid().unwrap_or_default());
                Some((child, true))
            }
            watcher::Event::Apply(child) | watcher::Event::InitApply(child) => {
                let now = (wake(&child), edit(&child));
                let before = self.0.insert(child.uid().unwrap_or_default(), now);
                let (woken, edited) =
                    before.map_or((false, false), |b| (b.0 != now.0, b.1 != now.1));
                woken.then_some((child, edited))
            }
            watcher::Event::Init | watcher::Event::InitDone => None,
        }
    }
}

/// What others wrote into a child: every managedFields entry but the operator's own.
pub fn foreign<K: Resource>(child: &K) -> u64 {
    let entries: Vec<_> = child
        .meta()
        .managed_fields
        .iter()
        .flatten()
        .filter(|m| m.manager.as_deref() != Some(MANAGER))
        .collect();
    hash_of(&json!(entries))
}

/// What the operator's own apply owns in a child: its managedFields entry but the time. Another
/// writer that takes one of those fields (an edit, a forced apply) or drops the child's fields
/// moves it; the controller-manager's status and revision annotation, and the operator's own
/// unchanged applies, do not.
pub fn ours<K: Resource>(child: &K) -> u64 {
    let owned: Vec<_> = child
        .meta()
        .managed_fields
        .iter()
        .flatten()
        .filter(|m| m.manager.as_deref() == Some(MANAGER))
        .map(|m| (&m.operation, &m.subresource, &m.fields_v1))
        .collect();
    hash_of(&json!(owned))
}

/// A Deployment's rollout (`rollout`) and what the operator owns in it (`ours`): either moving
/// wakes its McpServer.
pub fn rollout_or_ours(deployment: &Deployment) -> u64 {
    hash_of(&json!([rollout(deployment), ours(deployment)]))
}

/// What a Deployment tells that changes the McpServer's conditions: whether the rollout is done
/// or stalled, and the ready replicas. Not each step of a rollout in progress (observed,
/// updated, available: the Deployment controller writes them one by one, and each woke a
/// reconcile); a pod that gets stuck on the way wakes it through `watch_pods`.
pub fn rollout(deployment: &Deployment) -> u64 {
    let status = deployment.status.clone().unwrap_or_default();
    let stands = match progress::rollout(deployment) {
        Progress::Done => "done".to_owned(),
        Progress::Rolling { .. } => "rolling".to_owned(),
        Progress::Stalled { reason, .. } => reason.to_owned(),
    };
    hash_of(&json!([stands, status.ready_replicas]))
}

/// The uid of the McpServer a child belongs to: its controller owner reference's, else the
/// owner-uid label's.
fn owner_uid<K: Resource>(child: &K) -> Option<String> {
    let meta = child.meta();
    controller(meta)
        .map(|o| o.uid.clone())
        .or_else(|| meta.labels.as_ref()?.get(OWNER_UID).cloned())
}

/// The owner reference of the McpServer that controls this child, if it has one.
fn controller(meta: &ObjectMeta) -> Option<&OwnerReference> {
    meta.owner_references
        .iter()
        .flatten()
        .find(|o| o.controller == Some(true) && o.kind == McpServer::kind(&()))
}

/// The McpServer a child belongs to: its controller owner reference, else (bindings in other
/// namespaces, cluster-scoped ones) the McpServer whose uid its label names.
fn owner<K: Resource>(servers: Store<McpServer>) -> impl Fn(K) -> Option<ObjectRef<McpServer>> {
    move |child| {
        let meta = child.meta();
        if let (Some(o), Some(ns)) = (controller(meta), &meta.namespace) {
            return Some(ObjectRef::new(&o.name).within(ns));
        }
        let uid = meta.labels.as_ref()?.get(OWNER_UID)?;
        servers
            .find(|mcp| mcp.metadata.uid.as_ref() == Some(uid))
            .map(|mcp| ObjectRef::from_obj(&*mcp))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::api::apps::v1::DeploymentStatus;
    use k8s_openapi::api::core::v1::ConfigMap;
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::ManagedFieldsEntry;

    fn config_map(uid: &str, managers: &[&str]) -> ConfigMap {
        let mut cm = ConfigMap::default();
        cm.metadata.uid = Some(uid.into());
        cm.metadata.managed_fields = Some(
            managers
                .iter()
                .map(|m| ManagedFieldsEntry {
                    manager: Some((*m).into()),
                    ..Default::default()
                })
                .collect(),
        );
        cm
    }

    #[test]
    fn only_deletions_and_changes_by_others_are_news() {
        let mut seen = Seen::default();
        let ours = config_map("a", &[MANAGER]);
        let news = |seen: &mut Seen, e| {
            seen.news(e, foreign::<ConfigMap>, foreign::<ConfigMap>)
                .is_some()
        };
        assert!(
            !news(&mut seen, watcher::Event::Apply(ours.clone())),
            "created"
        );
        assert!(
            !news(&mut seen, watcher::Event::Apply(ours.clone())),
            "re-applied"
        );
        let edited = config_map("a", &[MANAGER, "kubectl-edit"]);
        assert!(news(&mut seen, watcher::Event::Apply(edited)), "edited");
        assert!(
            news(&mut seen, watcher::Event::Delete(ours.clone())),
            "deleted"
        );
        assert!(!news(&mut seen, watcher::Event::Apply(ours)), "re-created");
    }

    #[test]
    fn a_deployment_wakes_its_server_when_its_rollout_moves() {
        let mut d = Deployment::default();
        d.metadata.generation = Some(1);
        let created = rollout(&d);
        d.metadata.managed_fields = Some(vec![ManagedFieldsEntry {
            manager: Some("kube-controller-manager".into()),
            ..Default::default()
        }]);
        assert_eq!(rollout(&d), created, "annotated by the controller manager");
        d.status = Some(DeploymentStatus {
            ready_replicas: Some(1),
            ..Default::default()
        });
        assert_ne!(rollout(&d), created, "a pod ready");
    }

    fn entry(
        manager: &str,
        subresource: Option<&str>,
        fields: &serde_json::Value,
    ) -> ManagedFieldsEntry {
        serde_json::from_value(json!({
            "manager": manager, "operation": "Update", "subresource": subresource,
            "fieldsType": "FieldsV1", "fieldsV1": fields, "time": "2026-12-06T03:00:00Z",
        }))
        .unwrap()
    }

    #[test]
    fn a_moved_rollout_wakes_a_server_and_only_a_taken_field_makes_it_apply_again() {
        let mut d = Deployment::default();
        d.metadata.uid = Some("d".into());
        d.metadata.generation = Some(1);
        let image =
            json!({"f:spec": {"f:template": {"f:spec": {"f:containers": {"f:image": {}}}}}});
        d.metadata.managed_fields = Some(vec![entry(MANAGER, None, &image)]);
        let mut seen = Seen::default();
        let mut news = |d: &Deployment| {
            seen.news(watcher::Event::Apply(d.clone()), rollout_or_ours, ours)
                .map(|(_, edited)| edited)
        };
        assert_eq!(news(&d), None, "created");
        let fields = d.metadata.managed_fields.as_mut().unwrap();
        fields.push(entry(
            "kube-controller-manager",
            None,
            &json!({"f:metadata": {}}),
        ));
        fields.push(entry(
            "kube-controller-manager",
            Some("status"),
            &json!({"f:status": {}}),
        ));
        fields[0].time = None;
        assert_eq!(
            news(&d),
            None,
            "annotated by the controller manager; the time of our entry"
        );
        d.status = Some(DeploymentStatus {
            ready_replicas: Some(1),
            ..Default::default()
        });
        assert_eq!(news(&d), Some(false), "available: woken, not applied again");
        d.metadata.managed_fields.as_mut().unwrap()[0].fields_v1 = None;
        assert_eq!(news(&d), Some(true), "the image taken by another writer");
    }

    fn pod(waiting: Option<&str>, restarts: i32) -> Pod {
        serde_json::from_value(json!({
            "metadata": {"namespace": "team", "uid": "p",
                         "labels": {"app.kubernetes.io/instance": "mcp"}},
            "status": {"containerStatuses": [{
                "name": "server", "image": "i", "imageID": "", "ready": false,
                "restartCount": restarts,
                "state": waiting.map_or(json!({"running": {}}), |r| json!({"waiting": {"reason": r}})),
            }]},
        }))
        .unwrap()
    }

    #[test]
    fn a_pod_wakes_its_server_when_it_gets_stuck_or_unstuck_not_at_each_restart() {
        let mut seen = Seen::default();
        let mut news = |p: Pod| seen.news(watcher::Event::Apply(p), stuck, stuck).is_some();
        assert!(!news(pod(Some("ContainerCreating"), 0)), "created");
        assert!(!news(pod(None, 0)), "started");
        assert!(news(pod(Some("CrashLoopBackOff"), 1)), "crash-looping");
        assert!(!news(pod(Some("CrashLoopBackOff"), 2)), "one more restart");
        assert!(news(pod(None, 2)), "running again");
        assert_eq!(
            server_of_pod(pod(None, 0)),
            Some(ObjectRef::new("mcp").within("team"))
        );
    }

    #[test]
    fn status_and_finalizer_writes_do_not_wake_a_server() {
        let mut mcp = McpServer::new("m", crate::api::McpServerSpec::default());
        mcp.metadata.generation = Some(1);
        let before = wanted(&mcp);
        mcp.metadata.finalizers = Some(vec!["kubernetes-mcp.io/cleanup".into()]);
        mcp.status = Some(crate::api::McpServerStatus::default());
        assert_eq!(wanted(&mcp), before);
        mcp.metadata.generation = Some(2);
        assert_ne!(wanted(&mcp), before);
    }
}
