//! The controller: what every reconcile shares (`Context`), the wiring of the McpServer watch
//! and of a watch on every namespaced child kind, so that an edited or deleted child is repaired
//! at once, and the back-off after a failure. The reconcile itself is in `reconcile`.
//!
//! Rooms: `reconcile` (the pipeline), `apply` (server-side apply, the orphan sweep, discovery),
//! `progress` (how a rollout stands), `status` (pure conditions), `events`, `memory` (what is
//! remembered per McpServer), `handshake` (the MCP handshake before Ready), `error`, `admission` (whether the admission policies are in force),
//! `watches` (what wakes a reconcile: no status write of its own, no apply of its own),
//! `outage` (the watches' back-off, whether the apiserver is reachable).

mod admission;
mod apply;
mod error;
mod events;
mod handshake;
mod memory;
mod outage;
mod progress;
mod reconcile;
mod status;
mod watches;

use watches::{Children, foreign};

use std::collections::BTreeMap;
use std::fmt::Debug;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use futures::StreamExt as _;
use k8s_openapi::NamespaceResourceScope;
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::{ConfigMap, Pod, Service, ServiceAccount};
use k8s_openapi::api::networking::v1::NetworkPolicy;
use k8s_openapi::api::rbac::v1::{ClusterRoleBinding, RoleBinding};
use kube::api::Api;
use kube::runtime::controller::{self, Action, Controller};
use kube::runtime::events::Reporter;
use kube::{Client, ResourceExt as _};
use opentelemetry_sdk::trace::SdkTracer;
use serde::de::DeserializeOwned;

pub use admission::AdmissionGate;
pub use error::ReconcileError;
pub use outage::Reachable;
pub use reconcile::{FINALIZER, reconcile};

use crate::api::McpServer;
use crate::api::prometheus_rule::PrometheusRule;
use crate::api::service_monitor::ServiceMonitor;
use crate::desired::MANAGER;
use crate::metrics::Metrics;
use crate::validate::TelemetryDefaults;
use memory::Memory;

/// The operator's cluster-wide defaults for what an McpServer leaves unset (its flags).
#[derive(Debug, Clone, Default)]
pub struct Defaults {
    pub telemetry: TelemetryDefaults,
    /// Labels of every ServiceMonitor, under the McpServer's own.
    pub service_monitor_labels: BTreeMap<String, String>,
}

/// What every reconcile shares.
pub struct Context {
    pub client: Client,
    pub default_image: String,
    /// Namespaces that may scrape the metrics port of McpServers that say nothing else.
    pub scrape_namespaces: Vec<String>,
    pub defaults: Defaults,
    pub reporter: Reporter,
    pub metrics: Arc<Metrics>,
    /// One span per reconcile when OpenTelemetry is configured.
    pub tracer: Option<SdkTracer>,
    /// With --require-admission-policy: no RBAC is granted while the policy is not in force.
    /// None (the operator run with the flag false, or in-process tests): not asked.
    pub admission: Option<AdmissionGate>,
    /// Ready only once a pod answers the MCP handshake (the operator's --mcp-probe). Off unless
    /// set: in-process tests run no server.
    pub mcp_probe: bool,
    /// The operator's own namespace, let in to the servers' MCP port for the handshake.
    pub operator_namespace: Option<String>,
    /// Whether the watches reach the apiserver (`/readyz`); its return reconciles everything.
    pub reachable: Reachable,
    /// The namespaces the controllers of `run` watch (None: all), each added when it starts.
    watched: Mutex<Vec<Option<String>>>,
    /// Whether the ServiceMonitor CRD was served, and when that was asked.
    discovered: Mutex<Option<(Instant, apply::MonitoringServed)>>,
    memory: Memory,
}

impl Context {
    pub fn new(client: Client, default_image: String, metrics: Arc<Metrics>) -> Self {
        Self {
            client,
            default_image,
            scrape_namespaces: Vec::new(),
            defaults: Defaults::default(),
            reporter: Reporter {
                controller: MANAGER.into(),
                instance: None,
            },
            metrics,
            tracer: None,
            admission: None,
            mcp_probe: false,
            operator_namespace: None,
            reachable: Reachable::new(true),
            watched: Mutex::new(Vec::new()),
            discovered: Mutex::new(None),
            memory: Memory::default(),
        }
    }

    #[must_use]
    pub fn with_tracer(mut self, tracer: SdkTracer) -> Self {
        self.tracer = Some(tracer);
        self
    }

    /// Grants RBAC only while `gate` says the admission policy is in force.
    #[must_use]
    pub fn with_admission_gate(mut self, gate: AdmissionGate) -> Self {
        self.admission = Some(gate);
        self
    }

    /// Namespaces whose pods may scrape the servers' metrics port by default (the operator's
    /// --scrape-namespaces); none unless set.
    #[must_use]
    pub fn with_scrape_namespaces(mut self, namespaces: Vec<String>) -> Self {
        self.scrape_namespaces = namespaces;
        self
    }

    /// Ready only once a pod answers the MCP handshake, asked from `operator_namespace` (let
    /// in by every server's NetworkPolicy).
    #[must_use]
    pub fn with_mcp_probe(mut self, probe: bool, operator_namespace: Option<String>) -> Self {
        self.mcp_probe = probe;
        self.operator_namespace = operator_namespace;
        self
    }

