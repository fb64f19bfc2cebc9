//! `vm_troubleshoot`: one report on a VirtualMachine: the issues found by the Go server's
//! heuristics (Ready condition and printable status, missing StorageClasses of its
//! DataVolumes, cloud-init commands that stop the guest, a node pin that blocks migration,
//! failed migrations, an unhealthy virt-launcher pod), then the raw data: VM and VMI status,
//! volumes (cloud-init bodies left out), the virt-launcher pods and related events. What cannot
//! be read is said in its section. Does I/O against the apiserver.

use std::fmt::Write as _;

use base64::Engine as _;

use k8s_openapi::api::core::v1::{Event, Pod};
use k8s_openapi::api::storage::v1::StorageClass;
use kube::api::{Api, DynamicObject, ListParams};
use serde::Deserialize;
use serde_json::{Value, json};

use super::super::kube::{custom, everywhere, namespaced};
use super::super::output::yaml;
use super::super::{Arguments, Hints, ToolContext, ToolError, ToolSpec};
use super::{Crd, VM, VMI};
use crate::config::Toolset;

pub fn tool() -> ToolSpec {
    ToolSpec {
        name: "vm_troubleshoot",
        toolset: Toolset::Kubevirt,
        title: "Virtual Machine: Troubleshoot",
        description: "Diagnose KubeVirt VirtualMachine issues with automated root-cause detection. Collects VM status, VMI status, volumes, DataVolume/PVC state, cloud-init configuration, pod state, logs, and events, then runs heuristic checks to identify specific problems and suggest fixes. Returns a 'Detected Issues' section with CRITICAL/WARNING findings and actionable remediation steps, followed by raw diagnostic data. Use this tool FIRST whenever a user asks why a VM is not starting, stuck in Provisioning, crashlooping, failing to migrate, or exhibiting unexpected behavior. Automatically detects: missing StorageClasses, invalid PVC specs, dangerous cloud-init commands (shutdown/halt), nodeSelector migration blockers, failed migrations, and pod crashloops. If the user asks to fix or remediate the issue, use the Suggested Fixes from the report with vm_lifecycle (restart) or resources_create_or_update.",
        input_schema: json!({
            "type": "object",
            "properties": {
                "namespace": {"type": "string", "description": "The namespace of the VirtualMachine to troubleshoot"},
                "name": {"type": "string", "description": "The name of the VirtualMachine to troubleshoot"},
            },
            "required": ["namespace", "name"],
        }),
        hints: Hints::READ_IDEMPOTENT,
        cluster_aware: true,
        handler: |ctx, args| Box::pin(vm_troubleshoot(ctx, args)),
    }
}

const MIGRATION: Crd = Crd {
    kind: "VirtualMachineInstanceMigration",
    plural: "virtualmachineinstancemigrations",
    ..VM
};

/// One finding: severity, what is wrong, and what to do if known.
struct Issue(&'static str, String, Option<&'static str>);

#[derive(Deserialize)]
struct Args {
    namespace: String,
    name: String,
}

async fn read(ctx: &ToolContext, kind: &Crd, ns: &str, name: &str) -> Result<Value, String> {
    let api = kind.api(ctx, ns).await.map_err(|e| e.to_string())?;
    match api.get(name).await {
        Ok(object) => Ok(serde_json::to_value(object).unwrap_or_default()),
        Err(e) => Err(ToolError::api(format!("get {}", kind.kind))(e).to_string()),
    }
}

fn at<'a>(object: &'a Result<Value, String>, pointer: &str) -> Option<&'a Value> {
    object.as_ref().ok().and_then(|o| o.pointer(pointer))
}

fn str_at<'a>(object: &'a Result<Value, String>, pointer: &str) -> &'a str {
    at(object, pointer)
        .and_then(Value::as_str)
        .unwrap_or_default()
}

fn block(value: &Value) -> String {
    format!("```yaml\n{}```", yaml(value))
}

