//! Leader election for the operator binary: run the controllers at once, or only while this
//! replica holds the leader Lease, so that several replicas are safe. Does I/O (the Lease,
//! signals).

use std::sync::Arc;

use anyhow::Context as _;
use kube_lease_manager::LeaseManagerBuilder;
use kubernetes_mcp_operator::controller::{self, Context};
use kubernetes_mcp_operator::metrics::Metrics;
use kubernetes_mcp_otel as telemetry;
use tokio::sync::watch;

/// Seconds a Lease is held without renewal before another replica may take it.
const LEASE_SECONDS: u64 = 15;
/// Renew this long before the Lease would expire.
const LEASE_GRACE_SECONDS: u64 = 5;

/// How replicas agree on one leader.
#[derive(Debug, clap::Args)]
pub struct Election {
    /// Reconcile only while holding the Lease, so that several replicas are safe.
    #[arg(long, env = "KMCP_LEADER_ELECT", default_value_t = true, action = clap::ArgAction::Set)]
    leader_elect: bool,
    /// Namespace of the leader Lease (in a pod: its own namespace).
    #[arg(long, env = "POD_NAMESPACE", default_value = "default")]
    lease_namespace: String,
    /// Name of the leader Lease.
    #[arg(long, default_value = "kubernetes-mcp-operator")]
    lease_name: String,
}

/// Runs the controllers for `namespaces` (all when empty): at once, or once this replica holds
/// the leader Lease, as `pod_name` (else host name and process id).
pub async fn run(
    election: &Election,
    pod_name: Option<&str>,
    client: kube::Client,
    context: &Arc<Context>,
    namespaces: &[String],
    metrics: &Metrics,
) -> anyhow::Result<()> {
    if !election.leader_elect {
        metrics.leader.set(1);
        run_all(context, namespaces, watch::channel(true).1).await;
        return Ok(());
    }
    let identity = pod_name.map_or_else(
        || {
            format!(
                "{}-{}",
                telemetry::host_name().unwrap_or_default(),
                std::process::id()
            )
        },
        str::to_owned,
    );
    let lease = LeaseManagerBuilder::new(client, &election.lease_name)
        .with_namespace(&election.lease_namespace)
        .with_identity(&identity)
        .with_duration(LEASE_SECONDS)
        .with_grace(LEASE_GRACE_SECONDS)
        .build()
        .await
        .context("preparing the leader Lease")?;
    let (mut leading, lease_task) = lease.watch().await;
    tracing::info!(%identity, lease = %election.lease_name, "waiting to lead");
    tokio::select! {
        won = leading.wait_for(|leads| *leads) => { won.context("the Lease watcher stopped")?; }
        () = stopped() => return Ok(()),
    }
    tracing::info!(%identity, "leading: reconciling");
    metrics.leader.set(1);
    run_all(context, namespaces, leading.clone()).await;
    metrics.leader.set(0);
    let lost = !*leading.borrow();
    // Dropping the last receiver makes the watcher release the Lease for the next replica.
    drop(leading);
    let _ = lease_task.await;
    if lost {
        anyhow::bail!("lost the leader Lease; exiting so that a fresh start rejoins the election");
    }
    Ok(())
}

/// One controller per watched namespace (or one for all), until a signal or lost leadership.
async fn run_all(context: &Arc<Context>, namespaces: &[String], leading: watch::Receiver<bool>) {
    let lost = move || {
        let mut leading = leading.clone();
        async move {
            let _ = leading.wait_for(|leads| !*leads).await;
        }
    };
    if namespaces.is_empty() {
        controller::run(context.clone(), None, lost()).await;
        return;
    }
    futures::future::join_all(
        namespaces
            .iter()
            .map(|ns| controller::run(context.clone(), Some(ns.clone()), lost())),
    )
    .await;
}

/// SIGTERM or Ctrl-C.
async fn stopped() {
    use tokio::signal::unix::{SignalKind, signal};
    let Ok(mut term) = signal(SignalKind::terminate()) else {
        let _ = tokio::signal::ctrl_c().await;
        return;
    };
    tokio::select! {
        _ = term.recv() => {}
        _ = tokio::signal::ctrl_c() => {}
    }
}
