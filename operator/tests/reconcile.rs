//! The controller against the real apiserver and kube-controller-manager: a sample becomes its
//! children, a deleted child comes back, readiness reaches the status, and a ServiceMonitor is
//! made when its CRD is served. Every test here needs the stack: without the `stack` feature
//! they are reported ignored.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::too_many_lines,
    reason = "test code: a panic is the failure report; a scenario reads top to bottom"
)]

use std::sync::Arc;

use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::authorization::v1::SubjectAccessReview;
use k8s_openapi::api::core::v1::{ConfigMap, Pod, Service, ServiceAccount};
use k8s_openapi::api::rbac::v1::{ClusterRoleBinding, RoleBinding};
use kube::Client;
use kube::api::{Api, DeleteParams, DynamicObject, ListParams, Patch, PatchParams, PostParams};
use kube::core::{ApiResource, GroupVersionKind};
use kubernetes_mcp_e2e_harness::{Stack, TempNamespace, eventually, kubelet, next_pod_ip};
use kubernetes_mcp_operator::api::McpServer;
use kubernetes_mcp_operator::controller::{Context, run};

mod support;
use support::{create, install_crd};

/// The RoleBinding of McpServer `minimal` to kubernetes-mcp-read.
const BINDING: &str = "kubernetes-mcp-minimal:kubernetes-mcp-read";

