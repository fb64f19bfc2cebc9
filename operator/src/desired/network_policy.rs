//! The NetworkPolicy of the server's pods, when the plan has one: it selects exactly the pods
//! of the Deployment and lets in only the MCP port from its peers and the metrics port from
//! theirs. A port whose peer list is empty gets no rule (an ingress rule without peers would
//! admit everyone). Pure.

use k8s_openapi::api::networking::v1::{
    NetworkPolicy, NetworkPolicyIngressRule, NetworkPolicyPeer, NetworkPolicyPort,
    NetworkPolicySpec,
};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelector;
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;

use super::meta::{Placement, object_meta, owner_uid_label, selector, server_name};
use crate::validate::{METRICS_PORT, SERVER_PORT, ValidatedMcpServer};

pub fn network_policy(v: &ValidatedMcpServer) -> Option<NetworkPolicy> {
    let plan = v.network_policy.as_ref()?;
    let ingress = [
        (SERVER_PORT, &plan.mcp_from),
        (METRICS_PORT, &plan.metrics_from),
    ]
    .into_iter()
    .filter(|(_, peers)| !peers.is_empty())
    .map(|(port, peers)| rule(port, peers))
    .collect();
    // The owner-uid label: the orphan sweep finds it by that label once it is switched off.
    Some(NetworkPolicy {
        metadata: object_meta(v, server_name(v), Placement::Own, owner_uid_label(v)),
        spec: Some(NetworkPolicySpec {
            // The Deployment's own selector: exactly its pods.
            pod_selector: Some(LabelSelector {
                match_labels: Some(selector(v)),
                ..Default::default()
            }),
            // Ingress only: the server's way out (apiserver, collector) is not ours to decide.
            policy_types: Some(vec!["Ingress".into()]),
            ingress: Some(ingress),
            ..Default::default()
        }),
    })
}

fn rule(port: u16, peers: &[NetworkPolicyPeer]) -> NetworkPolicyIngressRule {
    NetworkPolicyIngressRule {
        from: Some(peers.to_vec()),
        ports: Some(vec![NetworkPolicyPort {
            port: Some(IntOrString::Int(i32::from(port))),
            protocol: Some("TCP".into()),
            ..Default::default()
        }]),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::McpServer;
    use crate::validate::{Facts, NetworkPolicyPlan, validate};

    fn validated() -> ValidatedMcpServer {
        let mcp: McpServer = serde_json::from_value(serde_json::json!({
            "apiVersion": "kubernetes-mcp.io/v1alpha1", "kind": "McpServer",
            "metadata": {"name": "m", "namespace": "apps", "uid": "u-1"}, "spec": {}
        }))
        .unwrap();
        let facts = Facts {
            default_image: "i".into(),
            service_monitor_served: false,
            ..crate::validate::test_facts()
        };
        validate(&mcp, &facts).unwrap()
    }

    #[test]
    fn it_selects_the_deployments_pods_and_a_port_without_peers_gets_no_rule() {
        let mut v = validated();
        let policy = network_policy(&v).unwrap().spec.unwrap();
        assert_eq!(
            policy.pod_selector.unwrap().match_labels,
            Some(selector(&v))
        );
        assert_eq!(policy.ingress.unwrap().len(), 2);
        v.network_policy = Some(NetworkPolicyPlan {
            mcp_from: v.network_policy.unwrap().mcp_from,
            metrics_from: Vec::new(),
        });
        let ingress = network_policy(&v).unwrap().spec.unwrap().ingress.unwrap();
        let [only] = &ingress[..] else {
            panic!("one rule: {ingress:?}")
        };
        let port = only.ports.as_ref().unwrap()[0].port.clone();
        assert_eq!(port, Some(IntOrString::Int(8080)));
        v.network_policy = None;
        assert_eq!(network_policy(&v), None);
    }
}
