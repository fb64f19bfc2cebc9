//! The `kubevirt` toolset: create, clone, start, stop and restart VirtualMachines, read what a
//! running VM's guest agent reports, and gather a troubleshooting report, all through KubeVirt's
//! objects on the apiserver, as the Go server does (KubeVirt's controllers do the running).
//! `vm_create` is `kubevirt/create.rs`, `vm_create_from_template` `kubevirt/template.rs`,
//! `vm_troubleshoot` `kubevirt/troubleshoot.rs`. Does I/O
//! against the apiserver.

mod create;
mod template;
mod troubleshoot;

pub use troubleshoot::without_cloud_init_bodies;

use std::fmt::Write as _;

use kube::api::{Api, DynamicObject, PostParams};
use kube::core::GroupVersionKind;
use serde::Deserialize;
use serde_json::{Value, json};

use super::kube::{custom, get_raw, send_raw};
use super::output::yaml;
use super::{Arguments, Hints, ToolContext, ToolError, ToolSpec};

use crate::config::Toolset;

fn name_properties(what: &str) -> Value {
    json!({
        "namespace": {"type": "string", "description": format!("The namespace of the {what}")},
        "name": {"type": "string", "description": format!("The name of the {what}")},
    })
}

#[allow(clippy::too_many_lines, reason = "a table of tool definitions")]
pub fn tools() -> Vec<ToolSpec> {
    let mut clone = name_properties("source virtual machine");
    clone["name"]["description"] = json!("The name of the source virtual machine to clone");
    clone["targetName"] =
        json!({"type": "string", "description": "The name for the new cloned virtual machine"});
    let mut lifecycle = name_properties("virtual machine");
    lifecycle["action"] = json!({
        "type": "string",
        "enum": ["start", "stop", "restart", "pause", "unpause"],
        "description": "The lifecycle action to perform: 'start' (changes runStrategy to Always), 'stop' (changes runStrategy to Halted), 'restart' (stops then starts the VM), 'pause' (suspends the running VMI in-place), or 'unpause' (resumes a paused VMI)",
    });
    let mut guest = name_properties("virtual machine");
    guest["info_type"] = json!({
        "type": "string",
        "enum": ["all", "os", "filesystem", "users", "network"],
        "description": "Type of information to retrieve: 'all' (default - all available info), 'os' (operating system details), 'filesystem' (disk and filesystem info), 'users' (logged-in users), 'network' (network interfaces and IPs)",
        "default": "all",
    });
    let closed = |read_only, destructive, idempotent| Hints {
        read_only,
        destructive,
        idempotent,
        open_world: false,
    };
    vec![
        ToolSpec {
            name: "vm_clone",
            toolset: Toolset::Kubevirt,
            title: "Virtual Machine: Clone",
            description: "Clone a VirtualMachine on KubeVirt by creating a VirtualMachineClone resource. This creates a copy of the source VM with a new name using the KubeVirt Clone API",
            input_schema: json!({"type": "object", "properties": clone, "required": ["namespace", "name", "targetName"]}),
            hints: closed(false, true, true),
            cluster_aware: true,
            handler: |ctx, args| Box::pin(vm_clone(ctx, args)),
        },
        create::tool(closed(false, true, true)),
        template::tool(closed(false, true, false)),
        ToolSpec {
            name: "vm_guest_info",
            toolset: Toolset::Kubevirt,
            title: "Virtual Machine: Guest Agent Info",
            description: "Get guest operating system information from a VirtualMachine's QEMU guest agent. Requires the guest agent to be installed and running inside the VM. Provides detailed information about the OS, filesystems, network interfaces, and logged-in users.",
            input_schema: json!({"type": "object", "properties": guest, "required": ["namespace", "name"]}),
            hints: closed(true, false, true),
            cluster_aware: true,
            handler: |ctx, args| Box::pin(vm_guest_info(ctx, args)),
        },
        ToolSpec {
            name: "vm_lifecycle",
            toolset: Toolset::Kubevirt,
            title: "Virtual Machine: Lifecycle",
            description: "Manage KubeVirt VirtualMachine lifecycle: start, stop, restart, pause, or unpause a VM",
            input_schema: json!({"type": "object", "properties": lifecycle, "required": ["namespace", "name", "action"]}),
            hints: closed(false, true, false),
            cluster_aware: true,
            handler: |ctx, args| Box::pin(vm_lifecycle(ctx, args)),
        },
        troubleshoot::tool(),
    ]
}

/// A KubeVirt kind with its resource name.
pub struct Crd {
    pub group: &'static str,
    pub version: &'static str,
    pub kind: &'static str,
    pub plural: &'static str,
}