fn sample(name: &str) -> McpServer {
    let path = format!("{}/../config/samples/{name}", env!("CARGO_MANIFEST_DIR"));
    serde_saphyr::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

#[tokio::test]
#[cfg_attr(
    not(feature = "stack"),
    ignore = "needs the test stack: e2e/stack.sh run -- cargo test --features stack"
)]
async fn a_sample_becomes_a_running_observable_server() {
    let stack = Stack::get().unwrap();
    let client = stack.client().await.unwrap();
    install_crd(&client).await;
    let ns = TempNamespace::create(&client, "reconcile", &[])
        .await
        .unwrap();
    let mut mcp = sample("minimal.yaml");
    mcp.spec.metrics.service_monitor.enabled = true;
    create(&client, &ns.name, &mcp).await;
    let context = Arc::new(Context::new(
        client.clone(),
        "kubernetes-mcp-server:test".into(),
        Arc::default(),
    ));
    let controller = tokio::spawn(run(context, Some(ns.name.clone()), std::future::pending()));

    let deployments: Api<Deployment> = Api::namespaced(client.clone(), &ns.name);
    let deployment = eventually("the Deployment", 30, || async {
        deployments.get_opt("minimal").await.ok().flatten()
    })
    .await
    .unwrap();
    let container = &deployment.spec.template.spec.as_ref().unwrap().containers[0];
    assert_eq!(
        container.image.as_deref(),
        Some("kubernetes-mcp-server:test")
    );
    assert!(exists::<ServiceAccount>(&client, &ns.name, "minimal").await);
    assert!(exists::<Service>(&client, &ns.name, "minimal").await);
    assert!(exists::<RoleBinding>(&client, &ns.name, BINDING).await);
    let monitors: Api<DynamicObject> = Api::namespaced_with(
        client.clone(),
        &ns.name,
        &ApiResource::from_gvk_with_plural(
            &GroupVersionKind::gvk("monitoring.coreos.com", "v1", "ServiceMonitor"),
            "servicemonitors",
        ),
    );
    eventually("the ServiceMonitor", 20, || async {
        monitors.get_opt("minimal").await.ok().flatten()
    })
    .await
    .unwrap();

    // A deleted child comes back (the controller watches what it owns).
    let config_maps: Api<ConfigMap> = Api::namespaced(client.clone(), &ns.name);
    config_maps
        .delete("minimal-config", &DeleteParams::default())
        .await
        .unwrap();
    eventually("the ConfigMap is recreated", 30, || async {
        config_maps.get_opt("minimal-config").await.ok().flatten()
    })
    .await
    .unwrap();
    // Every child kind is watched: these come back within seconds too, not at a requeue.
    let params = DeleteParams::default();
    let accounts: Api<ServiceAccount> = Api::namespaced(client.clone(), &ns.name);
    accounts.delete("minimal", &params).await.unwrap();
    let bindings: Api<RoleBinding> = Api::namespaced(client.clone(), &ns.name);
    bindings.delete(BINDING, &params).await.unwrap();
    monitors.delete("minimal", &params).await.unwrap();
    let services: Api<Service> = Api::namespaced(client.clone(), &ns.name);
    services.delete("minimal", &params).await.unwrap();
    deployments.delete("minimal", &params).await.unwrap();
    eventually(
        "the ServiceAccount, RoleBinding, ServiceMonitor, Service and Deployment recreated",
        10,
        || async {
            (exists::<ServiceAccount>(&client, &ns.name, "minimal").await
                && exists::<RoleBinding>(&client, &ns.name, BINDING).await
                && exists::<Service>(&client, &ns.name, "minimal").await
                && exists::<Deployment>(&client, &ns.name, "minimal").await
                && monitors.get_opt("minimal").await.ok().flatten().is_some())
            .then_some(())
        },
    )
    .await
    .unwrap();
    // An edited child is put back as well.
    let rendered = config_maps.get("minimal-config").await.unwrap().data;
    config_maps
        .patch(
            "minimal-config",
            &PatchParams::default(),
            &Patch::Merge(serde_json::json!({"data": {"config.toml": "port = 1"}})),
        )
        .await
        .unwrap();
    eventually("the ConfigMap repaired", 10, || async {
        let now = config_maps.get("minimal-config").await.ok()?;
        (now.data == rendered).then_some(())
    })
    .await
    .unwrap();
    // So is an edited Deployment: its image taken by another writer is put back (its rollout
    // alone, when it moves, only makes the operator read it).
    let image = |d: &Deployment| {
        d.spec
            .template
            .spec
            .as_ref()
            .map(|s| s.containers[0].image.clone())
    };
    let edit = serde_json::json!({"spec": {"template": {"spec": {"containers": [
        {"name": container.name, "image": "someone-else:1"}]}}}});
    deployments
        .patch("minimal", &PatchParams::default(), &Patch::Strategic(edit))
        .await
        .unwrap();
    eventually("the Deployment's image put back", 10, || async {
        let now = deployments.get("minimal").await.ok()?;
        (image(&now) == Some(Some("kubernetes-mcp-server:test".into()))).then_some(())
    })
    .await
    .unwrap();

    // Asked no more, the ServiceMonitor goes.
    let servers: Api<McpServer> = Api::namespaced(client.clone(), &ns.name);
    servers
        .patch(
            "minimal",
            &PatchParams::default(),
            &Patch::Merge(
                serde_json::json!({"spec": {"metrics": {"serviceMonitor": {"enabled": false}}}}),
            ),
        )
        .await
        .unwrap();
    eventually("the ServiceMonitor removed", 30, || async {
        matches!(monitors.get_opt("minimal").await, Ok(None)).then_some(())
    })
    .await
    .unwrap();

    // Play kubelet for the pod the ReplicaSet made: readiness reaches the McpServer's status.
    let pod = first_pod(&client, &ns.name, "the pod").await;
    let ip = next_pod_ip(&stack.state_dir).unwrap();
    kubelet::set_pod_running(
        &client,
        &ns.name,
        &pod.metadata.name.clone().unwrap(),
        &stack.node_name,
        ip,
    )
    .await
    .unwrap();
    let status = eventually("Ready=True", 30, || async {
        let status = servers.get("minimal").await.ok()?.status?;
        status
            .conditions
            .iter()
            .any(|c| c.type_ == "Ready" && c.status == "True")
            .then_some(status)
    })
    .await
    .unwrap();
    assert_eq!(
        status.url.as_deref(),
        Some(format!("http://minimal.{}.svc:8080/mcp", ns.name).as_str())
    );
    assert_eq!(status.ready_replicas, Some(1));
    assert_eq!(status.observed_generation, Some(2));

    delete_and_wait(&client, &ns.name, "minimal").await;
    controller.abort();
    ns.delete().await.unwrap();
}

