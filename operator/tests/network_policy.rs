//! The NetworkPolicy of an McpServer against the real apiserver and kube-controller-manager. No
//! network plugin enforces it here, so this proves what can be proven without one: the apiserver
//! accepts it, its ports are the server's, and its selectors, evaluated by the apiserver on real
//! Pods and Namespaces, select exactly the server's pods and exactly the peers meant; a hand edit
//! is repaired and switching it off deletes it. Needs the stack: without the `stack` feature the
//! test is reported ignored.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::too_many_lines,
    reason = "test code: a panic is the failure report; a scenario reads top to bottom"
)]

use std::collections::BTreeSet;
use std::sync::Arc;

use k8s_openapi::api::apps::v1::ReplicaSet;
use k8s_openapi::api::core::v1::{Namespace, Pod, Service};
use k8s_openapi::api::networking::v1::{NetworkPolicy, NetworkPolicyPeer};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelector;
use kube::api::{Api, ListParams, Patch, PatchParams, PostParams};
use kube::core::Selector;
use kube::{Client, ResourceExt};
use kubernetes_mcp_e2e_harness::{Stack, TempNamespace, eventually};
use kubernetes_mcp_operator::api::McpServer;
use kubernetes_mcp_operator::controller::{Context, run};

mod support;
use support::{create, install_crd};

/// Names of the objects `selector` selects, as the apiserver evaluates it.
async fn selected<K>(api: &Api<K>, selector: Option<&LabelSelector>) -> BTreeSet<String>
where
    K: kube::Resource + Clone + serde::de::DeserializeOwned + std::fmt::Debug,
{
    let selector = Selector::try_from(selector.cloned().unwrap_or_default()).unwrap();
    api.list_metadata(&ListParams::default().labels_from(&selector))
        .await
        .unwrap()
        .items
        .iter()
        .map(ResourceExt::name_any)
        .collect()
}

/// The pods of McpServer `name`: those of the ReplicaSets its Deployment owns (found by owner
/// references, not by labels, so that the policy's selector is checked against something else).
async fn pods_of(client: &Client, ns: &str, name: &str) -> BTreeSet<String> {
    let replica_sets: BTreeSet<String> = Api::<ReplicaSet>::namespaced(client.clone(), ns)
        .list(&ListParams::default())
        .await
        .unwrap()
        .items
        .into_iter()
        .filter(|rs| rs.owner_references().iter().any(|o| o.name == name))
        .filter_map(|rs| rs.uid())
        .collect();
    Api::<Pod>::namespaced(client.clone(), ns)
        .list(&ListParams::default())
        .await
        .unwrap()
        .items
        .iter()
        .filter(|pod| {
            pod.owner_references()
                .iter()
                .any(|o| replica_sets.contains(&o.uid))
        })
        .map(ResourceExt::name_any)
        .collect()
}

fn mcp(name: &str, network: &serde_json::Value) -> McpServer {
    serde_json::from_value(serde_json::json!({
        "apiVersion": "kubernetes-mcp.io/v1alpha1", "kind": "McpServer",
        "metadata": {"name": name}, "spec": {"replicas": 2, "network": network}
    }))
    .unwrap()
}

/// A bare pod labelled `labels` (nothing runs it: it is only something to select).
async fn decoy(client: &Client, ns: &str, name: &str, labels: serde_json::Value) {
    let pod: Pod = serde_json::from_value(serde_json::json!({
        "metadata": {"name": name, "labels": labels},
        "spec": {"containers": [{"name": "c", "image": "registry.invalid/decoy:1"}]}
    }))
    .unwrap();
    Api::<Pod>::namespaced(client.clone(), ns)
        .create(&PostParams::default(), &pod)
        .await
        .unwrap();
}