pub const VM: Crd = Crd {
    group: "kubevirt.io",
    version: "v1",
    kind: "VirtualMachine",
    plural: "virtualmachines",
};
pub const VMI: Crd = Crd {
    kind: "VirtualMachineInstance",
    plural: "virtualmachineinstances",
    ..VM
};
const CLONE: Crd = Crd {
    group: "clone.kubevirt.io",
    version: "v1beta1",
    kind: "VirtualMachineClone",
    plural: "virtualmachineclones",
};

impl Crd {
    pub fn gvk(&self) -> GroupVersionKind {
        GroupVersionKind::gvk(self.group, self.version, self.kind)
    }

    pub async fn api(
        &self,
        ctx: &ToolContext,
        namespace: &str,
    ) -> Result<Api<DynamicObject>, ToolError> {
        Ok(custom(ctx, &self.gvk(), self.plural, Some(namespace))
            .await?
            .0)
    }
}

/// An object as the tools answer with it: under a heading, as YAML.
pub fn answer(heading: &str, object: &DynamicObject, ctx: &ToolContext) -> String {
    format!("{heading}\n{}", yaml(&ctx.printable(object, "")))
}

#[derive(Deserialize)]
struct CloneArgs {
    namespace: String,
    name: String,
    #[serde(rename = "targetName")]
    target_name: String,
}

async fn vm_clone(ctx: &ToolContext, args: Arguments) -> Result<String, ToolError> {
    let a: CloneArgs = args.parse()?;
    let object: DynamicObject = serde_json::from_value(json!({
        "apiVersion": "clone.kubevirt.io/v1beta1",
        "kind": "VirtualMachineClone",
        "metadata": {"namespace": a.namespace, "generateName": format!("{}-clone-", a.name)},
        "spec": {
            "source": {"apiGroup": "kubevirt.io", "kind": "VirtualMachine", "name": a.name},
            "target": {"apiGroup": "kubevirt.io", "kind": "VirtualMachine", "name": a.target_name},
        },
    }))
    .map_err(|e| ToolError::InvalidArguments(e.to_string()))?;
    let created = CLONE
        .api(ctx, &a.namespace)
        .await?
        .create(&PostParams::default(), &object)
        .await
        .map_err(ToolError::api("create VirtualMachineClone"))?;
    Ok(answer(
        "# VirtualMachineClone created successfully",
        &created,
        ctx,
    ))
}

#[derive(Deserialize)]
struct LifecycleArgs {
    namespace: String,
    name: String,
    action: String,
}

fn run_strategy(vm: &DynamicObject) -> Option<&str> {
    vm.data.pointer("/spec/runStrategy").and_then(Value::as_str)
}

/// Sets the VM's `spec.runStrategy` with an update (so a concurrent change fails, not lost).
async fn set_run_strategy(
    api: &Api<DynamicObject>,
    mut vm: DynamicObject,
    strategy: &str,
    action: &str,
) -> Result<DynamicObject, ToolError> {
    let name = vm.metadata.name.clone().unwrap_or_default();
    if let Some(spec) = vm.data.get_mut("spec").and_then(Value::as_object_mut) {
        spec.insert("runStrategy".into(), json!(strategy));
    }
    api.replace(&name, &PostParams::default(), &vm)
        .await
        .map_err(ToolError::api(format!("{action} VirtualMachine")))
}

async fn vm_lifecycle(ctx: &ToolContext, args: Arguments) -> Result<String, ToolError> {
    let a: LifecycleArgs = args.parse()?;
    let (wanted, verb) = match a.action.as_str() {
        "start" => ("Always", "started"),
        "stop" => ("Halted", "stopped"),
        "restart" => ("Always", "restarted"),
        "pause" | "unpause" => return pause(ctx, &a).await,
        other => {
            return Err(ToolError::InvalidArguments(format!(
                "invalid action '{other}': must be one of 'start', 'stop', 'restart', 'pause', 'unpause'"
            )));
        }
    };
    let api = VM.api(ctx, &a.namespace).await?;
    let vm = api
        .get(&a.name)
        .await
        .map_err(ToolError::api("get VirtualMachine"))?;
    let (vm, heading) = if a.action == "restart" {
        let halted = set_run_strategy(&api, vm, "Halted", "stop").await?;
        let vm = set_run_strategy(&api, halted, "Always", "start").await?;
        (vm, "# VirtualMachine restarted successfully".to_owned())
    } else if run_strategy(&vm) == Some(wanted) {
        let state = if wanted == "Always" {
            "running"
        } else {
            "stopped"
        };
        let heading = format!(
            "# VirtualMachine '{}' in namespace '{}' is already {state}",
            a.name, a.namespace
        );
        (vm, heading)
    } else {
        let vm = set_run_strategy(&api, vm, wanted, &a.action).await?;
        (vm, format!("# VirtualMachine {verb} successfully"))
    };
    Ok(answer(&heading, &vm, ctx))
}

