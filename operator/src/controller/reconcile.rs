//! One reconcile of one McpServer: timed, counted and traced; behind the cleanup finalizer; and
//! then the pipeline lookup → validate → build → apply → status. Every failure becomes a
//! Warning Event and a Degraded condition. Does I/O through `apply` and `events`; what it
//! decides comes from `validate`, `desired` and `status`.

use std::collections::BTreeSet;
use std::sync::Arc;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use kube::ResourceExt as _;
use kube::api::{Api, Patch, PatchParams};
use kube::runtime::controller::Action;
use kube::runtime::events::EventType;
use kube::runtime::finalizer::{self, Event as FinalizerEvent, finalizer};
use opentelemetry::KeyValue;
use opentelemetry::trace::{Span as _, SpanKind, Status, Tracer as _};
use tracing::Instrument as _;

use super::Context;
use super::apply::{
    MonitoringServed, apply_all, binding_kinds, list_pods, sweep_orphans, swept_kinds, write_status,
};
use super::error::{ReconcileError, is_not_found};
use super::events::Events;
use super::handshake::{Handshake, handshake};
use super::progress::{HANDSHAKE_FAILED, Progress, rollout, with_pods};
use super::status::{changes, degraded, is_ready, next_check, status};
use crate::api::McpServer;
use crate::desired::children;
use crate::validate::{Facts, validate};

/// Cleans up what owner references cannot: RoleBindings in other namespaces and the
/// ClusterRoleBinding.
pub const FINALIZER: &str = "kubernetes-mcp.io/cleanup";

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
        ctx.memory.succeeded(&mcp.uid().unwrap_or_default());
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
    let events = Events::new(ctx.client.clone(), ctx.reporter.clone(), &mcp);
    let result = match with_finalizer(&api, mcp.clone()).await {
        Ok(mcp) => guarded(&api, mcp, ctx, &events).await,
        Err(e) => Err(e),
    };
    if let Err(error) = &result {
        events
            .publish(EventType::Warning, error.reason(), error.to_string())
            .await;
        let status = degraded(&mcp, error, &now());
        ctx.metrics
            .set_ready(&namespace, &mcp.name_any(), is_ready(&status));
        if mcp.status.as_ref() != Some(&status) {
            // The error is what matters; a status that cannot be written is logged only.
            if let Err(e) = write_status(&ctx.client, &mcp, &status).await {
                tracing::warn!(error = %e, "writing the Degraded condition");
            }
        }
    }
    result
}

/// Adds the cleanup finalizer to a live McpServer that lacks it and goes on with the patched
/// object, instead of waiting for the watch to bring the patch back: one reconcile at creation.
async fn with_finalizer(
    api: &Api<McpServer>,
    mcp: Arc<McpServer>,
) -> Result<Arc<McpServer>, ReconcileError> {
    if mcp.metadata.deletion_timestamp.is_some() || mcp.finalizers().iter().any(|f| f == FINALIZER)
    {
        return Ok(mcp);
    }
    let mut finalizers = mcp.finalizers().to_vec();
    finalizers.push(FINALIZER.into());
    // The resourceVersion makes it a compare-and-swap: if another writer moved the list first,
    // the patch fails and the reconcile is retried.
    let patch = serde_json::json!({"metadata": {
        "finalizers": finalizers, "resourceVersion": mcp.resource_version()}});
    api.patch(
        &mcp.name_any(),
        &PatchParams::default(),
        &Patch::Merge(&patch),
    )
    .await
    .map(Arc::new)
    .map_err(|e| ReconcileError::Finalizer {
        source: Box::new(finalizer::Error::AddFinalizer(e)),
    })
}

/// Apply while it lives, clean up when it is deleted (behind the finalizer).
async fn guarded(
    api: &Api<McpServer>,
    mcp: Arc<McpServer>,
    ctx: &Context,
    events: &Events,
) -> Result<Action, ReconcileError> {
    finalizer(api, FINALIZER, mcp, |event| async {
        match event {
            FinalizerEvent::Apply(mcp) => Box::pin(apply_live(&mcp, ctx, events)).await,
            FinalizerEvent::Cleanup(mcp) => cleanup(&mcp, ctx, events).await,
        }
    })
    .await
    .or_else(|e| match e {
        finalizer::Error::ApplyFailed(e) | finalizer::Error::CleanupFailed(e) => Err(e),
        // A second cleanup of an object that is already gone: nothing left to do.
        finalizer::Error::RemoveFinalizer(e) if is_not_found(&e) => Ok(Action::await_change()),
        other => Err(ReconcileError::Finalizer {
            source: Box::new(other),
        }),
    })
}

fn now() -> Time {
    Time(k8s_openapi::jiff::Timestamp::now())
}