#[tokio::test]
#[cfg_attr(
    not(feature = "stack"),
    ignore = "needs the test stack: e2e/stack.sh run -- cargo test --features stack"
)]
async fn the_network_policy_fences_exactly_the_servers_pods_and_is_kept_as_built() {
    let stack = Stack::get().unwrap();
    let client = stack.client().await.unwrap();
    install_crd(&client).await;
    let ns = TempNamespace::create(&client, "fenced", &[]).await.unwrap();
    let scrapers = TempNamespace::create(&client, "scrapers", &[])
        .await
        .unwrap();
    // A team label of this run alone: namespaces of earlier runs may still be terminating.
    let team = format!(
        "agents-{}",
        std::time::UNIX_EPOCH.elapsed().unwrap().as_millis()
    );
    let agents = TempNamespace::create(&client, "agents", &[("team", &team)])
        .await
        .unwrap();
    create(&client, &ns.name, &mcp("fenced", &serde_json::json!({}))).await;
    let servers: Api<McpServer> = Api::namespaced(client.clone(), &ns.name);
    // A neighbour whose agents only may reach it, and a pod that claims to be a server.
    let agent_peer = serde_json::json!({
        "namespaceSelector": {"matchLabels": {"team": team}},
        "podSelector": {"matchLabels": {"role": "agent"}},
    });
    servers
        .create(
            &PostParams::default(),
            &mcp(
                "neighbour",
                &serde_json::json!({"mcpFrom": [agent_peer], "metricsFrom": []}),
            ),
        )
        .await
        .unwrap();
    let server_labels = serde_json::json!({
        "app.kubernetes.io/name": "kubernetes-mcp-server", "app.kubernetes.io/instance": "other"
    });
    for (namespace, name, labels) in [
        (&ns.name, "impostor", server_labels),
        (&agents.name, "agent", serde_json::json!({"role": "agent"})),
        (&agents.name, "bystander", serde_json::json!({"role": "db"})),
    ] {
        decoy(&client, namespace, name, labels).await;
    }
    let context = Context::new(
        client.clone(),
        "kubernetes-mcp-server:test".into(),
        Arc::default(),
    )
    .with_scrape_namespaces(vec![scrapers.name.clone()]);
    let controller = tokio::spawn(run(
        Arc::new(context),
        Some(ns.name.clone()),
        std::future::pending(),
    ));

    let policies: Api<NetworkPolicy> = Api::namespaced(client.clone(), &ns.name);
    let policy = eventually("the NetworkPolicy", 30, || async {
        policies.get_opt("fenced").await.ok().flatten()
    })
    .await
    .unwrap();
    let spec = policy.spec.clone().unwrap();
    assert_eq!(spec.policy_types, Some(vec!["Ingress".to_owned()]));

    // Its pod selector, evaluated by the apiserver, is exactly the Deployment's two pods.
    let pods: Api<Pod> = Api::namespaced(client.clone(), &ns.name);
    let own = eventually("the two pods of the Deployment", 30, || async {
        let own = pods_of(&client, &ns.name, "fenced").await;
        (own.len() == 2).then_some(own)
    })
    .await
    .unwrap();
    eventually("the neighbour's pods", 30, || async {
        (pods_of(&client, &ns.name, "neighbour").await.len() == 2).then_some(())
    })
    .await
    .unwrap();
    assert_eq!(selected(&pods, spec.pod_selector.as_ref()).await, own);

    // Ingress: the MCP port from this namespace's pods, the metrics port from the scrapers'.
    let ingress = spec.ingress.unwrap();
    let ports: Vec<i32> = ingress
        .iter()
        .map(|rule| match &rule.ports.as_ref().unwrap()[..] {
            [port] => match port.port {
                Some(k8s_openapi::apimachinery::pkg::util::intstr::IntOrString::Int(n)) => n,
                ref other => panic!("a numbered port: {other:?}"),
            },
            other => panic!("one port per rule: {other:?}"),
        })
        .collect();
    assert_eq!(ports, [8080, 9090]);
    let service = Api::<Service>::namespaced(client.clone(), &ns.name)
        .get("fenced")
        .await
        .unwrap();
    let service_ports: Vec<(String, i32)> = service
        .spec
        .unwrap()
        .ports
        .unwrap()
        .into_iter()
        .map(|p| (p.name.unwrap(), p.port))
        .collect();
    assert_eq!(
        service_ports,
        [("http".to_owned(), 8080), ("metrics".to_owned(), 9090)]
    );
    let [mcp_peer] = &ingress[0].from.clone().unwrap()[..] else {
        panic!("one MCP peer")
    };
    // No namespace selector: the policy's own namespace, every pod of it.
    assert_eq!(mcp_peer.namespace_selector, None);
    assert_eq!(
        selected(&pods, mcp_peer.pod_selector.as_ref()).await,
        selected(&pods, None).await
    );
    let [metrics_peer] = &ingress[1].from.clone().unwrap()[..] else {
        panic!("one metrics peer")
    };
    let namespaces: Api<Namespace> = Api::all(client.clone());
    assert_eq!(
        selected(&namespaces, metrics_peer.namespace_selector.as_ref()).await,
        BTreeSet::from([scrapers.name.clone()])
    );
    assert_eq!(metrics_peer.pod_selector, None, "every pod there");

    // The neighbour's peers: the agents' namespace, and there only the agent; no metrics rule.
    let neighbour = eventually("the neighbour's NetworkPolicy", 30, || async {
        policies.get_opt("neighbour").await.ok().flatten()
    })
    .await
    .unwrap();
    let ingress = neighbour.spec.unwrap().ingress.unwrap();
    assert_eq!(ingress.len(), 1, "an empty metricsFrom admits no one");
    let [
        NetworkPolicyPeer {
            namespace_selector,
            pod_selector,
            ..
        },
    ] = &ingress[0].from.clone().unwrap()[..]
    else {
        panic!("one agent peer")
    };
    assert_eq!(
        selected(&namespaces, namespace_selector.as_ref()).await,
        BTreeSet::from([agents.name.clone()])
    );
    let agent_pods: Api<Pod> = Api::namespaced(client.clone(), &agents.name);
    assert_eq!(
        selected(&agent_pods, pod_selector.as_ref()).await,
        BTreeSet::from(["agent".to_owned()])
    );

    // A hand edit that lets everyone in is repaired (the policy is watched).
    policies
        .patch(
            "fenced",
            &PatchParams::default(),
            &Patch::Merge(serde_json::json!({"spec": {"ingress": [{}], "podSelector": {}}})),
        )
        .await
        .unwrap();
    eventually("the NetworkPolicy repaired", 30, || async {
        let now = policies.get("fenced").await.ok()?;
        (now.spec == policy.spec).then_some(())
    })
    .await
    .unwrap();

    // Switched off: deleted.
    servers
        .patch(
            "fenced",
            &PatchParams::default(),
            &Patch::Merge(serde_json::json!({"spec": {"network": {"networkPolicy": false}}})),
        )
        .await
        .unwrap();
    eventually("the NetworkPolicy deleted", 30, || async {
        matches!(policies.get_opt("fenced").await, Ok(None)).then_some(())
    })
    .await
    .unwrap();
    assert!(policies.get_opt("neighbour").await.unwrap().is_some());
    controller.abort();
    for namespace in [ns, scrapers, agents] {
        namespace.delete().await.unwrap();
    }
}
