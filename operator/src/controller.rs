//! The reconcile loop: lookup → validate → build → apply (server-side apply, one field manager)
//! → status. Children are watched, so an edited or deleted child is repaired. Does I/O against
//! the apiserver; everything it decides comes from `validate`, `desired` and `conditions`.

use std::collections::{BTreeSet, HashMap};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use futures::StreamExt as _;
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::{ConfigMap, ObjectReference, Service};
use k8s_openapi::api::rbac::v1::{ClusterRole, ClusterRoleBinding, Role, RoleBinding};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{Condition, Time};
use kube::api::{Api, DeleteParams, DynamicObject, ListParams, Patch, PatchParams};
use kube::core::{ApiResource, GroupVersionKind};
use kube::error::DiscoveryError;
use kube::runtime::controller::{Action, Controller};
use kube::runtime::events::{Event, EventType, Recorder, Reporter};
use kube::runtime::finalizer::{self, Event as FinalizerEvent, finalizer};
use kube::runtime::reflector::ObjectRef;
use kube::runtime::watcher;
use kube::{Client, Resource as _, ResourceExt as _};
use opentelemetry::KeyValue;
use opentelemetry::trace::{Span as _, SpanKind, Status, Tracer as _};
use opentelemetry_sdk::trace::SdkTracer;
use serde::Serialize;
use serde::de::DeserializeOwned;
use tracing::Instrument as _;

use crate::api::{McpServer, McpServerStatus};
use crate::desired::{Children, MANAGER, OWNER_UID, children};
use crate::metrics::Metrics;
use crate::validate::{
    Facts, SERVER_PORT, ServiceMonitorPlan, ValidatedMcpServer, ValidationError, validate,
};

#[derive(Debug, thiserror::Error)]
pub enum ReconcileError {
    #[error("invalid McpServer: {0}")]
    Invalid(#[from] ValidationError),
    #[error("applying {kind} {name}: {source}")]
    Apply {
        kind: &'static str,
        name: String,
        #[source]
        source: kube::Error,
    },
    #[error("looking up {what}: {source}")]
    Lookup {
        what: &'static str,
        #[source]
        source: kube::Error,
    },
    #[error("deleting {kind} {name}: {source}")]
    Delete {
        kind: &'static str,
        name: String,
        #[source]
        source: kube::Error,
    },
    #[error("the cleanup finalizer: {0}")]
    Finalizer(String),
}

impl ReconcileError {
    /// The reason of the Degraded condition, the Event and the error metric label.
    pub fn reason(&self) -> &'static str {
        match self {
            Self::Invalid(e) => e.reason(),
            Self::Apply { .. } => "ApplyFailed",
            Self::Lookup { .. } => "LookupFailed",
            Self::Delete { .. } => "DeleteFailed",
            Self::Finalizer(_) => "FinalizerFailed",
        }
    }
}

/// Cleans up what owner references cannot: Roles in other namespaces and cluster-scoped RBAC.
pub const FINALIZER: &str = "kubernetes-mcp.io/cleanup";

/// What every reconcile shares.
pub struct Context {
    pub client: Client,
    pub default_image: String,
    pub reporter: Reporter,
    pub metrics: Arc<Metrics>,
    /// One span per reconcile when OpenTelemetry is configured.
    pub tracer: Option<SdkTracer>,
    /// Failed reconciles in a row per McpServer, for the error back-off.
    failures: Mutex<HashMap<ObjectRef<McpServer>, u32>>,
    /// What the last reconciles of each McpServer (by uid) left behind; forgotten at cleanup.
    remembered: Mutex<HashMap<String, Remembered>>,
}

/// What the operator remembers of one McpServer between reconciles.
#[derive(Default)]
struct Remembered {
    /// The uid of every child as last applied: a child whose uid changed was deleted or
    /// replaced by someone, and its repair deserves an Event.
    child_uids: HashMap<ChildKey, String>,
    /// The RBAC set at the last sweep: the sweep's four cluster-wide lists run again only when
    /// that set changes (and once per McpServer after a start).
    swept_rbac: Option<BTreeSet<ChildKey>>,
}