/// Whether the namespaced object exists.
async fn exists<K>(client: &Client, ns: &str, name: &str) -> bool
where
    K: kube::Resource<Scope = k8s_openapi::NamespaceResourceScope, DynamicType = ()>
        + Clone
        + serde::de::DeserializeOwned
        + std::fmt::Debug,
{
    Api::<K>::namespaced(client.clone(), ns)
        .get_opt(name)
        .await
        .unwrap()
        .is_some()
}

/// The first pod of McpServer `minimal` in `ns`, once the ReplicaSet made it.
async fn first_pod(client: &Client, ns: &str, what: &str) -> Pod {
    let pods: Api<Pod> = Api::namespaced(client.clone(), ns);
    eventually(what, 30, || async {
        pods.list(&ListParams::default().labels("app.kubernetes.io/instance=minimal"))
            .await
            .ok()?
            .items
            .into_iter()
            .next()
    })
    .await
    .unwrap()
}

/// Deletes the McpServer and waits until the finalizer let it go.
async fn delete_and_wait(client: &Client, ns: &str, name: &str) {
    let servers: Api<McpServer> = Api::namespaced(client.clone(), ns);
    servers
        .delete(name, &DeleteParams::default())
        .await
        .unwrap();
    eventually("the McpServer gone", 30, || async {
        matches!(servers.get_opt(name).await, Ok(None)).then_some(())
    })
    .await
    .unwrap();
}

/// May the server's ServiceAccount do `verb` on pods in `namespace`? Asked of the real
/// authorizer with a SubjectAccessReview.
async fn may(client: &Client, ns: &str, sa: &str, verb: &str, namespace: &str) -> bool {
    let review: SubjectAccessReview = serde_json::from_value(serde_json::json!({
        "spec": {
            "user": format!("system:serviceaccount:{ns}:{sa}"),
            "groups": ["system:serviceaccounts", format!("system:serviceaccounts:{ns}")],
            "resourceAttributes": {"verb": verb, "resource": "pods", "namespace": namespace},
        }
    }))
    .unwrap();
    Api::<SubjectAccessReview>::all(client.clone())
        .create(&PostParams::default(), &review)
        .await
        .unwrap()
        .status
        .unwrap()
        .allowed
}

