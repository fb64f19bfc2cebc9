//! `vm_create`: a VirtualMachine from a workload name or image, with the instancetype and
//! preference resolved as the Go server resolves them (explicit names, a matching DataSource's
//! defaults, or the cluster's instancetypes by size and performance family), created Halted
//! unless asked to start. Lists it cannot read (CDI or instancetypes not installed, no RBAC) are
//! treated as empty, as in Go. Does I/O against the apiserver.

use kube::api::{Api, DynamicObject, ListParams, Patch, PatchParams};
use kube::core::GroupVersionKind;
use serde::Deserialize;
use serde_json::{Value, json};

use super::super::kube::{FIELD_MANAGER, custom};
use super::super::{Arguments, Hints, ToolContext, ToolError, ToolSpec};
use super::{VM, answer};
use crate::config::Toolset;

pub fn tool(hints: Hints) -> ToolSpec {
    ToolSpec {
        name: "vm_create",
        toolset: Toolset::Kubevirt,
        title: "Virtual Machine: Create",
        description: "Create a VirtualMachine on KubeVirt with the specified configuration, automatically resolving instance types, preferences, and container disk images. VM will be created in Halted state by default; use autostart parameter to start it immediately.",
        input_schema: json!({
            "type": "object",
            "properties": {
                "namespace": {"type": "string", "description": "The namespace for the virtual machine"},
                "name": {"type": "string", "description": "The name of the virtual machine"},
                "workload": {"type": "string", "description": "The workload for the VM. Accepts OS names (e.g., 'fedora' (default), 'ubuntu', 'centos', 'centos-stream', 'debian', 'rhel', 'opensuse', 'opensuse-tumbleweed', 'opensuse-leap') or full container disk image URLs", "examples": ["fedora", "ubuntu", "centos", "debian", "rhel", "quay.io/containerdisks/fedora:latest"]},
                "instancetype": {"type": "string", "description": "Optional instance type name for the VM (e.g., 'u1.small', 'u1.medium', 'u1.large')"},
                "preference": {"type": "string", "description": "Optional preference name for the VM"},
                "size": {"type": "string", "description": "Optional workload size hint for the VM (e.g., 'small', 'medium', 'large', 'xlarge'). Used to auto-select an appropriate instance type if not explicitly specified.", "examples": ["small", "medium", "large"]},
                "performance": {"type": "string", "description": "Optional performance family hint for the VM instance type (e.g., 'u1' for general-purpose, 'o1' for overcommitted, 'c1' for compute-optimized, 'm1' for memory-optimized). Defaults to 'u1' (general-purpose) if not specified.", "examples": ["general-purpose", "overcommitted", "compute-optimized", "memory-optimized"]},
                "autostart": {"type": "boolean", "description": "Optional flag to automatically start the VM after creation (sets runStrategy to Always instead of Halted). Defaults to false."},
                "storage": {"type": "string", "description": "Optional storage size for the VM's root disk when using DataSources (e.g., '30Gi', '50Gi', '100Gi'). Defaults to 30Gi. Ignored when using container disks.", "examples": ["30Gi", "50Gi", "100Gi"]},
                "networks": {
                    "type": "array",
                    "description": "Optional secondary network interfaces to attach to the VM. Each item specifies a Multus NetworkAttachmentDefinition to attach. Accepts either simple strings (NetworkAttachmentDefinition names) or objects with 'name' (interface name in VM) and 'networkName' (NetworkAttachmentDefinition name) properties. Each network creates a bridge interface on the VM.",
                    "examples": [["vlan-network"], ["vlan-network", "storage-network"], [{"name": "vlan100", "networkName": "vlan-network"}]],
                    "items": {"oneOf": [
                        {"type": "string", "description": "NetworkAttachmentDefinition name (used as both interface name and network name)"},
                        {"type": "object", "description": "Network configuration with custom interface name", "properties": {
                            "name": {"type": "string", "description": "Interface name in the VM (optional, defaults to networkName)"},
                            "networkName": {"type": "string", "description": "Multus NetworkAttachmentDefinition name (required)"},
                        }, "required": ["networkName"]},
                    ]},
                },
            },
            "required": ["namespace", "name"],
        }),
        hints,
        cluster_aware: true,
        handler: |ctx, args| Box::pin(vm_create(ctx, args)),
    }
}

