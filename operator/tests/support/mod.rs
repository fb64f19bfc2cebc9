//! What the operator's stack tests share: the CRD and the ClusterRoles McpServers are bound to,
//! applied to the real apiserver, and an McpServer created once the CRD is served. Does I/O.

use k8s_openapi::api::rbac::v1::ClusterRole;
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::api::{Api, Patch, PatchParams, PostParams};
use kube::{Client, CustomResourceExt as _};
use kubernetes_mcp_e2e_harness::eventually;
use kubernetes_mcp_operator::api::McpServer;
use kubernetes_mcp_operator::tenancy;

/// The CRD and the ClusterRoles the McpServers are bound to.
pub async fn install_crd(client: &Client) {
    let params = PatchParams::apply("operator-stack-test").force();
    Api::<CustomResourceDefinition>::all(client.clone())
        .patch(
            "mcpservers.kubernetes-mcp.io",
            &params,
            &Patch::Apply(McpServer::crd()),
        )
        .await
        .unwrap();
    let roles: Api<ClusterRole> = Api::all(client.clone());
    for role in [tenancy::read_role(), tenancy::read_write_role()] {
        let name = role.metadata.name.clone().unwrap();
        roles
            .patch(&name, &params, &Patch::Apply(role))
            .await
            .unwrap();
    }
}

/// Creates `mcp` in `ns`, retrying while the CRD is not served yet.
pub async fn create(client: &Client, ns: &str, mcp: &McpServer) {
    let api: Api<McpServer> = Api::namespaced(client.clone(), ns);
    eventually("the McpServer CRD is served", 20, || async {
        api.create(&PostParams::default(), mcp).await.ok()
    })
    .await
    .unwrap();
}