#[tokio::test]
#[cfg_attr(
    not(feature = "stack"),
    ignore = "needs the test stack: e2e/stack.sh run -- cargo test --features stack"
)]
async fn access_is_exact_pods_are_admitted_as_restricted_scale_is_left_alone_and_rbac_is_swept() {
    let stack = Stack::get().unwrap();
    let client = stack.client().await.unwrap();
    install_crd(&client).await;
    let ns = TempNamespace::create(
        &client,
        "restricted",
        &[("pod-security.kubernetes.io/enforce", "restricted")],
    )
    .await
    .unwrap();
    let granted = TempNamespace::create(&client, "granted", &[])
        .await
        .unwrap();
    let other = TempNamespace::create(&client, "other", &[]).await.unwrap();
    let mut mcp = sample("minimal.yaml");
    mcp.spec.access.namespaces = vec![ns.name.clone(), granted.name.clone()];
    create(&client, &ns.name, &mcp).await;
    let controller = tokio::spawn(run(
        Arc::new(Context::new(
            client.clone(),
            "kubernetes-mcp-server:test".into(),
            Arc::default(),
        )),
        Some(ns.name.clone()),
        std::future::pending(),
    ));

    // The ServiceAccount may read where spec.access says, and nothing more.
    // The authorizer sees new RBAC objects through its own watch: wait for both grants.
    eventually("the RBAC in both namespaces", 30, || async {
        (may(&client, &ns.name, "minimal", "list", &granted.name).await
            && may(&client, &ns.name, "minimal", "get", &ns.name).await)
            .then_some(())
    })
    .await
    .unwrap();
    assert!(!may(&client, &ns.name, "minimal", "delete", &ns.name).await);
    assert!(!may(&client, &ns.name, "minimal", "list", &other.name).await);

    // The pod template passes the `restricted` Pod Security Standard: the ReplicaSet's pod is
    // admitted in a namespace that enforces it.
    first_pod(&client, &ns.name, "a pod admitted under enforce=restricted").await;

    // replicas is unset: `kubectl scale` owns it, and a reconcile leaves it.
    let deployments: Api<Deployment> = Api::namespaced(client.clone(), &ns.name);
    deployments
        .patch_scale(
            "minimal",
            &PatchParams::default(),
            &Patch::Merge(serde_json::json!({"spec": {"replicas": 3}})),
        )
        .await
        .unwrap();
    let servers: Api<McpServer> = Api::namespaced(client.clone(), &ns.name);
    // A merge patch, not get + replace: the controller writes the status meanwhile (409).
    let mcp = servers
        .patch(
            "minimal",
            &PatchParams::default(),
            &Patch::Merge(serde_json::json!({"spec": {"access": {"namespaces": [ns.name]}}})),
        )
        .await
        .unwrap();
    // The narrowed access is applied (the RoleBinding in the granted namespace is swept)...
    eventually("access narrowed", 30, || async {
        (!may(&client, &ns.name, "minimal", "list", &granted.name).await).then_some(())
    })
    .await
    .unwrap();
    // ...and the scale survived that reconcile.
    assert_eq!(
        deployments.get("minimal").await.unwrap().spec.replicas,
        Some(3)
    );

    // Deleting the McpServer runs the finalizer; nothing labelled with its uid is left.
    let uid = mcp.metadata.uid.clone().unwrap();
    // A ClusterRoleBinding has no owner reference: it is watched by its owner-uid label, so a
    // deleted one comes back within seconds too.
    let selector = ListParams::default().labels(&format!("kubernetes-mcp.io/owner-uid={uid}"));
    let cluster_bindings = Api::<ClusterRoleBinding>::all(client.clone());
    servers
        .patch(
            "minimal",
            &PatchParams::default(),
            &Patch::Merge(
                serde_json::json!({"spec": {"access": {"scope": "Cluster", "namespaces": null}}}),
            ),
        )
        .await
        .unwrap();
    let binding = eventually("the ClusterRoleBinding", 30, || async {
        cluster_bindings.list(&selector).await.ok()?.items.pop()
    })
    .await
    .unwrap();
    let name = binding.metadata.name.clone().unwrap();
    cluster_bindings
        .delete(&name, &DeleteParams::default())
        .await
        .unwrap();
    eventually("the ClusterRoleBinding recreated", 10, || async {
        let again = cluster_bindings.get_opt(&name).await.ok().flatten()?;
        (again.metadata.uid != binding.metadata.uid).then_some(())
    })
    .await
    .unwrap();
    servers
        .patch(
            "minimal",
            &PatchParams::default(),
            &Patch::Merge(
                serde_json::json!({"spec": {"access": {"scope": "Namespace", "namespaces": [ns.name, granted.name]}}}),
            ),
        )
        .await
        .unwrap();
    let bindings: Api<RoleBinding> = Api::namespaced(client.clone(), &granted.name);
    eventually(
        "the RoleBinding in the granted namespace again",
        30,
        || async { bindings.get_opt(BINDING).await.ok().flatten() },
    )
    .await
    .unwrap();
    delete_and_wait(&client, &ns.name, "minimal").await;
    assert!(
        Api::<ClusterRoleBinding>::all(client.clone())
            .list(&selector)
            .await
            .unwrap()
            .items
            .is_empty()
    );
    assert!(
        Api::<RoleBinding>::all(client.clone())
            .list(&selector)
            .await
            .unwrap()
            .items
            .is_empty()
    );

    controller.abort();
    for namespace in [ns, granted, other] {
        namespace.delete().await.unwrap();
    }
}
