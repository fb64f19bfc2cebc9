//! Server-side apply (one field manager, forced) of an McpServer's children and of its status;
//! the one orphan sweep, by the owner-uid label; whether the ServiceMonitor and PrometheusRule
//! CRDs are served; the pods of a Deployment.
//! Does I/O against the apiserver.

use std::collections::BTreeSet;

use k8s_openapi::NamespaceResourceScope;
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::Pod;
use k8s_openapi::api::networking::v1::NetworkPolicy;
use k8s_openapi::api::rbac::v1::{ClusterRoleBinding, RoleBinding};
use kube::api::{Api, DeleteParams, DynamicObject, ListParams, Patch, PatchParams, VersionMatch};
use kube::core::{ApiResource, GroupVersion};
use kube::error::DiscoveryError;
use kube::{Client, Resource as _, ResourceExt as _};
use serde::Serialize;
use serde::de::DeserializeOwned;

use super::error::{ReconcileError, is_forbidden, is_not_found};
use super::memory::{ChildKey, Memory, hash_of};
use super::progress::pod_selector;
use crate::api::prometheus_rule::PrometheusRule;
use crate::api::service_monitor::ServiceMonitor;
use crate::api::{McpServer, McpServerStatus};
use crate::desired::{Children, MANAGER, OWNER_UID};

/// Every child applied in one run: its key and its uid as the apiserver has it.
pub type AppliedChildren = Vec<(ChildKey, String)>;

/// Which of prometheus-operator's kinds are served (its CRDs installed), as of one lookup.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct MonitoringServed {
    pub service_monitor: bool,
    pub prometheus_rule: bool,
}

/// Whether monitoring.coreos.com/v1 ServiceMonitor and PrometheusRule are served: one discovery
/// request for both.
pub async fn monitoring_served(client: &Client) -> Result<MonitoringServed, ReconcileError> {
    let version = GroupVersion::gv(&ServiceMonitor::group(&()), &ServiceMonitor::version(&()));
    match kube::discovery::pinned_group(client, &version).await {
        Ok(group) => {
            let served = |kind: &str| group.recommended_kind(kind).is_some();
            Ok(MonitoringServed {
                service_monitor: served(&ServiceMonitor::kind(&())),
                prometheus_rule: served(&PrometheusRule::kind(&())),
            })
        }
        // The group gone (404) or served without these kinds: not installed.
        Err(e) if is_not_found(&e) => Ok(MonitoringServed::default()),
        Err(kube::Error::Discovery(
            DiscoveryError::MissingKind(_)
            | DiscoveryError::MissingApiGroup(_)
            | DiscoveryError::MissingResource(_)
            | DiscoveryError::EmptyApiGroup(_),
        )) => Ok(MonitoringServed::default()),
        Err(source) => Err(ReconcileError::Lookup {
            what: "prometheus-operator's CRDs",
            source,
        }),
    }
}

/// Applies every child in dependency order, but for those applied before as built now and
/// untouched since, which the watches would have told (so only in a namespace `watched`, or
/// cluster-scoped; an untouched Deployment is read instead: its status is the rollout); returns
/// the Deployment as the apiserver has it and every child.
pub async fn apply_all(
    client: &Client,
    desired: Children,
    (memory, owner): (&Memory, &str),
    watched: &(dyn Fn(&str) -> bool + Sync),
) -> Result<(Deployment, AppliedChildren), ReconcileError> {
    let Children {
        service_account,
        role_bindings,
        cluster_role_bindings,
        config_map,
        deployment,
        service,
        service_monitor,
        prometheus_rule,
        network_policy,
    } = desired;
    // The fence first, so that no pod is reachable unfenced; then the identity, what it may do,
    // its config, what runs with them, and what watches it.
    let mut run = Run {
        client,
        memory,
        owner,
        watched,
        seen: Vec::new(),
    };
    if let Some(policy) = &network_policy {
        run.namespaced("NetworkPolicy", policy).await?;
    }
    run.namespaced("ServiceAccount", &service_account).await?;
    for binding in &role_bindings {
        run.namespaced("RoleBinding", binding)
            .await
            .map_err(|e| refused(e, &binding.role_ref.name))?;
    }
    for binding in &cluster_role_bindings {
        run.apply(Api::all(client.clone()), "ClusterRoleBinding", binding)
            .await
            .map_err(|e| refused(e, &binding.role_ref.name))?;
    }
    run.namespaced("ConfigMap", &config_map).await?;
    run.namespaced("Service", &service).await?;
    let namespace = deployment.namespace().unwrap_or_default();
    let deployment = run
        .deployment(Api::namespaced(client.clone(), &namespace), &deployment)
        .await?;
    if let Some(monitor) = &service_monitor {
        run.namespaced("ServiceMonitor", monitor).await?;
    }
    if let Some(rule) = &prometheus_rule {
        run.namespaced("PrometheusRule", rule).await?;
    }
    Ok((deployment, run.seen))
}