async fn vm_troubleshoot(ctx: &ToolContext, args: Arguments) -> Result<String, ToolError> {
    let Args {
        namespace: ns,
        name,
    } = args.parse()?;
    let vm = read(ctx, &VM, &ns, &name).await;
    let vmi = read(ctx, &VMI, &ns, &name).await;
    let mut issues = condition_issues(&vm);
    issues.extend(storage_class_issues(ctx, &vm).await);
    issues.extend(cloud_init_issues(&vm));
    issues.extend(node_selector_issues(&vm, &vmi));
    issues.extend(migration_issues(ctx, &ns, &name).await);
    let pods: Vec<Pod> = match namespaced::<Pod>(ctx, Some(&ns)).await {
        Ok((api, _)) => api
            .list(&ListParams::default().labels(&format!(
                "kubevirt.io=virt-launcher,vm.kubevirt.io/name={name}"
            )))
            .await
            .map(|l| l.items)
            .unwrap_or_default(),
        Err(_) => Vec::new(),
    };
    issues.extend(pods.iter().flat_map(pod_issues));

    let mut out = format!("# VirtualMachine Diagnostic Report: {ns}/{name}\n\n");
    if issues.is_empty() {
        out.push_str("## Detected Issues\n\n*No issues automatically detected. Review the raw diagnostic data below for manual analysis.*\n\n");
    } else {
        out.push_str("## Detected Issues\n\n");
        for Issue(severity, message, _) in &issues {
            writeln!(out, "- **{severity}**: {message}").ok();
        }
        let fixes: Vec<&str> = issues.iter().filter_map(|i| i.2).collect();
        if !fixes.is_empty() {
            out.push_str("\n## Suggested Fixes\n\n");
            for (i, fix) in fixes.iter().enumerate() {
                writeln!(out, "{}. {fix}", i + 1).ok();
            }
        }
        out.push('\n');
    }
    for (title, object) in [("VirtualMachine", &vm), ("VirtualMachineInstance", &vmi)] {
        match (object, at(object, "/status")) {
            (Err(e), _) => writeln!(out, "## {title}\n\n*{e}*\n"),
            (Ok(_), None) => writeln!(out, "## {title}: {ns}/{name}\n\n*No status found*\n"),
            (Ok(_), Some(status)) => {
                writeln!(out, "## {title} Status: {ns}/{name}\n\n{}\n", block(status))
            }
        }
        .ok();
    }
    let volumes = at(&vm, "/spec/template/spec/volumes").or_else(|| at(&vmi, "/spec/volumes"));
    match volumes.and_then(Value::as_array) {
        Some(volumes) if !volumes.is_empty() => {
            let shown: Vec<Value> = volumes.iter().map(without_cloud_init_bodies).collect();
            writeln!(out, "## Volumes\n\n{}\n", block(&Value::Array(shown))).ok();
        }
        _ => out.push_str("## Volumes\n\n*No volumes configured*\n\n"),
    }
    out.push_str("## virt-launcher Pod\n\n");
    if pods.is_empty() {
        out.push_str("*No virt-launcher pod found (VM may be stopped or not yet scheduled)*\n\n");
    }
    for pod in &pods {
        let status = json!({"phase": pod.status.as_ref().and_then(|s| s.phase.clone()),
            "nodeName": pod.spec.as_ref().and_then(|s| s.node_name.clone()),
            "containerStatuses": pod.status.as_ref().and_then(|s| s.container_statuses.clone())});
        writeln!(
            out,
            "### {}\n\n{}\n",
            pod.metadata.name.as_deref().unwrap_or_default(),
            block(&status)
        )
        .ok();
    }
    out.push_str(&events(ctx, &ns, &name, &pods).await);
    Ok(out)
}

fn condition_issues(vm: &Result<Value, String>) -> Vec<Issue> {
    let mut issues = Vec::new();
    for c in at(vm, "/status/conditions")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        let field = |k: &str| c.get(k).and_then(Value::as_str).unwrap_or_default();
        if field("type") != "Ready" || field("status") != "False" {
            continue;
        }
        let message = field("message");
        if field("reason") == "VMINotExists" {
            issues.push(Issue("WARNING", "VM condition Ready=False with reason VMINotExists. The VirtualMachineInstance has not been created.".into(), None));
        } else if message.contains("Guest") || message.to_lowercase().contains("error") {
            issues.push(Issue(
                "WARNING",
                format!("VM condition Ready=False: {message}"),
                None,
            ));
        }
    }
    match str_at(vm, "/status/printableStatus") {
        "Provisioning" => issues.push(Issue("WARNING", "VM is stuck in Provisioning state. This typically means a DataVolume or PVC cannot be created.".into(), None)),
        "CrashLoopBackOff" => issues.push(Issue("CRITICAL", "VM is in CrashLoopBackOff state. The guest OS or cloud-init is causing repeated failures.".into(), Some("Check the cloud-init userData for commands that shut down or crash the guest (e.g., shutdown -h now, exit 1)."))),
        s @ ("ErrImagePull" | "ImagePullBackOff") => issues.push(Issue("CRITICAL", format!("VM is in {s} state. The container disk image cannot be pulled."), Some("Verify the containerDisk image reference exists and is accessible from the cluster."))),
        _ => {}
    }
    issues
}