#[derive(Deserialize)]
struct CreateArgs {
    namespace: String,
    name: String,
    workload: Option<String>,
    #[serde(default)]
    instancetype: String,
    #[serde(default)]
    preference: String,
    #[serde(default)]
    size: String,
    #[serde(default)]
    performance: String,
    #[serde(default)]
    autostart: bool,
    storage: Option<String>,
    #[serde(default)]
    networks: Vec<Network>,
}

/// A secondary network: a NetworkAttachmentDefinition name, or an interface name and one.
#[derive(Deserialize)]
#[serde(untagged)]
enum Network {
    Name(String),
    Named {
        #[serde(default)]
        name: String,
        #[serde(rename = "networkName")]
        network_name: String,
    },
}

/// An object the resolution found: its name, and its namespace if it is namespaced.
struct Found {
    name: String,
    namespace: Option<String>,
    labels: std::collections::BTreeMap<String, String>,
}

async fn list(
    ctx: &ToolContext,
    kind: GroupVersionKind,
    plural: &str,
    ns: Option<&str>,
) -> Vec<Found> {
    if ctx.check_allowed(&kind).is_err() {
        return Vec::new();
    }
    let api: Result<Api<DynamicObject>, ToolError> = match ns {
        Some(ns) => custom(ctx, &kind, plural, Some(ns))
            .await
            .map(|(api, _)| api),
        None => ctx.target().await.map(|t| {
            Api::all_with(
                t.client.clone(),
                &kube::discovery::ApiResource::from_gvk_with_plural(&kind, plural),
            )
        }),
    };
    let Ok(list) = (match api {
        Ok(api) => api.list(&ListParams::default()).await.map_err(|_| ()),
        Err(_) => Err(()),
    }) else {
        return Vec::new();
    };
    list.items
        .into_iter()
        .map(|o| Found {
            name: o.metadata.name.unwrap_or_default(),
            namespace: o.metadata.namespace,
            labels: o.metadata.labels.unwrap_or_default(),
        })
        .collect()
}

/// Cluster-wide and namespaced objects of one instancetype.kubevirt.io pair of kinds.
async fn both(
    ctx: &ToolContext,
    cluster: (&str, &str),
    namespaced: (&str, &str),
    ns: &str,
) -> Vec<Found> {
    let gvk = |kind| GroupVersionKind::gvk("instancetype.kubevirt.io", "v1beta1", kind);
    let mut all = list(ctx, gvk(cluster.0), cluster.1, None).await;
    all.extend(list(ctx, gvk(namespaced.0), namespaced.1, Some(ns)).await);
    all
}

/// The Go server's container disks for OS names; anything with `/` or `:` is an image already.
fn container_disk(workload: &str) -> String {
    if workload.contains('/') || workload.contains(':') {
        return workload.to_owned();
    }
    match workload.trim().to_lowercase().as_str() {
        "fedora" => "quay.io/containerdisks/fedora:latest",
        "ubuntu" => "quay.io/containerdisks/ubuntu:24.04",
        "centos" | "centos-stream" => "quay.io/containerdisks/centos-stream:9-latest",
        "debian" => "quay.io/containerdisks/debian:latest",
        "opensuse" | "opensuse-tumbleweed" => "quay.io/containerdisks/opensuse-tumbleweed:1.0.0",
        "opensuse-leap" => "quay.io/containerdisks/opensuse-leap:15.6",
        "rhel8" => "registry.redhat.io/rhel8/rhel-guest-image:latest",
        "rhel9" => "registry.redhat.io/rhel9/rhel-guest-image:latest",
        "rhel10" => "registry.redhat.io/rhel10/rhel-guest-image:latest",
        _ => workload,
    }
    .to_owned()
}