/// A binding the apiserver forbids is the operator's own RBAC refusing: its chart does not let
/// it bind that ClusterRole.
fn refused(error: ReconcileError, role: &str) -> ReconcileError {
    match error {
        ReconcileError::Apply { kind, name, source } if is_forbidden(&source) => {
            ReconcileError::RbacRefused {
                kind,
                name,
                role: role.into(),
                source,
            }
        }
        other => other,
    }
}

/// One apply of an McpServer's children: every child applied (or found unchanged) so far.
struct Run<'a> {
    client: &'a Client,
    memory: &'a Memory,
    /// The McpServer's uid.
    owner: &'a str,
    /// Whether the watches see a namespace.
    watched: &'a (dyn Fn(&str) -> bool + Sync),
    seen: AppliedChildren,
}

impl Run<'_> {
    /// Applies a namespaced child in the namespace its own metadata names (bindings may live in
    /// other namespaces than their McpServer), unless unchanged.
    async fn namespaced<K>(&mut self, kind: &'static str, object: &K) -> Result<(), ReconcileError>
    where
        K: kube::Resource<Scope = NamespaceResourceScope, DynamicType = ()>
            + Clone
            + DeserializeOwned
            + Serialize
            + std::fmt::Debug,
    {
        let namespace = object.namespace().unwrap_or_default();
        self.apply(
            Api::namespaced(self.client.clone(), &namespace),
            kind,
            object,
        )
        .await
    }

    /// Applies a child, unless it was applied as built now and nobody touched it since.
    async fn apply<K>(
        &mut self,
        api: Api<K>,
        kind: &'static str,
        object: &K,
    ) -> Result<(), ReconcileError>
    where
        K: kube::Resource + Clone + DeserializeOwned + Serialize + std::fmt::Debug,
    {
        let (key, hash) = keyed(kind, object);
        if let Some(uid) = self.unchanged(&key, hash) {
            self.seen.push((key, uid));
            return Ok(());
        }
        self.patch(api, (key, hash), object).await?;
        Ok(())
    }

    /// Applies the Deployment as `apply` does, and returns it as the apiserver has it: read, if
    /// it was not applied (a read costs the apiserver far less than an apply that changes
    /// nothing).
    async fn deployment(
        &mut self,
        api: Api<Deployment>,
        object: &Deployment,
    ) -> Result<Deployment, ReconcileError> {
        const KIND: &str = "Deployment";
        let (key, hash) = keyed(KIND, object);
        if let Some(uid) = self.unchanged(&key, hash) {
            let current = api
                .get_opt(&key.2)
                .await
                .map_err(|source| ReconcileError::Lookup { what: KIND, source })?;
            // Gone or replaced since the watch saw it: applied below.
            if let Some(current) = current.filter(|d| d.uid().as_deref() == Some(uid.as_str())) {
                self.seen.push((key, uid));
                return Ok(current);
            }
        }
        self.patch(api, (key, hash), object).await
    }

    /// The uid of the child under `key` if it was applied as `hash` and nobody touched it since,
    /// which the watches would have told (so only in a namespace they see, or cluster-scoped).
    fn unchanged(&self, key: &ChildKey, hash: u64) -> Option<String> {
        let seen_by_watches = key.1.is_empty() || (self.watched)(&key.1);
        seen_by_watches
            .then(|| self.memory.unchanged(self.owner, key, hash))
            .flatten()
    }

    /// Applies a child, whatever, and remembers the `hash` it was applied as; the child as the
    /// apiserver has it.
    async fn patch<K>(
        &mut self,
        api: Api<K>,
        (key, hash): (ChildKey, u64),
        object: &K,
    ) -> Result<K, ReconcileError>
    where
        K: kube::Resource + Clone + DeserializeOwned + Serialize + std::fmt::Debug,
    {
        let kind = key.0;
        let params = PatchParams::apply(MANAGER).force();
        // Boxed: kube's apply future is large, and every child's apply nests it.
        let result = Box::pin(api.patch(&key.2, &params, &Patch::Apply(object)))
            .await
            .map_err(|source| ReconcileError::Apply {
                kind,
                name: key.2.clone(),
                source,
            })?;
        self.seen
            .push((key.clone(), result.uid().unwrap_or_default()));
        self.memory.applied_as(self.owner, key, hash);
        Ok(result)
    }
}