/// Pauses or unpauses the running VMI in place, through KubeVirt's `subresources.kubevirt.io`
/// API (virt-api); answers with the VM.
async fn pause(ctx: &ToolContext, a: &LifecycleArgs) -> Result<String, ToolError> {
    let path = format!(
        "/apis/subresources.kubevirt.io/v1/namespaces/{}/virtualmachineinstances/{}/{}",
        a.namespace, a.name, a.action
    );
    let action = format!(
        "{} VirtualMachineInstance {}/{}",
        a.action, a.namespace, a.name
    );
    send_raw(
        ctx,
        &[VMI.gvk()],
        http::Method::PUT,
        &path,
        &json!({}),
        &action,
    )
    .await?;
    let vm = VM
        .api(ctx, &a.namespace)
        .await?
        .get(&a.name)
        .await
        .map_err(ToolError::api("get VirtualMachine"))?;
    Ok(answer(
        &format!("# VirtualMachine {}d successfully", a.action),
        &vm,
        ctx,
    ))
}

#[derive(Deserialize)]
struct GuestArgs {
    namespace: String,
    name: String,
    info_type: Option<String>,
}

/// The guest agent's answers: (info type, subresource, key in the answer, what it is).
const GUEST_INFO: [(&str, &str, &str, &str); 4] = [
    ("os", "guestosinfo", "guestOSInfo", "guest OS info"),
    (
        "filesystem",
        "filesystemlist",
        "filesystems",
        "filesystem info",
    ),
    ("users", "userlist", "users", "user info"),
    (
        "network",
        "interfacelist",
        "networkInterfaces",
        "network interface info",
    ),
];

/// Asks the running VMI's guest agent, through KubeVirt's `subresources.kubevirt.io` API, for
/// one kind of information or (`all`) each kind that answers.
async fn vm_guest_info(ctx: &ToolContext, args: Arguments) -> Result<String, ToolError> {
    let a: GuestArgs = args.parse()?;
    let info_type = a.info_type.as_deref().unwrap_or("all");
    let asked: Vec<_> = GUEST_INFO
        .iter()
        .filter(|(t, ..)| info_type == "all" || *t == info_type)
        .collect();
    if asked.is_empty() {
        return Err(ToolError::InvalidArguments(format!(
            "invalid info_type '{info_type}': must be one of 'all', 'os', 'filesystem', 'users', 'network'"
        )));
    }
    let vmi = VMI
        .api(ctx, &a.namespace)
        .await?
        .get(&a.name)
        .await
        .map_err(ToolError::api(
            "find the VirtualMachineInstance (the VM may not be running)",
        ))?;
    let phase = vmi
        .data
        .pointer("/status/phase")
        .and_then(Value::as_str)
        .unwrap_or_default();
    if phase != "Running" {
        return Err(ToolError::Unsupported(format!(
            "VirtualMachineInstance is not running (phase: {phase}) - guest agent requires VM to be running"
        )));
    }
    let asked_count = asked.len();
    let mut found = serde_json::Map::new();
    let mut errors = Vec::new();
    for (_, subresource, key, what) in asked {
        let path = format!(
            "/apis/subresources.kubevirt.io/v1/namespaces/{}/virtualmachineinstances/{}/{subresource}",
            a.namespace, a.name
        );
        let action = format!("get {what} - guest agent may not be installed or running");
        match get_raw(ctx, &[VMI.gvk()], &path, &action).await {
            Ok(body) => {
                found.insert(
                    (*key).into(),
                    serde_json::from_str(&body).unwrap_or(json!(body)),
                );
            }
            Err(e) => {
                found.insert(format!("{key}Error"), json!(e.to_string()));
                errors.push(e.to_string());
            }
        }
    }
    if errors.len() == asked_count {
        return Err(ToolError::Unsupported(format!(
            "guest agent is not responding - all queries failed: {} - ensure QEMU guest agent is installed and running in the VM",
            errors.join("; ")
        )));
    }
    let mut out = format!(
        "# Guest Agent Information for VM: {}/{}\n\n",
        a.namespace, a.name
    );
    if info_type != "all" {
        write!(out, "**Info Type:** {info_type}\n\n").ok();
    }
    out.push_str(&yaml(&Value::Object(found)));
    Ok(out)
}
