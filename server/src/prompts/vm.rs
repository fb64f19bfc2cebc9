//! The Go server's `vm-troubleshoot` prompt (kubevirt toolset): a VirtualMachine's and its
//! instance's status, its volumes (cloud-init bodies left out: they may hold credentials), its
//! virt-launcher pods with the last 50 lines of their `compute` container, and the events of the
//! VM, its instance and its pods, gathered as the caller into one guide. A part that cannot be
//! read is said in its section. Does I/O against the apiserver.

use std::fmt::Write as _;

use k8s_openapi::api::core::v1::{Event, Pod};
use kube::api::{Api, ListParams, LogParams};
use rmcp::model::{GetPromptResult, Prompt, PromptArgument};
use serde_json::{Map, Value};

use super::{PromptError, api, block, events_section, guide, rbac_meta, required};
use crate::cluster::kube_message;
use crate::tools::{ToolContext, container_log, without_cloud_init_bodies};

pub const NAME: &str = "vm-troubleshoot";

/// The virt-launcher container that runs QEMU, whose log Go's prompt shows.
const COMPUTE: &str = "compute";
const LOG_LINES: i64 = 50;

/// The prompt as `prompts/list` shows it (Go's text and RBAC declaration).
pub fn prompt() -> Prompt {
    let mut prompt = Prompt::new(
        NAME,
        Some(
            "Generate a step-by-step troubleshooting guide for diagnosing KubeVirt VirtualMachine issues",
        ),
        Some(vec![
            PromptArgument::new("namespace")
                .with_description("The namespace of the VirtualMachine to troubleshoot")
                .with_required(true),
            PromptArgument::new("name")
                .with_description("The name of the VirtualMachine to troubleshoot")
                .with_required(true),
        ]),
    );
    prompt.meta = serde_json::from_str(include_str!("vm-troubleshoot.rbac.json"))
        .ok()
        .map(rbac_meta);
    prompt
}

/// The VirtualMachine or VirtualMachineInstance `name`, as the caller.
async fn read(
    ctx: &ToolContext,
    kind: &str,
    plural: &str,
    ns: &str,
    name: &str,
) -> Result<Value, String> {
    let api = api(ctx, ("kubevirt.io", "v1", kind), plural, Some(ns)).await?;
    let object = api.get(name).await.map_err(|e| kube_message(&e))?;
    Ok(serde_json::to_value(object).unwrap_or_default())
}

/// `### {kind} Status: ns/name` and its status, or why there is none.
fn status(kind: &str, object: &Result<Value, String>, ns: &str, name: &str) -> String {
    match object {
        Err(e) if kind == "VirtualMachineInstance" => format!(
            "### {kind} Status\n\n*{kind} not found or error: {e}*\n\n(This may be expected if the VM is stopped)"
        ),
        Err(e) => format!("### {kind} Status\n\n*Error fetching {kind}: {e}*"),
        Ok(o) => match o.get("status") {
            Some(status) => format!("### {kind} Status: {ns}/{name}\n\n{}", block(status)),
            None => format!("### {kind} Status: {ns}/{name}\n\n*No status found*"),
        },
    }
}

/// The VM's template volumes, else the instance's.
fn volumes(
    vm: &Result<Value, String>,
    vmi: &Result<Value, String>,
    ns: &str,
    name: &str,
) -> String {
    let of = |object: &Result<Value, String>, pointer: &str| {
        object
            .as_ref()
            .ok()
            .and_then(|o| o.pointer(pointer))
            .and_then(Value::as_array)
            .filter(|v| !v.is_empty())
            .cloned()
    };
    let found = of(vm, "/spec/template/spec/volumes")
        .map(|v| ("VirtualMachine", v))
        .or_else(|| of(vmi, "/spec/volumes").map(|v| ("VirtualMachineInstance", v)));
    match found {
        None => "*No volumes configured*".into(),
        Some((source, volumes)) => {
            let shown: Vec<Value> = volumes.iter().map(without_cloud_init_bodies).collect();
            format!(
                "### Configured Volumes (from {source}: {ns}/{name})\n\n{}",
                block(&Value::Array(shown))
            )
        }
    }
}

