//! The tenancy manifests (`config/rbac`, `config/admission`) and the chart's copies under
//! `files/` are exactly what the `manifests` binary writes. Pure.

#![allow(
    clippy::unwrap_used,
    reason = "test code: a panic is the failure report"
)]

use std::path::Path;

use kubernetes_mcp_operator::tenancy::manifests;

#[test]
fn config_and_the_chart_hold_what_manifests_writes() {
    let repo = Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap();
    for dir in ["config", "charts/kubernetes-mcp-operator/files"] {
        for (name, generated) in manifests().unwrap() {
            let path = repo.join(dir).join(name);
            let committed = std::fs::read_to_string(&path).unwrap_or_default();
            assert!(
                committed == generated,
                "{} is stale: run `cargo run -p kubernetes-mcp-operator --bin manifests -- {dir}`",
                path.display()
            );
        }
    }
}