/// A child's key and the hash of it as built.
fn keyed<K: kube::Resource + Serialize>(kind: &'static str, object: &K) -> (ChildKey, u64) {
    let key = (
        kind,
        object.namespace().unwrap_or_default(),
        object.name_any(),
    );
    (key, hash_of(object))
}

/// The kinds the sweep lists, each child of which carries the owner-uid label: the bindings
/// that owner references cannot reach (RoleBindings in other namespaces, the
/// ClusterRoleBinding), the optional NetworkPolicy and the optional ServiceMonitor and
/// PrometheusRule, when their CRDs are served. (Roles and
/// ClusterRoles with rules, made by versions before 0.2, are not swept: their bindings are, which
/// leaves them inert, and the operator holds no right on roles.)
pub fn swept_kinds(served: MonitoringServed) -> Vec<(&'static str, ApiResource)> {
    let mut kinds = binding_kinds();
    kinds.push(("NetworkPolicy", ApiResource::erase::<NetworkPolicy>(&())));
    if served.service_monitor {
        kinds.push(("ServiceMonitor", ApiResource::erase::<ServiceMonitor>(&())));
    }
    if served.prometheus_rule {
        kinds.push(("PrometheusRule", ApiResource::erase::<PrometheusRule>(&())));
    }
    kinds
}

/// The kinds of the server's bindings: what a refused binding sweeps, so that no part of a
/// refused grant stays.
pub fn binding_kinds() -> Vec<(&'static str, ApiResource)> {
    vec![
        ("RoleBinding", ApiResource::erase::<RoleBinding>(&())),
        (
            "ClusterRoleBinding",
            ApiResource::erase::<ClusterRoleBinding>(&()),
        ),
    ]
}

/// Deletes every object of `kinds` labelled with the owner `uid` that is not in `keep`: what a
/// changed scope, namespace list, ServiceMonitor or PrometheusRule switch left behind.
pub async fn sweep_orphans(
    client: &Client,
    uid: &str,
    keep: &BTreeSet<ChildKey>,
    kinds: &[(&'static str, ApiResource)],
) -> Result<(), ReconcileError> {
    // From the apiserver's watch cache, not a quorum read of etcd: a child made a moment ago
    // and not yet seen there is one this run keeps anyway.
    let selector = ListParams::default()
        .labels(&format!("{OWNER_UID}={uid}"))
        .match_any();
    for &(kind, ref resource) in kinds {
        let found = Api::<DynamicObject>::all_with(client.clone(), resource)
            .list_metadata(&selector)
            .await
            .map_err(|source| ReconcileError::Lookup { what: kind, source })?;
        for object in found {
            let namespace = object.namespace().unwrap_or_default();
            let name = object.name_any();
            if keep.contains(&(kind, namespace.clone(), name.clone())) {
                continue;
            }
            let api = if namespace.is_empty() {
                Api::all_with(client.clone(), resource)
            } else {
                Api::namespaced_with(client.clone(), &namespace, resource)
            };
            delete(&api, kind, name).await?;
        }
    }
    Ok(())
}

/// Deletes one object; one already gone is fine.
async fn delete(
    api: &Api<DynamicObject>,
    kind: &'static str,
    name: String,
) -> Result<(), ReconcileError> {
    match api.delete(&name, &DeleteParams::default()).await {
        Ok(_) => Ok(()),
        Err(e) if is_not_found(&e) => Ok(()),
        Err(source) => Err(ReconcileError::Delete { kind, name, source }),
    }
}

/// The pods the Deployment selects (read while its rollout is not done, and for the handshake),
/// as the apiserver's watch cache holds them once it has caught up with that Deployment: a
/// consistent read goes to etcd, which filters every pod of the namespace by label there
/// (38 ms a list with 1,000 pods in it, the costliest request of a reconcile).
pub async fn list_pods(
    client: &Client,
    deployment: &Deployment,
) -> Result<Vec<Pod>, ReconcileError> {
    let api: Api<Pod> =
        Api::namespaced(client.clone(), &deployment.namespace().unwrap_or_default());
    let seen = deployment.resource_version().unwrap_or_else(|| "0".into());
    let params = ListParams::default()
        .labels(&pod_selector(deployment))
        .matching(VersionMatch::NotOlderThan)
        .at(&seen);
    api.list(&params)
        .await
        .map(|list| list.items)
        .map_err(|source| ReconcileError::Lookup {
            what: "the pods of the Deployment",
            source,
        })
}

/// Writes the status subresource (server-side apply, the same field manager).
pub async fn write_status(
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
    .map_err(|source| ReconcileError::StatusWrite { name, source })?;
    Ok(())
}
