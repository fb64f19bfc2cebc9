//! `vm_create_from_template`: a VirtualMachine made from a VirtualMachineTemplate by
//! virt-template's own API server, through the `create` subresource of its aggregated
//! `subresources.template.kubevirt.io` API, as the Go server does: that server substitutes the
//! parameters (given, defaulted, generated) and creates the VM itself, so the caller needs only
//! `create` on `virtualmachinetemplates/create`. Does I/O against the apiserver.

use std::collections::BTreeMap;

use kube::core::GroupVersionKind;
use serde::Deserialize;
use serde_json::{Map, Value, json};

use super::super::kube::{send_raw, unless_not_served};
use super::super::output::yaml;
use super::super::{Arguments, Hints, ToolContext, ToolError, ToolSpec};
use super::{VM, without_cloud_init_bodies};
use crate::config::Toolset;

const SUBRESOURCES: &str = "subresources.template.kubevirt.io/v1beta1";

pub fn tool(hints: Hints) -> ToolSpec {
    ToolSpec {
        name: "vm_create_from_template",
        toolset: Toolset::Kubevirt,
        title: "Virtual Machine: Create from Template",
        description: "Create a VirtualMachine from a VirtualMachineTemplate (virt-template) on KubeVirt. Processes the template server-side to substitute parameters (required values, defaults, and auto-generated values like passwords), then creates the resulting VirtualMachine in the same namespace. Cross-namespace template usage is not supported.",
        input_schema: json!({
            "type": "object",
            "properties": {
                "namespace": {"type": "string", "description": "The namespace of the VirtualMachineTemplate and the resulting VirtualMachine (must be the same)"},
                "template_name": {"type": "string", "description": "The name of the VirtualMachineTemplate to create the VM from"},
                "parameters": {
                    "type": "object",
                    "description": "Parameter values to substitute in the template. Keys are parameter names (e.g. VM_NAME), values are strings. Required parameters must be provided; optional parameters use their defaults if omitted; parameters with generate/from will be auto-generated if not provided.",
                    "additionalProperties": {"type": "string"},
                },
            },
            "required": ["namespace", "template_name"],
        }),
        hints,
        cluster_aware: true,
        handler: |ctx, args| Box::pin(vm_create_from_template(ctx, args)),
    }
}

#[derive(Deserialize)]
struct TemplateArgs {
    namespace: String,
    template_name: String,
    #[serde(default)]
    parameters: Option<Map<String, Value>>,
}

/// The parameters as virt-template takes them: strings only, named in the error otherwise.
fn string_parameters(
    parameters: Option<Map<String, Value>>,
) -> Result<BTreeMap<String, String>, ToolError> {
    parameters
        .unwrap_or_default()
        .into_iter()
        .map(|(name, value)| match value {
            Value::String(s) => Ok((name, s)),
            other => Err(ToolError::InvalidArguments(format!(
                "parameter \"{name}\" value must be a string, got {}",
                json_type(&other)
            ))),
        })
        .collect()
}

fn json_type(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "boolean",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

/// virt-template's `CreateOptions`: Go sends `parameters` only when there are some.
fn create_options(parameters: &BTreeMap<String, String>) -> Value {
    let mut options = json!({"apiVersion": SUBRESOURCES, "kind": "CreateOptions"});
    if !parameters.is_empty() {
        options["parameters"] = json!(parameters);
    }
    options
}

/// The processed template as printed: the created VM's cloud-init bodies replaced (they may
/// hold the passwords the template generated), as vm_troubleshoot prints volumes.
fn printable(mut processed: Value) -> Value {
    if let Some(volumes) = processed
        .pointer_mut("/virtualMachine/spec/template/spec/volumes")
        .and_then(Value::as_array_mut)
    {
        for volume in volumes.iter_mut() {
            *volume = without_cloud_init_bodies(volume);
        }
    }
    processed
}

async fn vm_create_from_template(ctx: &ToolContext, args: Arguments) -> Result<String, ToolError> {
    let a: TemplateArgs = args.parse()?;
    let parameters = string_parameters(a.parameters)?;
    let path = format!(
        "/apis/{SUBRESOURCES}/namespaces/{}/virtualmachinetemplates/{}/create",
        a.namespace, a.template_name
    );
    let action = format!(
        "create VM from template {}/{}",
        a.namespace, a.template_name
    );
    let template =
        GroupVersionKind::gvk("template.kubevirt.io", "v1beta1", "VirtualMachineTemplate");
    let touches = [template, VM.gvk()];
    let sent = send_raw(
        ctx,
        &touches,
        http::Method::POST,
        &path,
        &create_options(&parameters),
        &action,
    )
    .await;
    let body = unless_not_served(sent, &action, |status| {
        format!(
            "the cluster does not serve virt-template's API ({SUBRESOURCES}); install virt-template ({status})"
        )
    })?;
    let processed: Value = serde_json::from_str(&body).map_err(|e| ToolError::Failed {
        action: "read the created VirtualMachine".into(),
        message: e.to_string(),
    })?;
    Ok(format!(
        "# VirtualMachine created from template successfully\n{}",
        yaml(&ctx.printable_json(printable(processed), ""))
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parameters_must_be_strings() {
        let given = json!({"NAME": "web", "CPUS": 2});
        let err = string_parameters(given.as_object().cloned()).unwrap_err();
        assert_eq!(
            err.to_string(),
            "invalid arguments: parameter \"CPUS\" value must be a string, got number"
        );
    }

    #[test]
    fn create_options_carry_parameters_only_when_given() {
        assert_eq!(
            create_options(&BTreeMap::new()),
            json!({"apiVersion": SUBRESOURCES, "kind": "CreateOptions"})
        );
        let given = json!({"NAME": "web"});
        let parameters = string_parameters(given.as_object().cloned()).unwrap();
        assert_eq!(
            create_options(&parameters)["parameters"],
            json!({"NAME": "web"})
        );
    }

    #[test]
    fn the_created_vms_cloud_init_bodies_are_not_printed() {
        let processed = json!({"message": "made", "virtualMachine": {"spec": {"template": {"spec": {"volumes": [
            {"name": "ci", "cloudInitNoCloud": {"userData": "password: s3cret"}},
            {"name": "disk", "containerDisk": {"image": "fedora"}},
        ]}}}}});
        let shown = printable(processed).to_string();
        assert!(!shown.contains("s3cret"), "{shown}");
        assert!(
            shown.contains("fedora") && shown.contains("made"),
            "{shown}"
        );
    }
}