/// `general-purpose` → `u1` and the like; unknown hints give `u1`.
fn performance_family(hint: &str) -> &'static str {
    match hint.trim().to_lowercase().as_str() {
        "overcommitted" | "o1" => "o1",
        "compute" | "compute-optimized" | "computeoptimized" | "c1" => "c1",
        "memory" | "memory-optimized" | "memoryoptimized" | "m1" => "m1",
        _ => "u1",
    }
}

/// An instancetype of `size` (its name contains it), preferring the performance family by
/// name prefix, then by its `instancetype.kubevirt.io/class` label, then the first.
fn by_size<'a>(types: &'a [Found], size: &str, family: &str) -> Option<&'a Found> {
    let size = size.trim().to_lowercase();
    let sized: Vec<&Found> = types
        .iter()
        .filter(|t| t.name.to_lowercase().contains(&size))
        .collect();
    sized
        .iter()
        .find(|t| t.name.to_lowercase().starts_with(&format!("{family}.")))
        .or_else(|| {
            sized.iter().find(|t| {
                t.labels
                    .get("instancetype.kubevirt.io/class")
                    .is_some_and(|c| c.eq_ignore_ascii_case(family))
            })
        })
        .or(sized.first())
        .copied()
}

/// `(name, kind)` of a named instancetype or preference: the namespaced kind when one of that
/// name is in the namespace, else the cluster kind.
fn reference(found: &[Found], name: &str, kinds: (&str, &str)) -> Value {
    let namespaced = found
        .iter()
        .any(|f| f.name == name && f.namespace.is_some());
    json!({"name": name, "kind": if namespaced { kinds.1 } else { kinds.0 }})
}

/// What the cluster gave: the DataSource to boot from (name, namespace) and the instancetype
/// and preference references.
struct Resolved {
    source: Option<(String, String)>,
    instancetype: Option<Value>,
    preference: Option<Value>,
}

async fn resolve(ctx: &ToolContext, a: &CreateArgs, wanted: &str) -> Resolved {
    let cdi = GroupVersionKind::gvk("cdi.kubevirt.io", "v1beta1", "DataSource");
    let sources = list(ctx, cdi, "datasources", None).await;
    // An exact name, else a real DataSource whose name contains the workload ("rhel" → rhel9).
    let source = sources
        .iter()
        .find(|s| s.name.eq_ignore_ascii_case(wanted))
        .or_else(|| {
            sources
                .iter()
                .find(|s| s.namespace.is_some() && s.name.to_lowercase().contains(wanted))
        });
    let label = |key: &str| {
        source
            .and_then(|s| s.labels.get(key))
            .cloned()
            .filter(|v| !v.is_empty())
    };
    let preference_kinds = (
        "VirtualMachineClusterPreference",
        "VirtualMachinePreference",
    );
    let preferences = both(
        ctx,
        (preference_kinds.0, "virtualmachineclusterpreferences"),
        (preference_kinds.1, "virtualmachinepreferences"),
        &a.namespace,
    )
    .await;
    let type_kinds = (
        "VirtualMachineClusterInstancetype",
        "VirtualMachineInstancetype",
    );
    let types = both(
        ctx,
        (type_kinds.0, "virtualmachineclusterinstancetypes"),
        (type_kinds.1, "virtualmachineinstancetypes"),
        &a.namespace,
    )
    .await;
    let preference = Some(a.preference.clone())
        .filter(|p| !p.is_empty())
        .or_else(|| label("instancetype.kubevirt.io/default-preference"))
        .or_else(|| {
            preferences
                .iter()
                .find(|p| p.name.to_lowercase().contains(wanted))
                .map(|p| p.name.clone())
        });
    let instancetype = Some(a.instancetype.clone())
        .filter(|t| !t.is_empty())
        .or_else(|| {
            label("instancetype.kubevirt.io/default-instancetype").filter(|_| a.size.is_empty())
        })
        .or_else(|| {
            by_size(&types, &a.size, performance_family(&a.performance))
                .filter(|_| !a.size.is_empty())
                .map(|t| t.name.clone())
        });
    Resolved {
        source: source.and_then(|s| Some((s.name.clone(), s.namespace.clone()?))),
        instancetype: instancetype.map(|name| reference(&types, &name, type_kinds)),
        preference: preference.map(|name| reference(&preferences, &name, preference_kinds)),
    }
}