/// A lock that a panic elsewhere cannot poison for good: the maps only hold hints.
fn locked<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

/// (kind, namespace, name) of a child; the namespace is empty for cluster-scoped ones.
type ChildKey = (&'static str, String, String);

impl Context {
    pub fn new(client: Client, default_image: String, metrics: Arc<Metrics>) -> Self {
        Self {
            client,
            default_image,
            reporter: Reporter {
                controller: MANAGER.into(),
                instance: std::env::var("POD_NAME").ok(),
            },
            metrics,
            tracer: None,
            failures: Mutex::default(),
            remembered: Mutex::default(),
        }
    }

    #[must_use]
    pub fn with_tracer(mut self, tracer: SdkTracer) -> Self {
        self.tracer = Some(tracer);
        self
    }
}

fn service_monitor_resource() -> ApiResource {
    ApiResource::from_gvk_with_plural(
        &GroupVersionKind::gvk("monitoring.coreos.com", "v1", "ServiceMonitor"),
        "servicemonitors",
    )
}

/// Runs the controller for one namespace (or all) until the process is signalled or `shutdown`
/// completes (leadership lost).
pub async fn run(
    context: Arc<Context>,
    namespace: Option<String>,
    shutdown: impl Future<Output = ()> + Send + Sync + 'static,
) {
    let client = context.client.clone();
    let api = |c: &Client| -> Api<McpServer> {
        match &namespace {
            Some(ns) => Api::namespaced(c.clone(), ns),
            None => Api::all(c.clone()),
        }
    };
    let owned = |c: &Client| match &namespace {
        Some(ns) => (
            Api::<Deployment>::namespaced(c.clone(), ns),
            Api::<ConfigMap>::namespaced(c.clone(), ns),
            Api::<Service>::namespaced(c.clone(), ns),
        ),
        None => (
            Api::all(c.clone()),
            Api::all(c.clone()),
            Api::all(c.clone()),
        ),
    };
    let (deployments, config_maps, services) = owned(&client);
    Controller::new(api(&client), watcher::Config::default())
        .owns(deployments, watcher::Config::default())
        .owns(config_maps, watcher::Config::default())
        .owns(services, watcher::Config::default())
        .shutdown_on_signal()
        .graceful_shutdown_on(shutdown)
        .run(reconcile, error_policy, context)
        .for_each(|result| async move {
            if let Err(e) = result {
                tracing::warn!(error = %e, "reconcile failed");
            }
        })
        .await;
}

#[allow(
    clippy::needless_pass_by_value,
    reason = "the signature kube-runtime's Controller::run asks for"
)]
fn error_policy(mcp: Arc<McpServer>, error: &ReconcileError, ctx: Arc<Context>) -> Action {
    if let ReconcileError::Invalid(_) = error {
        // A spec the apiserver let through but we cannot use waits for the next change.
        return Action::await_change();
    }
    let mut failures = locked(&ctx.failures);
    let count = failures.entry(ObjectRef::from_obj(&*mcp)).or_insert(0);
    *count += 1;
    Action::requeue(backoff(*count))
}

/// 5 s after the first failure in a row, doubling up to 5 min.
fn backoff(failures: u32) -> Duration {
    Duration::from_secs(
        5u64.saturating_mul(1 << failures.clamp(1, 7).saturating_sub(1))
            .min(300),
    )
}

