//! Our tekton and kubevirt tools against the Go server's own `tools/list` goldens (`go/`): the
//! same names, titles, descriptions, annotations and input schemas. Pure; tests only.

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
            })
        })
        .collect()
}

fn golden(text: &str) -> Vec<Value> {
    let tools: Vec<Value> = serde_json::from_str(text).unwrap_or_default();
    assert!(!tools.is_empty(), "the golden parses");
    tools
}

#[test]
fn tekton_is_the_go_servers() {
    assert_eq!(
        ours("tekton"),
        golden(include_str!("go/toolsets-tekton-tools.json"))
    );
}

#[test]
fn kubevirt_is_the_go_servers_but_vm_create_from_template() {
    let go: Vec<Value> = golden(include_str!("go/toolsets-kubevirt-tools.json"))
        .into_iter()
        .filter(|t| t["name"] != "vm_create_from_template")
        .collect();
    assert_eq!(ours("kubevirt"), go);
}