/// The pipeline for a live McpServer.
async fn apply_live(
    mcp: &McpServer,
    ctx: &Context,
    events: &Events,
) -> Result<Action, ReconcileError> {
    // Without the admission policy an author could grant what they may not: grant nothing.
    if ctx.admission.as_ref().is_some_and(|gate| !gate.in_force()) {
        return Err(ReconcileError::AdmissionPolicyMissing);
    }
    // lookup: the facts from outside the McpServer that decide what is built
    let served = ctx.monitoring_served().await?;
    let facts = Facts {
        default_image: ctx.default_image.clone(),
        service_monitor_served: served.service_monitor,
        prometheus_rule_served: served.prometheus_rule,
        scrape_namespaces: ctx.scrape_namespaces.clone(),
        telemetry: ctx.defaults.telemetry.clone(),
        service_monitor_labels: ctx.defaults.service_monitor_labels.clone(),
        operator_namespace: ctx
            .mcp_probe
            .then(|| ctx.operator_namespace.clone())
            .flatten(),
    };
    // validate (no client required): every default applied, every rule checked
    let validated = validate(mcp, &facts)?;
    // build (pure): every child
    let desired = children(&validated);
    // apply, in dependency order; then delete what this run did not produce
    let (deployment, applied) =
        match apply_all(&ctx.client, desired, (&ctx.memory, &validated.uid), &|ns| {
            ctx.watches(ns)
        })
        .await
        {
            Ok(done) => done,
            Err(refused @ ReconcileError::RbacRefused { .. }) => {
                // All or nothing: no binding of a refused grant stays, old ones included.
                sweep_orphans(
                    &ctx.client,
                    &validated.uid,
                    &BTreeSet::new(),
                    &binding_kinds(),
                )
                .await?;
                ctx.memory.swept(&validated.uid, BTreeSet::new());
                return Err(refused);
            }
            Err(other) => return Err(other),
        };
    let outcome = ctx.memory.applied(&validated.uid, applied);
    for child in outcome.recreated {
        events.recreated(child).await;
    }
    if let Some(kept) = outcome.sweep {
        let kinds = swept_kinds(served);
        sweep_orphans(&ctx.client, &validated.uid, &kept, &kinds).await?;
        ctx.memory.swept(&validated.uid, kept);
    }
    // how the rollout stands; the pods are read only while it is not done (none at rest)
    let mut progress = rollout(&deployment);
    if matches!(progress, Progress::Rolling { .. }) {
        let pods = list_pods(&ctx.client, &deployment).await?;
        progress = with_pods(progress, &pods);
    }
    // the MCP handshake, once the rollout is done: a pod that does not answer is not Ready
    let handshake = handshake(ctx, &validated, &deployment, &progress).await?;
    match &handshake {
        Handshake::Failed(why) => {
            progress = Progress::Rolling {
                reason: HANDSHAKE_FAILED,
                message: why.clone(),
            };
        }
        // The image serves other tools than the spec asks for: only a change fixes that.
        Handshake::ToolsMissing { missing, .. } => {
            progress = Progress::Stalled {
                reason: "McpToolsMissing",
                message: format!("the server does not list {}", missing.join(", ")),
            };
        }
        _ => {}
    }
    // status: computed from what was applied, written (and told) only when it changed
    let status = status(
        &validated,
        mcp,
        &deployment,
        (&progress, &handshake),
        &now(),
    );
    ctx.metrics
        .set_ready(&validated.namespace, &mcp.name_any(), is_ready(&status));
    if mcp.status.as_ref() != Some(&status) {
        write_status(&ctx.client, mcp, &status).await?;
        for (reason, note) in changes(mcp.status.as_ref(), &status) {
            events.publish(EventType::Normal, reason, note).await;
        }
    }
    Ok(next_check(&validated, &progress, |ns| ctx.watches(ns)))
}

/// Deletes what the finalizer guards: the bindings labelled with this McpServer's uid. (Its
/// ServiceMonitor and PrometheusRule, like every other owned child, go by garbage collection.)
async fn cleanup(
    mcp: &McpServer,
    ctx: &Context,
    events: &Events,
) -> Result<Action, ReconcileError> {
    let uid = mcp.uid().unwrap_or_default();
    let kinds = swept_kinds(MonitoringServed::default());
    sweep_orphans(&ctx.client, &uid, &BTreeSet::new(), &kinds).await?;
    ctx.memory.forget(&uid);
    ctx.metrics
        .forget(&mcp.namespace().unwrap_or_default(), &mcp.name_any());
    events
        .publish(
            EventType::Normal,
            "CleanedUp",
            "deleted its bindings outside the namespace".into(),
        )
        .await;
    Ok(Action::await_change())
}