async fn storage_class_issues(ctx: &ToolContext, vm: &Result<Value, String>) -> Vec<Issue> {
    let mut issues = Vec::new();
    let Ok(classes) = everywhere::<StorageClass>(ctx).await else {
        return issues;
    };
    for dv in at(vm, "/spec/dataVolumeTemplates")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        let class = [
            "/spec/storage/storageClassName",
            "/spec/pvc/storageClassName",
        ]
        .iter()
        .find_map(|p| dv.pointer(p).and_then(Value::as_str));
        if let Some(class) = class.filter(|c| !c.is_empty())
            && let Ok(None) = classes.get_opt(class).await
        {
            let dv_name = dv
                .pointer("/metadata/name")
                .and_then(Value::as_str)
                .unwrap_or_default();
            issues.push(Issue("CRITICAL", format!("DataVolume {dv_name} references StorageClass {class:?}, which does not exist."), Some("Change the DataVolume's storageClassName to an existing StorageClass (or omit it to use the default).")));
        }
    }
    issues
}

/// The guest's cloud-init user data, plain or base64.
fn user_data(volume: &Value) -> Option<String> {
    let ci = volume
        .get("cloudInitNoCloud")
        .or_else(|| volume.get("cloudInitConfigDrive"))?;
    if let Some(plain) = ci.get("userData").and_then(Value::as_str) {
        return Some(plain.to_owned());
    }
    let encoded = ci.get("userDataBase64").and_then(Value::as_str)?;
    let raw = base64::engine::general_purpose::STANDARD
        .decode(encoded.trim())
        .ok()?;
    String::from_utf8(raw).ok()
}

fn cloud_init_issues(vm: &Result<Value, String>) -> Vec<Issue> {
    let stops = [
        "shutdown",
        "halt",
        "poweroff",
        "init 0",
        "systemctl poweroff",
        "systemctl halt",
    ];
    at(vm, "/spec/template/spec/volumes")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(user_data)
        .flat_map(|data| {
            data.lines()
                .map(str::trim)
                .filter(|l| !l.starts_with('#') && !l.contains("echo"))
                .filter_map(|l| stops.iter().find(|s| l.contains(*s)).map(|s| (*s, l.to_owned())))
                .collect::<Vec<_>>()
        })
        .map(|(command, line)| Issue("CRITICAL", format!("cloud-init userData runs {command:?} ({line}), which stops the guest on boot."), Some("Remove the shutdown/halt command from the cloud-init userData and restart the VM with vm_lifecycle.")))
        .collect()
}

fn node_selector_issues(vm: &Result<Value, String>, vmi: &Result<Value, String>) -> Vec<Issue> {
    let selector =
        at(vm, "/spec/template/spec/nodeSelector").or_else(|| at(vmi, "/spec/nodeSelector"));
    let Some(selector) = selector
        .and_then(Value::as_object)
        .filter(|s| !s.is_empty())
    else {
        return Vec::new();
    };
    if let Some(host) = selector
        .get("kubernetes.io/hostname")
        .and_then(Value::as_str)
    {
        return vec![Issue(
            "WARNING",
            format!(
                "VM is pinned to a specific node via nodeSelector (kubernetes.io/hostname={host}). This prevents live migration to other nodes."
            ),
            Some(
                "Remove the kubernetes.io/hostname nodeSelector to allow migration, or use a broader label selector that matches multiple nodes.",
            ),
        )];
    }
    let labels: Vec<String> = selector
        .iter()
        .map(|(k, v)| format!("{k}={}", v.as_str().unwrap_or_default()))
        .collect();
    vec![Issue(
        "INFO",
        format!(
            "VM has nodeSelector constraints: {}. This may limit scheduling and migration options.",
            labels.join(", ")
        ),
        None,
    )]
}

async fn migration_issues(ctx: &ToolContext, ns: &str, name: &str) -> Vec<Issue> {
    let Ok((api, _)) = custom(ctx, &MIGRATION.gvk(), MIGRATION.plural, Some(ns)).await else {
        return Vec::new();
    };
    let api: Api<DynamicObject> = api;
    let Ok(list) = api
        .list(&ListParams::default().labels(&format!("kubevirt.io/vmi-name={name}")))
        .await
    else {
        return Vec::new();
    };
    let failed = list
        .items
        .iter()
        .filter(|m| m.data.pointer("/status/phase").and_then(Value::as_str) == Some("Failed"))
        .count();
    (failed > 0)
        .then(|| Issue("CRITICAL", format!("{failed} live migration(s) of this VM failed."), Some("Check the migration's conditions and the target node's capacity, then retry the migration.")))
        .into_iter()
        .collect()
}

