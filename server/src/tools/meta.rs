//! The `_meta` every tool carries in `tools/list`, as the Go server v0.0.67 publishes it:
//! `io.kubernetes-mcp-server/rbac`, the RBAC a caller needs to run the tool (its
//! `docs/tool-rbac-metadata.md`, version v1alpha1). The declarations are data (`rbac.json`,
//! taken from the Go server's own `tools/list`, `go/` for the tekton and kubevirt tools), so a
//! golden test can compare them. Pure.

use std::collections::BTreeMap;
use std::sync::LazyLock;

use rmcp::model::MetaObject;
use serde_json::Value;

/// The `_meta` key of the RBAC declaration.
pub const RBAC_KEY: &str = "io.kubernetes-mcp-server/rbac";

static RBAC: LazyLock<BTreeMap<String, Value>> =
    LazyLock::new(|| serde_json::from_str(include_str!("rbac.json")).unwrap_or_default());

/// The `_meta` object of the named tool: its RBAC declaration, if it has one.
pub fn of(tool: &str) -> Option<MetaObject> {
    let rbac = RBAC.get(tool)?.clone();
    Some(MetaObject(serde_json::Map::from_iter([(
        RBAC_KEY.to_owned(),
        rbac,
    )])))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_tool_declares_its_rbac() {
        let names: Vec<&str> = super::super::catalogue()
            .iter()
            .map(|t| t.name)
            .chain([super::super::config::contexts_list_tool().name])
            .collect();
        let missing: Vec<&&str> = names.iter().filter(|n| of(n).is_none()).collect();
        assert!(missing.is_empty(), "no RBAC declared for {missing:?}");
        assert_eq!(
            RBAC.len(),
            names.len(),
            "rbac.json names a tool we do not have"
        );
        let pods_get = of("pods_get").unwrap();
        assert_eq!(
            pods_get[RBAC_KEY]["bounded"]["requirements"][0]["verbs"],
            serde_json::json!(["get"])
        );
    }
}