    /// Whether the ServiceMonitor and PrometheusRule CRDs are served: asked of discovery at most
    /// every 5 s, not once per reconcile (a CRD installed later is seen as soon as the missing
    /// one is looked for again).
    async fn monitoring_served(&self) -> Result<apply::MonitoringServed, ReconcileError> {
        let known = *self
            .discovered
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        if let Some((at, served)) = known
            && at.elapsed() < Duration::from_secs(5)
        {
            return Ok(served);
        }
        let served = apply::monitoring_served(&self.client).await?;
        *self
            .discovered
            .lock()
            .unwrap_or_else(PoisonError::into_inner) = Some((Instant::now(), served));
        Ok(served)
    }

    /// Whether the watches see bindings in `namespace`.
    fn watches(&self, namespace: &str) -> bool {
        let watched = self.watched.lock().unwrap_or_else(PoisonError::into_inner);
        watched
            .iter()
            .any(|w| w.as_deref().is_none_or(|w| w == namespace))
    }

    /// The cluster-wide defaults (none unless set).
    #[must_use]
    pub fn with_defaults(mut self, defaults: Defaults) -> Self {
        self.defaults = defaults;
        self
    }

    /// Reports whether the watches reach the apiserver to `reachable` (read by `/readyz`).
    #[must_use]
    pub fn with_reachable(mut self, reachable: Reachable) -> Self {
        self.reachable = reachable;
        self
    }

    /// Names this replica (its pod) as the instance that reports Events.
    #[must_use]
    pub fn with_pod_name(mut self, pod_name: Option<String>) -> Self {
        self.reporter.instance = pod_name;
        self
    }
}

/// Reconciles at once at most: a thousand McpServers applied together are not a thousand
/// connections to the apiserver, each with its TLS handshake and buffers.
const CONCURRENCY: u16 = 16;

/// Runs the controller for one namespace (or all) until the process is signalled or `shutdown`
/// completes (leadership lost).
pub async fn run(
    context: Arc<Context>,
    namespace: Option<String>,
    shutdown: impl Future<Output = ()> + Send + Sync + 'static,
) {
    let client = context.client.clone();
    context
        .watched
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .push(namespace.clone());
    let ns = namespace.as_deref();
    let (servers, changed) = watches::servers(scoped::<McpServer>(&client, ns), &context.reachable);
    let children = Children {
        context: &context,
        servers: &servers,
    };
    let mut controller = Controller::for_stream(changed, servers.clone());
    controller = children.watch(controller, scoped::<ServiceAccount>(&client, ns), foreign);
    controller = children.watch(controller, scoped::<RoleBinding>(&client, ns), foreign);
    controller = children.watch(
        controller,
        Api::<ClusterRoleBinding>::all(client.clone()),
        foreign,
    );
    controller = children.watch(controller, scoped::<ConfigMap>(&client, ns), foreign);
    controller = children.watch(controller, scoped::<Service>(&client, ns), foreign);
    controller = children.watch_deployments(controller, scoped::<Deployment>(&client, ns));
    controller = children.watch(controller, scoped::<NetworkPolicy>(&client, ns), foreign);
    controller = watches::watch_pods(controller, scoped::<Pod>(&client, ns));
    // A ServiceMonitor or PrometheusRule CRD installed later is seen by the reconcile (it looks
    // again soon) but watched only from the next start.
    match apply::monitoring_served(&client).await {
        Ok(served) => {
            if served.service_monitor {
                controller =
                    children.watch(controller, scoped::<ServiceMonitor>(&client, ns), foreign);
            }
            if served.prometheus_rule {
                controller =
                    children.watch(controller, scoped::<PrometheusRule>(&client, ns), foreign);
            }
        }
        Err(e) => tracing::warn!(error = %e, "ServiceMonitors and PrometheusRules are not watched"),
    }
    // The policy back in force (or gone): every McpServer again, at once.
    if let Some(gate) = &context.admission {
        controller = controller.reconcile_all_on(gate.changes());
    }
    // The apiserver back after an outage: every McpServer again, at once.
    controller = controller.reconcile_all_on(context.reachable.returns());
    controller
        .with_config(controller::Config::default().concurrency(CONCURRENCY))
        // Each watch backs off on its own; a pause of the merged stream held them all.
        .trigger_backoff(outage::NoPause)
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

/// The objects of kind `K` in one namespace, or in all.
fn scoped<K>(client: &Client, namespace: Option<&str>) -> Api<K>
where
    K: kube::Resource<Scope = NamespaceResourceScope, DynamicType = ()>
        + Clone
        + DeserializeOwned
        + Debug,
{
    match namespace {
        Some(ns) => Api::namespaced(client.clone(), ns),
        None => Api::all(client.clone()),
    }
}

#[allow(
    clippy::needless_pass_by_value,
    reason = "the signature kube-runtime's Controller::run asks for"
)]
fn error_policy(mcp: Arc<McpServer>, error: &ReconcileError, ctx: Arc<Context>) -> Action {
    if let ReconcileError::Invalid(_) | ReconcileError::AdmissionPolicyMissing = error {
        // A spec the apiserver let through but we cannot use waits for the next change; a
        // missing admission policy for its return, which re-runs every reconcile.
        return Action::await_change();
    }
    let failures = ctx.memory.failed(&mcp.uid().unwrap_or_default());
    Action::requeue(backoff(failures))
}

/// 5 s after the first failure in a row, doubling up to 5 min.
fn backoff(failures: u32) -> Duration {
    Duration::from_secs(
        5u64.saturating_mul(1 << failures.clamp(1, 7).saturating_sub(1))
            .min(300),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn failures_back_off_exponentially_up_to_five_minutes() {
        let seconds: Vec<u64> = (1..=9).map(|n| backoff(n).as_secs()).collect();
        assert_eq!(seconds, [5, 10, 20, 40, 80, 160, 300, 300, 300]);
    }
}
