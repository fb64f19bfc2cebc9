//! The `config` toolset: the kubeconfig the server uses, with credentials redacted, and the
//! list of its contexts. Pure apart from reading the already-loaded kubeconfig.

use std::fmt::Write as _;

use kube::config::Kubeconfig;
use serde::Deserialize;
use serde_json::{Value, json};

use super::output::yaml;
use super::{Arguments, Hints, ToolContext, ToolError, ToolSpec, object_schema};

use crate::config::Toolset;

pub fn tools() -> Vec<ToolSpec> {
    vec![ToolSpec {
        name: "configuration_view",
        toolset: Toolset::Config,
        title: "Configuration: View",
        description: "Show the kubeconfig this server uses, as YAML, with credentials redacted. By default only the current context and what it refers to.",
        input_schema: object_schema(
            &json!({"minified": {"type": "boolean", "description": "Only the current context, its cluster and its user (default true); false shows every context"}}),
            &[],
        ),
        hints: Hints::READ,
        cluster_aware: false,
        handler: |ctx, args| Box::pin(async move { configuration_view(ctx, args) }),
    }]
}

/// Present only when the kubeconfig has several contexts (see `Registry::new`).
pub fn contexts_list_tool() -> ToolSpec {
    ToolSpec {
        name: "configuration_contexts_list",
        toolset: Toolset::Config,
        title: "Configuration: Contexts List",
        description: "List the kubeconfig contexts (clusters) the tools can target with their `context` argument, and the server URL of each.",
        input_schema: json!({"type": "object"}),
        hints: Hints {
            read_only: true,
            destructive: false,
            idempotent: true,
            open_world: false,
        },
        cluster_aware: false,
        handler: |ctx, _| Box::pin(async move { contexts_list(ctx) }),
    }
}

fn configuration_view(ctx: &ToolContext, args: Arguments) -> Result<String, ToolError> {
    #[derive(Deserialize)]
    struct Args {
        minified: Option<bool>,
    }
    let a: Args = args.parse()?;
    let kubeconfig = ctx.cluster.kubeconfig()?;
    let view = redacted(kubeconfig, a.minified.unwrap_or(true));
    Ok(yaml(&view))
}

fn contexts_list(ctx: &ToolContext) -> Result<String, ToolError> {
    let kubeconfig = ctx.cluster.kubeconfig()?;
    let current = kubeconfig.current_context.clone().unwrap_or_default();
    let mut names: Vec<(&str, &str)> = kubeconfig
        .contexts
        .iter()
        .map(|c| {
            let cluster = c.context.as_ref().map_or("", |c| c.cluster.as_str());
            let server = kubeconfig
                .clusters
                .iter()
                .find(|k| k.name == cluster)
                .and_then(|k| k.cluster.as_ref())
                .and_then(|k| k.server.as_deref())
                .unwrap_or("");
            (c.name.as_str(), server)
        })
        .collect();
    names.sort_unstable();
    let mut out = format!(
        "Available Kubernetes contexts ({} total, default: {current}):\n\n",
        names.len()
    );
    for (name, server) in names {
        let marker = if name == current { "*" } else { " " };
        let _ = writeln!(out, "{marker}{name} -> {server}");
    }
    out.push_str("\nTo use a context, pass its name as the `context` argument of a tool.");
    Ok(out)
}

/// The kubeconfig as JSON with secrets replaced the way `kubectl config view` does, optionally
/// reduced to the current context. Pure.
fn redacted(kubeconfig: &Kubeconfig, minified: bool) -> Value {
    let mut value = serde_json::to_value(kubeconfig).unwrap_or_default();
    if minified {
        minify(
            &mut value,
            kubeconfig.current_context.as_deref().unwrap_or(""),
        );
    }
    for cluster in array_mut(&mut value, "clusters") {
        if let Some(c) = cluster.get_mut("cluster").and_then(Value::as_object_mut)
            && c.contains_key("certificate-authority-data")
        {
            c.insert("certificate-authority-data".into(), "DATA+OMITTED".into());
        }
    }
    for user in array_mut(&mut value, "users") {
        if let Some(u) = user.get_mut("user").and_then(Value::as_object_mut) {
            for key in ["client-certificate-data"] {
                if u.contains_key(key) {
                    u.insert(key.into(), "DATA+OMITTED".into());
                }
            }
            for key in ["client-key-data", "token", "password"] {
                if u.contains_key(key) {
                    u.insert(key.into(), "REDACTED".into());
                }
            }
        }
    }
    value
}

fn minify(value: &mut Value, current: &str) {
    let context = value
        .get("contexts")
        .and_then(Value::as_array)
        .and_then(|cs| {
            cs.iter()
                .find(|c| c.get("name").and_then(Value::as_str) == Some(current))
        })
        .cloned();
    let cluster = context
        .as_ref()
        .and_then(|c| c.pointer("/context/cluster"))
        .cloned();
    let user = context
        .as_ref()
        .and_then(|c| c.pointer("/context/user"))
        .cloned();
    keep_named(value, "contexts", Some(&Value::from(current)));
    keep_named(value, "clusters", cluster.as_ref());
    keep_named(value, "users", user.as_ref());
}

fn keep_named(value: &mut Value, key: &str, name: Option<&Value>) {
    if let Some(list) = value.get_mut(key).and_then(Value::as_array_mut) {
        list.retain(|item| name.is_some() && item.get("name") == name);
    }
}

fn array_mut<'a>(value: &'a mut Value, key: &str) -> impl Iterator<Item = &'a mut Value> {
    value
        .get_mut(key)
        .and_then(Value::as_array_mut)
        .into_iter()
        .flatten()
}

#[cfg(test)]
mod tests {
    use super::*;

    const KUBECONFIG: &str = r"
apiVersion: v1
kind: Config
current-context: a
clusters:
- name: ca
  cluster: {server: 'https://a:6443', certificate-authority-data: Q0E=}
- name: cb
  cluster: {server: 'https://b:6443'}
users:
- name: ua
  user: {client-certificate-data: Q0VSVA==, client-key-data: S0VZ}
- name: ub
  user: {token: secret-token}
contexts:
- name: a
  context: {cluster: ca, user: ua, namespace: team-a}
- name: b
  context: {cluster: cb, user: ub}
";

    fn kubeconfig() -> Kubeconfig {
        Kubeconfig::from_yaml(KUBECONFIG).unwrap()
    }

    #[test]
    fn minified_view_keeps_the_current_context_only() {
        let v = redacted(&kubeconfig(), true);
        assert_eq!(v["contexts"].as_array().unwrap().len(), 1);
        assert_eq!(v["clusters"][0]["name"], "ca");
        assert_eq!(v["users"][0]["name"], "ua");
    }

    #[test]
    fn no_secret_survives() {
        let text = yaml(&redacted(&kubeconfig(), false));
        for secret in ["Q0E=", "Q0VSVA==", "S0VZ", "secret-token"] {
            assert!(!text.contains(secret), "{secret} leaked:\n{text}");
        }
        assert!(text.contains("REDACTED") && text.contains("DATA+OMITTED"));
        assert!(
            text.contains("https://b:6443"),
            "full view keeps every cluster"
        );
    }
}