/// The virt-launcher pods' section and their log section.
async fn launcher(ctx: &ToolContext, ns: &str, name: &str) -> (String, String) {
    let no_logs = "### virt-launcher Pod Logs\n\n*No virt-launcher pod found - no logs available*";
    let pods_api: Result<Api<Pod>, String> = match ctx.target().await {
        Ok(target) => Ok(Api::namespaced(target.client.clone(), ns)),
        Err(e) => Err(e.to_string()),
    };
    let listed = match &pods_api {
        Ok(pods) => pods
            .list(&ListParams::default().labels(&format!(
                "kubevirt.io=virt-launcher,vm.kubevirt.io/name={name}"
            )))
            .await
            .map(|l| l.items)
            .map_err(|e| kube_message(&e)),
        Err(e) => Err(e.clone()),
    };
    let pods = match listed {
        Err(e) => {
            return (
                format!("### virt-launcher Pod\n\n*Error listing pods: {e}*"),
                no_logs.into(),
            );
        }
        Ok(pods) if pods.is_empty() => {
            return (
                "### virt-launcher Pod\n\n*No virt-launcher pod found*\n\n(This is expected if the VM is stopped or the VMI hasn't been scheduled yet)".into(),
                no_logs.into(),
            );
        }
        Ok(pods) => pods,
    };
    let mut described = String::from("### virt-launcher Pod\n\n");
    let mut logs = String::from("### virt-launcher Pod Logs\n\n");
    let params = LogParams {
        container: Some(COMPUTE.into()),
        tail_lines: Some(LOG_LINES),
        ..LogParams::default()
    };
    for pod in &pods {
        let pod_name = pod.metadata.name.clone().unwrap_or_default();
        let shown = ctx.printable(pod, "Pod");
        write!(described, "#### {pod_name}\n\n{}\n\n", block(&shown)).ok();
        let Ok(api) = &pods_api else { continue };
        match container_log(api, &pod_name, &params, ctx.limits.max_tool_response_bytes).await {
            Ok((log, _)) => write!(
                logs,
                "#### Pod: {pod_name}\n\n**Container: {COMPUTE}**\n\n```\n{}\n```\n\n",
                String::from_utf8_lossy(&log)
            )
            .ok(),
            Err(e) => {
                logs = format!("### virt-launcher Pod Logs\n\n*Error fetching logs: {e}*");
                break;
            }
        };
    }
    (described, logs)
}

/// The events of the VM and its instance, and of objects named after it (its pods).
async fn events(ctx: &ToolContext, ns: &str, vm: &str) -> String {
    let (own, launcher) = (format!("{vm}-"), format!("virt-launcher-{vm}"));
    let related = |e: &Event| {
        let object = &e.involved_object;
        let name = object.name.as_deref().unwrap_or_default();
        let kind = object.kind.as_deref().unwrap_or_default();
        (name == vm && matches!(kind, "VirtualMachine" | "VirtualMachineInstance"))
            || name.starts_with(&own)
            || name.starts_with(&launcher)
    };
    let heading = format!("Events (related to {vm})");
    events_section(
        ctx,
        ns,
        related,
        &heading,
        "No events found related to this VM",
    )
    .await
}