/// One reconcile of one McpServer, timed and counted, in a span of its own (a log span, and an
/// OpenTelemetry span `reconcile McpServer` when tracing is configured).
pub async fn reconcile(mcp: Arc<McpServer>, ctx: Arc<Context>) -> Result<Action, ReconcileError> {
    let namespace = mcp.namespace().unwrap_or_default();
    let name = mcp.name_any();
    let generation = mcp.metadata.generation.unwrap_or_default();
    let log_span = tracing::info_span!(
        "reconcile",
        k8s.namespace.name = %namespace,
        mcpserver = %name,
        generation,
    );
    let mut otel_span = ctx.tracer.as_ref().map(|tracer| {
        tracer
            .span_builder("reconcile McpServer")
            .with_kind(SpanKind::Internal)
            .with_attributes([
                KeyValue::new("k8s.namespace.name", namespace),
                KeyValue::new("kubernetes_mcp.mcpserver.name", name),
                KeyValue::new("kubernetes_mcp.mcpserver.generation", generation),
            ])
            .start(tracer)
    });
    let started = std::time::Instant::now();
    let result = reconcile_once(mcp.clone(), &ctx).instrument(log_span).await;
    let failure = result.as_ref().err().map(ReconcileError::reason);
    if failure.is_none() {
        locked(&ctx.failures).remove(&ObjectRef::from_obj(&*mcp));
    }
    ctx.metrics.record(started.elapsed().as_secs_f64(), failure);
    if let Some(span) = otel_span.as_mut() {
        match &result {
            Ok(_) => span.set_status(Status::Ok),
            Err(e) => {
                span.set_attribute(KeyValue::new("error.type", e.reason()));
                span.set_status(Status::error(e.to_string()));
            }
        }
        span.end();
    }
    result
}

/// Apply while it lives, clean up when it is deleted. Every failure becomes a Warning Event and
/// a Degraded condition.
async fn reconcile_once(mcp: Arc<McpServer>, ctx: &Context) -> Result<Action, ReconcileError> {
    let namespace = mcp.namespace().unwrap_or_default();
    let api: Api<McpServer> = Api::namespaced(ctx.client.clone(), &namespace);
    let events = Events {
        recorder: Recorder::new(ctx.client.clone(), ctx.reporter.clone()),
        reference: mcp.object_ref(&()),
    };
    let result = finalizer(&api, FINALIZER, mcp.clone(), |event| async {
        match event {
            FinalizerEvent::Apply(mcp) => Box::pin(apply_live(&mcp, ctx, &events)).await,
            FinalizerEvent::Cleanup(mcp) => cleanup(&mcp, ctx, &events).await,
        }
    })
    .await
    .or_else(|e| match e {
        finalizer::Error::ApplyFailed(e) | finalizer::Error::CleanupFailed(e) => Err(e),
        // A second cleanup of an object that is already gone: nothing left to do.
        finalizer::Error::RemoveFinalizer(kube::Error::Api(s)) if s.code == 404 => {
            Ok(Action::await_change())
        }
        other => Err(ReconcileError::Finalizer(other.to_string())),
    });
    if let Err(error) = &result {
        events
            .publish(EventType::Warning, error.reason(), error.to_string())
            .await;
        let status = degraded(&mcp, error, &now());
        if mcp.status.as_ref() != Some(&status) {
            // The error is what matters; a status that cannot be written is logged only.
            if let Err(e) = write_status(&ctx.client, &mcp, &status).await {
                tracing::warn!(error = %e, "writing the Degraded condition");
            }
        }
    }
    result
}

/// Events about one McpServer.
struct Events {
    recorder: Recorder,
    reference: ObjectReference,
}

impl Events {
    async fn publish(&self, type_: EventType, reason: &str, note: String) {
        let event = Event {
            type_,
            reason: reason.to_owned(),
            note: Some(note),
            action: "Reconcile".into(),
            secondary: None,
        };
        if let Err(e) = self.recorder.publish(&event, &self.reference).await {
            tracing::warn!(error = %e, reason, "publishing an Event");
        }
    }
}

fn now() -> Time {
    Time(k8s_openapi::jiff::Timestamp::now())
}

async fn write_status(
    client: &Client,
    mcp: &McpServer,
    status: &McpServerStatus,
) -> Result<(), ReconcileError> {
    let name = mcp.name_any();
    let api: Api<McpServer> = Api::namespaced(client.clone(), &mcp.namespace().unwrap_or_default());
    api.patch_status(
        &name,
        &PatchParams::apply(MANAGER).force(),
        &Patch::Apply(serde_json::json!({
            "apiVersion": "kubernetes-mcp.io/v1alpha1", "kind": "McpServer", "status": status,
        })),
    )
    .await
    .map_err(|source| ReconcileError::Apply {
        kind: "McpServer status",
        name,
        source,
    })?;
    Ok(())
}

