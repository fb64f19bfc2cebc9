//! Prints the McpServer CRD as YAML; `crds/` holds its output (a test keeps them equal).

use kube::CustomResourceExt as _;
use kubernetes_mcp_operator::api::McpServer;

fn main() -> anyhow::Result<()> {
    print!("{}", serde_saphyr::to_string(&McpServer::crd())?);
    Ok(())
}
