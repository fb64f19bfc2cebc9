//! Who may reach the server's pods, decided once: whether there is a NetworkPolicy, and the
//! peers of its MCP and metrics ports with their defaults (the McpServer's own namespace; the
//! operator's scrape namespaces; on the MCP port also the operator's namespace, from which it
//! shakes hands with the server before calling it Ready). Pure.

use k8s_openapi::api::networking::v1::NetworkPolicyPeer;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{LabelSelector, LabelSelectorRequirement};

use crate::api::Network;

/// The label the apiserver sets on every namespace to its name.
const NAMESPACE_NAME_LABEL: &str = "kubernetes.io/metadata.name";

/// The peers of each port of the NetworkPolicy; an empty list lets no one in.
#[derive(Debug, Clone, PartialEq)]
pub struct NetworkPolicyPlan {
    pub mcp_from: Vec<NetworkPolicyPeer>,
    pub metrics_from: Vec<NetworkPolicyPeer>,
}

/// None when `spec.network.networkPolicy` is false. `operator_namespace`: where the operator's
/// MCP handshake comes from, let in whatever the spec says.
pub(super) fn plan(
    network: &Network,
    scrape_namespaces: &[String],
    operator_namespace: Option<&str>,
) -> Option<NetworkPolicyPlan> {
    if !network.network_policy.unwrap_or(true) {
        return None;
    }
    let mut mcp_from = network
        .mcp_from
        .clone()
        .unwrap_or_else(|| vec![own_namespace()]);
    mcp_from.extend(namespaces(&Vec::from_iter(
        operator_namespace.map(str::to_owned),
    )));
    Some(NetworkPolicyPlan {
        mcp_from,
        metrics_from: network
            .metrics_from
            .clone()
            .unwrap_or_else(|| namespaces(scrape_namespaces)),
    })
}

/// Every pod of the policy's own namespace (an empty pod selector, no namespace selector).
fn own_namespace() -> NetworkPolicyPeer {
    NetworkPolicyPeer {
        pod_selector: Some(LabelSelector::default()),
        ..Default::default()
    }
}

/// Every pod of the namespaces named; none for an empty list (an empty `In` would be invalid,
/// and `--scrape-namespaces=` gives one empty name).
fn namespaces(names: &[String]) -> Vec<NetworkPolicyPeer> {
    let mut values: Vec<String> = names.iter().filter(|n| !n.is_empty()).cloned().collect();
    if values.is_empty() {
        return Vec::new();
    }
    values.sort();
    values.dedup();
    vec![NetworkPolicyPeer {
        namespace_selector: Some(LabelSelector {
            match_expressions: Some(vec![LabelSelectorRequirement {
                key: NAMESPACE_NAME_LABEL.into(),
                operator: "In".into(),
                values: Some(values),
            }]),
            ..Default::default()
        }),
        ..Default::default()
    }]
}

#[cfg(test)]
mod tests {
    use super::*;

    fn network(value: serde_json::Value) -> Network {
        serde_json::from_value(value).unwrap()
    }

    #[test]
    fn on_by_default_mcp_from_the_own_namespace_metrics_from_the_scrapers() {
        let plan = plan(
            &network(serde_json::json!({})),
            &["monitoring".into()],
            None,
        )
        .unwrap();
        assert_eq!(plan.mcp_from, vec![own_namespace()]);
        let selector = plan.metrics_from[0].namespace_selector.clone().unwrap();
        let [requirement] = &selector.match_expressions.unwrap()[..] else {
            panic!("one requirement")
        };
        assert_eq!(requirement.values, Some(vec!["monitoring".to_owned()]));
    }

    #[test]
    fn explicit_peers_win_and_an_empty_list_stays_empty() {
        let peers = serde_json::json!([{"namespaceSelector": {"matchLabels": {"team": "a"}}}]);
        let plan = plan(
            &network(serde_json::json!({"mcpFrom": peers, "metricsFrom": []})),
            &["monitoring".into()],
            None,
        )
        .unwrap();
        assert_eq!(serde_json::to_value(&plan.mcp_from).unwrap(), peers);
        assert!(plan.metrics_from.is_empty());
        assert!(
            namespaces(&[String::new()]).is_empty(),
            "no scrape namespace: no one scrapes"
        );
    }

    #[test]
    fn the_operators_namespace_is_let_in_to_the_mcp_port_whatever_the_spec_says() {
        let plan = plan(
            &network(serde_json::json!({"mcpFrom": []})),
            &[],
            Some("kmcp-system"),
        )
        .unwrap();
        assert_eq!(plan.mcp_from, namespaces(&["kmcp-system".into()]));
    }

    #[test]
    fn switched_off_there_is_no_policy() {
        assert_eq!(
            plan(
                &network(serde_json::json!({"networkPolicy": false})),
                &[],
                None
            ),
            None
        );
    }
}