/// Applies the children of a live McpServer, sweeps what it no longer wants, writes status.
async fn apply_live(
    mcp: &McpServer,
    ctx: &Context,
    events: &Events,
) -> Result<Action, ReconcileError> {
    let facts = Facts {
        default_image: ctx.default_image.clone(),
        service_monitor_served: service_monitor_served(&ctx.client).await?,
    };
    let validated = validate(mcp, &facts)?;
    let desired = children(&validated);
    let kept = rbac_names(&desired);
    let (deployment, applied) = apply_all(&ctx.client, desired).await?;
    let (repaired, swept_already) = {
        let mut all = locked(&ctx.remembered);
        let remembered = all.entry(validated.uid.clone()).or_default();
        (
            recreated(&mut remembered.child_uids, applied),
            remembered.swept_rbac.as_ref() == Some(&kept),
        )
    };
    for (kind, namespace, name) in repaired {
        let place = if namespace.is_empty() {
            name
        } else {
            format!("{namespace}/{name}")
        };
        events
            .publish(
                EventType::Normal,
                "Recreated",
                format!("{kind} {place} had been deleted or replaced; applied again"),
            )
            .await;
    }
    if !swept_already {
        sweep_rbac(&ctx.client, &validated.uid, &kept).await?;
        locked(&ctx.remembered)
            .entry(validated.uid.clone())
            .or_default()
            .swept_rbac = Some(kept);
    }
    if validated.service_monitor == ServiceMonitorPlan::Delete {
        delete_service_monitor(&ctx.client, &validated).await?;
    }
    let status = status(&validated, mcp, &deployment, &now());
    if mcp.status.as_ref() != Some(&status) {
        write_status(&ctx.client, mcp, &status).await?;
        for (reason, note) in changes(mcp.status.as_ref(), &status) {
            events.publish(EventType::Normal, reason, note).await;
        }
    }
    Ok(next_check(&validated))
}

/// When to look again without a change: soon while a wanted ServiceMonitor's CRD is missing
/// (it may be installed at any time, and nothing else would wake us), else every five minutes.
fn next_check(v: &ValidatedMcpServer) -> Action {
    if v.service_monitor == ServiceMonitorPlan::AwaitCrd {
        Action::requeue(Duration::from_secs(10))
    } else {
        Action::requeue(Duration::from_secs(300))
    }
}

