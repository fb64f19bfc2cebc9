//! Writes the tenancy manifests (ClusterRoles, admission policy) under the directory given:
//! `config/` and the chart's `files/` hold its output (a test keeps them equal).

use std::path::PathBuf;

use anyhow::Context as _;
use kubernetes_mcp_operator::tenancy::manifests;

fn main() -> anyhow::Result<()> {
    let dir: PathBuf = std::env::args_os()
        .nth(1)
        .context("usage: manifests DIR (config, or charts/kubernetes-mcp-operator/files)")?
        .into();
    for (name, text) in manifests()? {
        let path = dir.join(name);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent)?;
        }
        std::fs::write(&path, text).with_context(|| format!("writing {}", path.display()))?;
    }
    Ok(())
}