/// The VM's spec, as the Go server's template writes it.
fn spec(a: &CreateArgs, workload: &str, resolved: Resolved) -> Value {
    let disk = format!("{}-rootdisk", a.name);
    let mut spec = json!({
        "runStrategy": if a.autostart { "Always" } else { "Halted" },
        "template": {"spec": {"domain": {"devices": {"disks": [{"name": disk}]}}, "volumes": [{"name": disk}]}},
    });
    match resolved.instancetype {
        Some(reference) => spec["instancetype"] = reference,
        None => spec["template"]["spec"]["domain"]["memory"] = json!({"guest": "2Gi"}),
    }
    if let Some(reference) = resolved.preference {
        spec["preference"] = reference;
    }
    if let Some((name, ns)) = resolved.source {
        spec["dataVolumeTemplates"] = json!([{"metadata": {"name": disk}, "spec": {
            "sourceRef": {"kind": "DataSource", "name": name, "namespace": ns},
            "storage": {"resources": {"requests": {"storage": a.storage.as_deref().unwrap_or("30Gi")}}},
        }}]);
        spec["template"]["spec"]["volumes"][0]["dataVolume"] = json!({ "name": disk });
    } else {
        spec["template"]["spec"]["volumes"][0]["containerDisk"] =
            json!({ "image": container_disk(workload) });
    }
    if !a.networks.is_empty() {
        let networks: Vec<(&str, &str)> = a
            .networks
            .iter()
            .map(|n| match n {
                Network::Name(n) => (n.as_str(), n.as_str()),
                Network::Named { name, network_name } if name.is_empty() => {
                    (network_name.as_str(), network_name.as_str())
                }
                Network::Named { name, network_name } => (name.as_str(), network_name.as_str()),
            })
            .collect();
        spec["template"]["spec"]["domain"]["devices"]["interfaces"] = networks
            .iter()
            .map(|(n, _)| json!({"name": n, "bridge": {}}))
            .collect();
        spec["template"]["spec"]["networks"] = networks
            .iter()
            .map(|(n, net)| json!({"name": n, "multus": {"networkName": net}}))
            .collect();
    }
    spec
}

async fn vm_create(ctx: &ToolContext, args: Arguments) -> Result<String, ToolError> {
    let a: CreateArgs = args.parse()?;
    let workload = a
        .workload
        .clone()
        .filter(|w| !w.is_empty())
        .unwrap_or_else(|| "fedora".into());
    let resolved = resolve(ctx, &a, &workload.trim().to_lowercase()).await;
    let spec = spec(&a, &workload, resolved);
    let object: DynamicObject = serde_json::from_value(json!({
        "apiVersion": "kubevirt.io/v1",
        "kind": "VirtualMachine",
        "metadata": {"name": a.name, "namespace": a.namespace},
        "spec": spec,
    }))
    .map_err(|e| ToolError::InvalidArguments(e.to_string()))?;
    // Applied, as Go's resources_create_or_update does: a second call updates the VM.
    let created = VM
        .api(ctx, &a.namespace)
        .await?
        .patch(
            &a.name,
            &PatchParams::apply(FIELD_MANAGER).force(),
            &Patch::Apply(&object),
        )
        .await
        .map_err(ToolError::api("create VirtualMachine"))?;
    Ok(answer(
        "# VirtualMachine created successfully",
        &created,
        ctx,
    ))
}