/// The Events a status change deserves: a newly applied generation, readiness won or lost.
fn changes(
    before: Option<&McpServerStatus>,
    after: &McpServerStatus,
) -> Vec<(&'static str, String)> {
    let ready = |s: Option<&McpServerStatus>| {
        s.and_then(|s| s.conditions.iter().find(|c| c.type_ == "Ready"))
            .map(|c| c.status == "True")
    };
    let mut changes = Vec::new();
    if before.and_then(|s| s.observed_generation) != after.observed_generation {
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

/// Deletes what the finalizer guards: every RBAC object labelled with this McpServer's uid.
async fn cleanup(
    mcp: &McpServer,
    ctx: &Context,
    events: &Events,
) -> Result<Action, ReconcileError> {
    let uid = mcp.uid().unwrap_or_default();
    sweep_rbac(&ctx.client, &uid, &BTreeSet::new()).await?;
    locked(&ctx.remembered).remove(&uid);
    events
        .publish(
            EventType::Normal,
            "CleanedUp",
            "deleted its RBAC outside the namespace".into(),
        )
        .await;
    Ok(Action::await_change())
}

/// (kind, namespace, name) of every RBAC child that should exist.
fn rbac_names(c: &Children) -> BTreeSet<ChildKey> {
    let key = |kind, meta: &kube::api::ObjectMeta| {
        (
            kind,
            meta.namespace.clone().unwrap_or_default(),
            meta.name.clone().unwrap_or_default(),
        )
    };
    c.roles
        .iter()
        .map(|r| key("Role", &r.metadata))
        .chain(
            c.role_bindings
                .iter()
                .map(|r| key("RoleBinding", &r.metadata)),
        )
        .chain(
            c.cluster_role
                .iter()
                .map(|r| key("ClusterRole", &r.metadata)),
        )
        .chain(
            c.cluster_role_binding
                .iter()
                .map(|r| key("ClusterRoleBinding", &r.metadata)),
        )
        .collect()
}

/// Deletes the RBAC objects labelled with `uid` that are not in `keep` (a scope or namespace
/// list that changed leaves them behind; owner references cannot reach them).
async fn sweep_rbac(
    client: &Client,
    uid: &str,
    keep: &BTreeSet<ChildKey>,
) -> Result<(), ReconcileError> {
    let selector = ListParams::default().labels(&format!("{OWNER_UID}={uid}"));
    for (kind, resource) in [
        ("Role", ApiResource::erase::<Role>(&())),
        ("RoleBinding", ApiResource::erase::<RoleBinding>(&())),
        ("ClusterRole", ApiResource::erase::<ClusterRole>(&())),
        (
            "ClusterRoleBinding",
            ApiResource::erase::<ClusterRoleBinding>(&()),
        ),
    ] {
        let found = Api::<DynamicObject>::all_with(client.clone(), &resource)
            .list_metadata(&selector)
            .await
            .map_err(|source| ReconcileError::Lookup { what: kind, source })?;
        for object in found {
            let namespace = object.namespace().unwrap_or_default();
            let name = object.name_any();
            if keep.contains(&(kind, namespace.clone(), name.clone())) {
                continue;
            }
            let api: Api<DynamicObject> = if namespace.is_empty() {
                Api::all_with(client.clone(), &resource)
            } else {
                Api::namespaced_with(client.clone(), &namespace, &resource)
            };
            match api.delete(&name, &DeleteParams::default()).await {
                Ok(_) => {}
                Err(kube::Error::Api(s)) if s.code == 404 => {}
                Err(source) => return Err(ReconcileError::Delete { kind, name, source }),
            }
        }
    }
    Ok(())
}

/// Removes the ServiceMonitor of an McpServer that no longer asks for one.
async fn delete_service_monitor(
    client: &Client,
    v: &ValidatedMcpServer,
) -> Result<(), ReconcileError> {
    let api: Api<DynamicObject> =
        Api::namespaced_with(client.clone(), &v.namespace, &service_monitor_resource());
    match api.delete(&v.name, &DeleteParams::default()).await {
        Ok(_) => Ok(()),
        Err(kube::Error::Api(s)) if s.code == 404 => Ok(()),
        Err(source) => Err(ReconcileError::Delete {
            kind: "ServiceMonitor",
            name: v.name.clone(),
            source,
        }),
    }
}

async fn service_monitor_served(client: &Client) -> Result<bool, ReconcileError> {
    match kube::discovery::pinned_kind(
        client,
        &GroupVersionKind::gvk("monitoring.coreos.com", "v1", "ServiceMonitor"),
    )
    .await
    {
        Ok(_) => Ok(true),
        // The group gone (404) or the group served without this kind: not installed.
        Err(kube::Error::Api(s)) if s.code == 404 => Ok(false),
        Err(kube::Error::Discovery(
            DiscoveryError::MissingKind(_)
            | DiscoveryError::MissingApiGroup(_)
            | DiscoveryError::MissingResource(_)
            | DiscoveryError::EmptyApiGroup(_),
        )) => Ok(false),
        Err(source) => Err(ReconcileError::Lookup {
            what: "the ServiceMonitor CRD",
            source,
        }),
    }
}

async fn apply<K>(
    api: Api<K>,
    kind: &'static str,
    object: &K,
    applied: &mut Vec<(ChildKey, String)>,
) -> Result<K, ReconcileError>
where
    K: kube::Resource + Clone + DeserializeOwned + Serialize + std::fmt::Debug,
{
    let name = object.name_any();
    let result = api
        .patch(
            &name,
            &PatchParams::apply(MANAGER).force(),
            &Patch::Apply(object),
        )
        .await
        .map_err(|source| ReconcileError::Apply { kind, name, source })?;
    applied.push((
        (
            kind,
            result.namespace().unwrap_or_default(),
            result.name_any(),
        ),
        result.uid().unwrap_or_default(),
    ));
    Ok(result)
}

/// Applies a namespaced child in the namespace its own metadata names (Roles may live in
/// other namespaces than their McpServer).
async fn apply_namespaced<K>(
    client: &Client,
    kind: &'static str,
    object: &K,
    applied: &mut Vec<(ChildKey, String)>,
) -> Result<K, ReconcileError>
where
    K: kube::Resource<Scope = k8s_openapi::NamespaceResourceScope, DynamicType = ()>
        + Clone
        + DeserializeOwned
        + Serialize
        + std::fmt::Debug,
{
    let namespace = object.namespace().unwrap_or_default();
    apply(
        Api::namespaced(client.clone(), &namespace),
        kind,
        object,
        applied,
    )
    .await
}

/// The children whose uid differs from the one last applied (first sightings are not news);
/// `known` is updated to what was applied now. Pure.
fn recreated(
    known: &mut HashMap<ChildKey, String>,
    applied: Vec<(ChildKey, String)>,
) -> Vec<ChildKey> {
    let mut changed = Vec::new();
    for (key, uid) in applied {
        if let Some(previous) = known.insert(key.clone(), uid.clone())
            && previous != uid
        {
            changed.push(key);
        }
    }
    changed
}

/// Applies every child in dependency order; returns the Deployment as the apiserver has it and
/// the identity of every child applied.
async fn apply_all(
    client: &Client,
    desired: Children,
) -> Result<(Deployment, Vec<(ChildKey, String)>), ReconcileError> {
    let Children {
        service_account,
        roles,
        role_bindings,
        cluster_role,
        cluster_role_binding,
        config_map,
        deployment,
        service,
        service_monitor,
    } = desired;
    // The identity first, then what it may do, then its config, then what runs with them.
    let mut applied = Vec::new();
    let seen = &mut applied;
    apply_namespaced(client, "ServiceAccount", &service_account, seen).await?;
    for role in &roles {
        apply_namespaced(client, "Role", role, seen).await?;
    }
    for binding in &role_bindings {
        apply_namespaced(client, "RoleBinding", binding, seen).await?;
    }
    if let Some(role) = &cluster_role {
        apply(Api::all(client.clone()), "ClusterRole", role, seen).await?;
    }
    if let Some(binding) = &cluster_role_binding {
        apply(
            Api::all(client.clone()),
            "ClusterRoleBinding",
            binding,
            seen,
        )
        .await?;
    }
    apply_namespaced(client, "ConfigMap", &config_map, seen).await?;
    apply_namespaced(client, "Service", &service, seen).await?;
    let deployment = apply_namespaced(client, "Deployment", &deployment, seen).await?;
    if let Some(monitor) = &service_monitor {
        apply_namespaced(client, "ServiceMonitor", monitor, seen).await?;
    }
    Ok((deployment, applied))
}

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

/// The status for what was applied. Pure.
pub fn status(
    v: &ValidatedMcpServer,
    mcp: &McpServer,
    deployment: &Deployment,
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
    let served = match v.service_monitor {
        ServiceMonitorPlan::Create { .. } => Some(true),
        ServiceMonitorPlan::AwaitCrd => Some(false),
        ServiceMonitorPlan::Delete | ServiceMonitorPlan::Absent => None,
    };
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
    }
}

/// The status after a failed reconcile: Degraded with the error; an invalid spec is also not
/// Ready. Other fields keep what the last good reconcile found. Pure.
pub fn degraded(mcp: &McpServer, error: &ReconcileError, now: &Time) -> McpServerStatus {
    let previous = previous_conditions(mcp);
    let generation = mcp.metadata.generation;
    let mut status = mcp.status.clone().unwrap_or_default();
    let mut set = |c: Condition| {
        status.conditions.retain(|old| old.type_ != c.type_);
        status.conditions.push(c);
    };
    set(condition(
        previous,
        generation,
        now,
        ("Degraded", true, error.reason(), error.to_string()),
    ));
    if matches!(error, ReconcileError::Invalid(_)) {
        set(condition(
            previous,
            generation,
            now,
            ("Ready", false, error.reason(), error.to_string()),
        ));
        status.observed_generation = generation;
    }
    status
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::jiff::Timestamp;

    fn inputs(ready: i32) -> (ValidatedMcpServer, McpServer, Deployment) {
        let mut mcp: McpServer = serde_json::from_value(serde_json::json!({
            "apiVersion": "kubernetes-mcp.io/v1alpha1", "kind": "McpServer",
            "metadata": {"name": "m", "namespace": "apps", "uid": "u", "generation": 2},
            "spec": {"metrics": {"serviceMonitor": {"enabled": true}}}
        }))
        .unwrap();
        mcp.status = None;
        let facts = Facts {
            default_image: "i".into(),
            service_monitor_served: false,
        };
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
        let s = status(&v, &mcp, &d, &at(100));
        assert_eq!(s.url.as_deref(), Some("http://m.apps.svc:8080/mcp"));
        assert_eq!(s.observed_generation, Some(2));
        let ready = s.conditions.iter().find(|c| c.type_ == "Ready").unwrap();
        assert_eq!(
            (ready.status.as_str(), ready.reason.as_str()),
            ("True", "Available")
        );
        let (v, mcp, d) = inputs(0);
        let s = status(&v, &mcp, &d, &at(100));
        assert_eq!(s.conditions[0].status, "False");
    }

    #[test]
    fn a_wanted_but_unserved_service_monitor_is_a_false_condition() {
        let (v, mcp, d) = inputs(1);
        let s = status(&v, &mcp, &d, &at(100));
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
        mcp.status = Some(status(&v, &mcp, &d, &at(100)));
        let failed = ReconcileError::Finalizer("boom".into());
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
        let ready = status(&v, &mcp, &d, &at(100));
        let reasons = |before, after: &McpServerStatus| -> Vec<&str> {
            changes(before, after).into_iter().map(|(r, _)| r).collect()
        };
        assert_eq!(reasons(None, &ready), ["Applied", "Ready"]);
        assert!(reasons(Some(&ready), &ready).is_empty());
        let (_, _, none_ready) = inputs(0);
        let lost = status(&v, &mcp, &none_ready, &at(200));
        assert_eq!(reasons(Some(&ready), &lost), ["NotReady"]);
    }

    #[test]
    fn failures_back_off_exponentially_up_to_five_minutes() {
        let seconds: Vec<u64> = (1..=9).map(|n| backoff(n).as_secs()).collect();
        assert_eq!(seconds, [5, 10, 20, 40, 80, 160, 300, 300, 300]);
    }

    #[test]
    fn only_a_child_whose_uid_changed_counts_as_recreated() {
        let key = |name: &str| ("ConfigMap", "apps".to_owned(), name.to_owned());
        let mut known = HashMap::new();
        let first = vec![(key("a"), "1".to_owned()), (key("b"), "2".to_owned())];
        assert!(recreated(&mut known, first.clone()).is_empty());
        assert!(recreated(&mut known, first).is_empty());
        let again = vec![(key("a"), "1".to_owned()), (key("b"), "3".to_owned())];
        assert_eq!(recreated(&mut known, again), [key("b")]);
    }

    #[test]
    fn a_missing_service_monitor_crd_is_looked_for_again_soon() {
        let (v, mcp, _) = inputs(1);
        assert_eq!(next_check(&v), Action::requeue(Duration::from_secs(10)));
        let served = Facts {
            default_image: "i".into(),
            service_monitor_served: true,
        };
        assert_eq!(
            next_check(&validate(&mcp, &served).unwrap()),
            Action::requeue(Duration::from_secs(300))
        );
    }

    #[test]
    fn transition_time_moves_only_when_the_status_flips() {
        let (v, mut mcp, d) = inputs(1);
        let first = status(&v, &mcp, &d, &at(100));
        mcp.status = Some(first.clone());
        let again = status(&v, &mcp, &d, &at(200));
        assert_eq!(
            again, first,
            "nothing changed: the status (and so no write) is the same"
        );
        let (_, _, not_ready) = inputs(0);
        let flipped = status(&v, &mcp, &not_ready, &at(300));
        assert_eq!(flipped.conditions[0].last_transition_time, at(300));
    }
}
