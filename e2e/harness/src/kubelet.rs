//! What a kubelet reports about a Pod, for pods whose process the test runs itself: the status
//! patch (phase, IPs, conditions, container states) that makes `EndpointSlices` and Deployment
//! availability see a running, ready Pod. Does I/O against the apiserver.

use std::net::Ipv4Addr;

use k8s_openapi::api::core::v1::Pod;
use kube::Client;
use kube::api::{Api, Patch, PatchParams};
use serde_json::json;

use crate::Result;

/// Marks the Pod Running and Ready on `ip`, bound to `node`, as a kubelet would after starting
/// its containers. Containers are named from the Pod's spec.
pub async fn set_pod_running(
    client: &Client,
    namespace: &str,
    name: &str,
    node: &str,
    ip: Ipv4Addr,
) -> Result<Pod> {
    let pods: Api<Pod> = Api::namespaced(client.clone(), namespace);
    let pod = pods.get(name).await?;
    let now = k8s_openapi::jiff::Timestamp::now().to_string();
    let containers: Vec<serde_json::Value> = pod
        .spec
        .iter()
        .flat_map(|s| s.containers.iter())
        .map(|c| {
            json!({
                "name": c.name, "image": c.image, "imageID": "", "ready": true, "restartCount": 0,
                "started": true, "state": {"running": {"startedAt": now}},
            })
        })
        .collect();
    let condition = |t: &str| json!({"type": t, "status": "True", "lastTransitionTime": now});
    let status = json!({
        "status": {
            "phase": "Running",
            "hostIP": "10.244.0.1",
            "hostIPs": [{"ip": "10.244.0.1"}],
            "podIP": ip.to_string(),
            "podIPs": [{"ip": ip.to_string()}],
            "startTime": now,
            "conditions": [condition("PodScheduled"), condition("Initialized"), condition("ContainersReady"), condition("Ready")],
            "containerStatuses": containers,
        }
    });
    if pod.spec.as_ref().and_then(|s| s.node_name.as_deref()) != Some(node) {
        // Bind as a scheduler would; nodeName can only be set through the binding subresource
        // once the Pod exists.
        let binding = json!({
            "apiVersion": "v1", "kind": "Binding",
            "metadata": {"name": name, "namespace": namespace},
            "target": {"apiVersion": "v1", "kind": "Node", "name": node},
        });
        let request = http::Request::post(format!(
            "/api/v1/namespaces/{namespace}/pods/{name}/binding"
        ))
        .header(http::header::CONTENT_TYPE, "application/json")
        .body(
            serde_json::to_vec(&binding)
                .map_err(|e| crate::HarnessError::Unexpected(e.to_string()))?,
        )
        .map_err(|e| crate::HarnessError::Unexpected(e.to_string()))?;
        client.request_text(request).await?;
    }
    Ok(pods
        .patch_status(name, &PatchParams::default(), &Patch::Merge(&status))
        .await?)
}