pub async fn get(
    arguments: &Map<String, Value>,
    ctx: &ToolContext,
) -> Result<GetPromptResult, PromptError> {
    let (ns, name) = (
        required(arguments, "namespace")?,
        required(arguments, "name")?,
    );
    let vm = read(ctx, "VirtualMachine", "virtualmachines", &ns, &name).await;
    let vmi = read(
        ctx,
        "VirtualMachineInstance",
        "virtualmachineinstances",
        &ns,
        &name,
    )
    .await;
    let machine_text = status("VirtualMachine", &vm, &ns, &name);
    let instance_text = status("VirtualMachineInstance", &vmi, &ns, &name);
    let volumes_text = volumes(&vm, &vmi, &ns, &name);
    let (pods_text, logs_text) = launcher(ctx, &ns, &name).await;
    let events_text = events(ctx, &ns, &name).await;
    let text = format!(
        "# KubeVirt VirtualMachine Troubleshooting Guide\n\n## VM: {name} (namespace: {ns})\n\n\
Use this guide to diagnose issues with the KubeVirt VirtualMachine. The relevant resource data has been collected below.\n\n---\n\n\
## Step 1: VirtualMachine Status\n\nCheck the VirtualMachine status:\n\
- printableStatus (should be \"Running\")\n- ready (should be true)\n- conditions for any errors\n\n{machine_text}\n\n---\n\n\
## Step 2: VirtualMachineInstance Status\n\nCheck the VirtualMachineInstance status:\n\
- phase (should be \"Running\")\n- conditions for \"Ready\" condition\n\n{instance_text}\n\n---\n\n\
## Step 3: VM Volumes\n\nReview the VM volumes for any configuration issues:\n\n{volumes_text}\n\n\
**Common volume types to check:**\n\
- **containerDisk**: Verify the image URL is accessible and the image exists\n\
- **cloudInitNoCloud / cloudInitConfigDrive**: Check userData and networkData for syntax errors\n\
- **configMap**: Verify the referenced ConfigMap exists in the namespace\n\
- **secret**: Verify the referenced Secret exists in the namespace\n\
- **serviceAccount**: Check if the ServiceAccount exists and has proper permissions\n\
- **emptyDisk**: Usually no issues, but check if capacity is specified correctly\n\
- **hostDisk**: Verify the path exists on the host node and has correct permissions\n\
- **downwardMetrics**: Usually no configuration issues\n\
- **dataVolume**: Check that the DataVolume exists and status.phase is \"Succeeded\"\n\
- **persistentVolumeClaim**: Check that the PVC exists and status.phase is \"Bound\"\n\n---\n\n\
## Step 4: virt-launcher Pod\n\nCheck the virt-launcher pod:\n\
- Pod should be \"Running\" with all containers ready\n- Check for container restart counts\n- Review pod conditions for issues\n\n{pods_text}\n\n---\n\n\
## Step 5: virt-launcher Pod Logs\n\nReview the logs from the virt-launcher pod containers:\n\
- Look for error messages or stack traces\n- Check for VM boot issues or QEMU errors\n\n{logs_text}\n\n---\n\n\
## Step 6: Events\n\nReview events related to the VM and its components:\n\
- Look for Warning events\n- Check for scheduling, storage, or network issues\n\n{events_text}\n\n---\n\n\
## Troubleshooting Analysis\n\nBased on the data above, analyze:\n\n\
1. **VM State**: Is the VM in the expected state (Running/Stopped)?\n\
2. **VMI State**: Does the VMI exist and is it Running?\n\
3. **Volumes**: Are all referenced volumes (DataVolumes, PVCs, ConfigMaps, Secrets, container images) available?\n\
4. **Pod Health**: Is the virt-launcher pod running without restarts?\n\
5. **Events**: Are there any Warning events indicating problems?\n\n---\n\n\
## Fix the Issue\n\nIf you identified a problem, attempt to fix it:\n\n\
1. **Missing Resources**: Create missing ConfigMaps, Secrets, or PVCs referenced by the VM\n\
2. **Storage Issues**: Check DataVolume import status, fix storage class or access mode issues\n\
3. **Image Pull Errors**: Verify container disk image URLs are correct and accessible\n\
4. **Configuration Errors**: Fix any syntax errors in cloud-init userData or other configurations\n\
5. **Resource Constraints**: Adjust VM resource requests if the pod cannot be scheduled\n\
6. **Restart VM**: If the VM is stuck, try stopping and starting it again\n\n\
Use the available Kubernetes tools to apply fixes (create resources, update configurations, restart VM).\n\n---\n\n\
## Report Findings\n\nAfter completing troubleshooting and attempting fixes, report:\n\
- **Status:** Running/Stopped/Failed/Provisioning\n\
- **Root Cause:** Description or \"None found\"\n\
- **Action Taken:** What was done to fix the issue (or \"None\" if no fix was needed/possible)\n\
- **Result:** Whether the fix was successful or further action is needed\n"
    );
    Ok(guide(
        text,
        "I'll analyze the collected data to diagnose the VirtualMachine issues systematically.",
        "VirtualMachine troubleshooting guide generated",
    ))
}