fn pod_issues(pod: &Pod) -> Vec<Issue> {
    let mut issues = Vec::new();
    let Some(status) = &pod.status else {
        return issues;
    };
    if status.phase.as_deref() == Some("Pending") {
        issues.push(Issue("WARNING", "virt-launcher pod is in Pending state. The pod has not been scheduled yet (possible resource constraints or nodeSelector mismatch).".into(), Some("Check node resources and scheduling constraints. Ensure at least one node satisfies the pod's resource requests and node selectors.")));
    }
    for c in status.container_statuses.iter().flatten() {
        if c.restart_count > 3 {
            issues.push(Issue("CRITICAL", format!("Container {:?} in virt-launcher pod has restarted {} times, indicating a crashloop.", c.name, c.restart_count), None));
        }
        let state = c.state.as_ref();
        if let Some(w) = state.and_then(|s| s.waiting.as_ref()) {
            let reason = w.reason.as_deref().unwrap_or_default();
            if matches!(
                reason,
                "CrashLoopBackOff" | "ErrImagePull" | "ImagePullBackOff"
            ) {
                issues.push(Issue(
                    "CRITICAL",
                    format!(
                        "virt-launcher container is in {reason} state: {}",
                        w.message.as_deref().unwrap_or_default()
                    ),
                    None,
                ));
            }
        }
        if state
            .and_then(|s| s.terminated.as_ref())
            .is_some_and(|t| t.reason.as_deref() == Some("OOMKilled"))
        {
            issues.push(Issue("CRITICAL", "virt-launcher container was OOMKilled. The VM requires more memory than allocated.".into(), Some("Increase the memory resource limits for the VM or reduce the guest memory requirements.")));
        }
    }
    issues
}

/// A volume with its cloud-init bodies replaced: they may hold passwords and keys.
pub fn without_cloud_init_bodies(volume: &Value) -> Value {
    let mut volume = volume.clone();
    for key in ["cloudInitNoCloud", "cloudInitConfigDrive"] {
        if let Some(ci) = volume.get_mut(key).and_then(Value::as_object_mut) {
            for body in [
                "userData",
                "networkData",
                "userDataBase64",
                "networkDataBase64",
            ] {
                if ci.contains_key(body) {
                    ci.insert(body.into(), json!("<not shown: may hold credentials>"));
                }
            }
        }
    }
    volume
}

async fn events(ctx: &ToolContext, ns: &str, vm: &str, pods: &[Pod]) -> String {
    let Ok((api, _)) = namespaced::<Event>(ctx, Some(ns)).await else {
        return "## Events\n\n*Events are not readable*\n".into();
    };
    let mut names = vec![vm.to_owned()];
    names.extend(pods.iter().filter_map(|p| p.metadata.name.clone()));
    let mut lines = Vec::new();
    for name in names {
        match api
            .list(&ListParams::default().fields(&format!("involvedObject.name={name}")))
            .await
        {
            Ok(list) => lines.extend(list.items.iter().map(|e| {
                format!(
                    "- {} {} {}/{}: {}",
                    e.type_.as_deref().unwrap_or_default(),
                    e.reason.as_deref().unwrap_or_default(),
                    e.involved_object.kind.as_deref().unwrap_or_default(),
                    name,
                    e.message.as_deref().unwrap_or_default()
                )
            })),
            Err(e) => lines.push(format!(
                "*Error fetching events for {name}: {}*",
                ToolError::api("list events")(e)
            )),
        }
    }
    if lines.is_empty() {
        return "## Events\n\n*No events found related to this VM*\n".into();
    }
    format!("## Events\n\n{}\n", lines.join("\n"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shutdown_in_cloud_init_is_critical_and_bodies_are_hidden() {
        let volume = json!({"name": "ci", "cloudInitNoCloud": {"userData": "#cloud-config\nruncmd:\n- shutdown -h now\n"}});
        let vm = Ok(json!({"spec": {"template": {"spec": {"volumes": [volume]}}}}));
        let issues = cloud_init_issues(&vm);
        assert_eq!(issues.len(), 1);
        assert!(issues[0].1.contains("\"shutdown\""), "{}", issues[0].1);
        let shown = without_cloud_init_bodies(&volume);
        assert!(!shown.to_string().contains("shutdown"));
    }
}
