//! Our tekton and kubevirt tools against the Go server v0.0.67's own `tools/list` (`go/`): the
//! same names, titles, descriptions, annotations, input schemas and `_meta` RBAC declarations.
//! Pure; tests only.

use serde_json::{Value, json};

use super::Registry;
use crate::config::{Config, Flags};

/// The tools of `toolset` as `tools/list` shows them, in the golden's shape.
fn ours(toolset: &str) -> Vec<Value> {
    let config = Config::from_toml(&format!("toolsets = [\"{toolset}\"]"), Flags::default())
        .unwrap_or_else(|e| panic!("{e}"));
    Registry::new(&config, &[], None)
        .list()
        .iter()
        .map(|t| {
            json!({
                "name": t.name,
                "title": t.title,
                "description": t.description,
                "annotations": t.annotations,
                "inputSchema": Value::Object((*t.input_schema).clone()),
                "_meta": t.meta,
            })
        })
        .collect()
}

/// Go's tools whose names start with `prefix`. One deliberate difference: Go's
/// `vm_create` declares only `patch` on the VirtualMachine, but a server-side apply that creates
/// it needs `create` too (the apiserver refuses it otherwise: `test_rbac_metadata.py`), so ours
/// declares both.
fn go(prefix: &str) -> Vec<Value> {
    let mut tools: Vec<Value> =
        serde_json::from_str(include_str!("go/v0.0.67-tekton-kubevirt-tools.json"))
            .unwrap_or_default();
    for tool in tools.iter_mut().filter(|t| t["name"] == "vm_create") {
        if let Some(requirements) = tool
            .pointer_mut("/_meta/io.kubernetes-mcp-server~1rbac/bounded/requirements")
            .and_then(Value::as_array_mut)
        {
            requirements.push(json!({
                "verbs": ["create"],
                "target": {"resource": {"apiGroup": "kubevirt.io", "resource": "virtualmachines"}},
                "namespace": {"argument": "namespace"},
            }));
        }
    }
    tools
        .into_iter()
        .filter(|t| t["name"].as_str().is_some_and(|n| n.starts_with(prefix)))
        .collect()
}

#[test]
fn tekton_is_the_go_servers() {
    assert_eq!(go("tekton_").len(), 6);
    assert_eq!(ours("tekton"), go("tekton_"));
}

#[test]
fn kubevirt_is_the_go_servers() {
    assert_eq!(go("vm_").len(), 6);
    assert_eq!(ours("kubevirt"), go("vm_"));
}
