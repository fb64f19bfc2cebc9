//! The Go server's `windows-golden-image` prompt (kubevirt toolset): a PipelineRun of KubeVirt's
//! `windows-efi-installer` Tekton pipeline (from the hub resolver) for a Windows ISO URL, and the
//! steps to run it. The Microsoft EULA is asked over MCP elicitation: accepted, the run says so
//! and is ready to apply; declined, nothing is produced; a client that cannot be asked gets the
//! run with `acceptEula: "false"` and the instruction to ask the user first. Reads nothing from
//! the cluster; the only I/O is the question to the client.

use rmcp::model::{GetPromptResult, Prompt, PromptArgument, PromptMessage, Role};
use serde_json::{Map, Value, json};

use super::{PromptError, argument, guide, rbac_meta, required};
use crate::confirm::Consent;
use crate::tools::ToolContext;
use crate::tools::output::yaml;

pub const NAME: &str = "windows-golden-image";

const EULA_QUESTION: &str = "Microsoft EULA Notice: By proceeding, you agree to the Microsoft Software License Terms for the Windows operating system. Do you accept the Microsoft End User License Agreement (EULA)?";

/// Per Windows version: preference, autounattend ConfigMap, base and ISO DataVolume names and
/// the PipelineRun's generateName, as in Go.
struct Windows {
    preference: &'static str,
    autounattend: &'static str,
    base_dv: &'static str,
    generate_name: &'static str,
}

fn windows(version: &str) -> Option<Windows> {
    let (preference, autounattend, base_dv, generate_name) = match version {
        "10" => (
            "windows.10.virtio",
            "windows10-efi-autounattend",
            "win10",
            "windows10-installer-run-",
        ),
        "11" => (
            "windows.11.virtio",
            "windows11-autounattend",
            "win11",
            "windows11-installer-run-",
        ),
        "2k22" => (
            "windows.2k22.virtio",
            "windows2k22-autounattend",
            "win2k22",
            "windows2k22-installer-run-",
        ),
        "2k25" => (
            "windows.2k25.virtio",
            "windows2k25-autounattend",
            "win2k25",
            "windows2k25-installer-run-",
        ),
        _ => return None,
    };
    Some(Windows {
        preference,
        autounattend,
        base_dv,
        generate_name,
    })
}

/// The prompt as `prompts/list` shows it (Go's text; its RBAC declaration says none: it reads
/// nothing).
pub fn prompt() -> Prompt {
    let mut prompt = Prompt::new(
        NAME,
        Some(
            "Guides creation of a Windows golden image via the KubeVirt windows-efi-installer Tekton pipeline",
        ),
        Some(vec![
            PromptArgument::new("winImageDownloadURL")
                .with_description("Microsoft Windows ISO download URL (must be https://)")
                .with_required(true),
            PromptArgument::new("namespace")
                .with_description("Target namespace for the PipelineRun"),
            PromptArgument::new("windowsVersion")
                .with_description("Windows version: 10, 11, 2k22 (default), or 2k25"),
            PromptArgument::new("pipelineVersion").with_description(
                "Pipeline version (default: latest). Use specific version like 0.25.0 if needed",
            ),
        ]),
    );
    prompt.meta = Some(rbac_meta(json!({"version": "v1alpha1", "none": {}})));
    prompt
}

/// An `https://` URL without user information, as Go's check reads it.
fn https_without_credentials(url: &str) -> bool {
    let Some((scheme, rest)) = url.split_once("://") else {
        return false;
    };
    let authority = rest.split(['/', '?', '#']).next().unwrap_or_default();
    scheme.eq_ignore_ascii_case("https") && !authority.contains('@')
}

/// `X.Y.Z`, digits only.
fn release_version(version: &str) -> bool {
    let parts: Vec<&str> = version.split('.').collect();
    parts.len() == 3
        && parts
            .iter()
            .all(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()))
}

fn param(name: &str, value: &str) -> Value {
    json!({"name": name, "value": value})
}

/// The PipelineRun, as Go marshals it (its empty `taskRunTemplate` and `status` included).
fn pipeline_run(
    url: &str,
    namespace: Option<&str>,
    pipeline_version: Option<&str>,
    windows: &Windows,
    accept_eula: bool,
) -> Value {
    let mut hub = vec![
        param("catalog", "kubevirt-tekton-pipelines"),
        param("type", "artifact"),
        param("kind", "pipeline"),
        param("name", "windows-efi-installer"),
    ];
    if let Some(version) = pipeline_version {
        hub.push(param("version", version));
    }
    let mut metadata = Map::from_iter([("generateName".into(), json!(windows.generate_name))]);
    if let Some(ns) = namespace {
        metadata.insert("namespace".into(), json!(ns));
    }
    json!({
        "apiVersion": "tekton.dev/v1",
        "kind": "PipelineRun",
        "metadata": metadata,
        "spec": {
            "params": [
                param("winImageDownloadURL", url),
                param("acceptEula", if accept_eula { "true" } else { "false" }),
                param("preferenceName", windows.preference),
                param("autounattendConfigMapName", windows.autounattend),
                param("baseDvName", windows.base_dv),
                param("isoDVName", windows.base_dv),
            ],
            "pipelineRef": {"params": hub, "resolver": "hub"},
            "taskRunSpecs": [{
                "pipelineTaskName": "modify-windows-iso-file",
                "podTemplate": {"securityContext": {"fsGroup": 107, "runAsUser": 107}},
            }],
            "taskRunTemplate": {},
            "timeouts": {"pipeline": "2h0m0s"},
        },
        "status": {},
    })
}

const WHAT_IT_DOES: &str = "The following PipelineRun will:\n\
1. Download the Windows ISO from the provided URL\n\
2. Modify it for EFI automated installation\n\
3. Create a VM and install Windows\n\
4. Produce a bootable DataSource/DataVolume as a golden image";

const MONITOR: &str = "After applying the PipelineRun:\n\n\
1. Use the Tekton tools to monitor the PipelineRun status\n\
2. The pipeline may take up to 2 hours to complete\n\
3. Report progress to the user as the pipeline runs\n";

fn accepted(run: &str) -> GetPromptResult {
    let text = format!(
        "# KubeVirt Windows Golden Image Creator\n\nThe user has accepted the Microsoft EULA.\n\n\
## PipelineRun YAML\n\n{WHAT_IT_DOES}\n\n```yaml\n{run}```\n\n---\n\n## Steps\n\n\
### Step 1: Apply the PipelineRun\n\n\
**You MUST now apply the PipelineRun above using the `resources_create_or_update` tool.**\n\n\
The EULA has been accepted, and the PipelineRun is ready to be created.\n\n\
### Step 2: Monitor Progress\n\n{MONITOR}"
    );
    GetPromptResult::new(vec![PromptMessage::new_text(Role::User, text)])
        .with_description("Windows golden image creation ready")
}

fn fallback(run: &str) -> GetPromptResult {
    let text = format!(
        "# KubeVirt Windows Golden Image Creator\n\n## EULA Notice\n\n\
**IMPORTANT:** By setting the `acceptEula` parameter to `\"true\"` in the PipelineRun below, you agree to the Microsoft Software License Terms for the Windows operating system.\n\n\
Before proceeding, you **MUST** ask the user whether they accept the Microsoft End User License Agreement (EULA).\n\n---\n\n\
## PipelineRun YAML\n\n{WHAT_IT_DOES}\n\n```yaml\n{run}```\n\n---\n\n## Steps\n\n\
### Step 1: Ask for EULA Acceptance\n\nAsk the user the following:\n\n\
> To create the Windows golden image, you must accept the Microsoft End User License Agreement (EULA).\n\
> By proceeding, you agree to the Microsoft Software License Terms for the Windows operating system.\n>\n\
> Do you accept the Microsoft EULA? (yes/no)\n\n\
**Do NOT proceed to Step 2 unless the user explicitly accepts.**\n\
**If the user does not accept, do NOT apply the YAML. Inform them that the operation has been cancelled.**\n\n\
### Step 2: Apply the PipelineRun\n\nOnly after the user has explicitly accepted the EULA:\n\n\
1. In the YAML above, change `acceptEula` to `\"true\"` (it is currently set to `\"false\"`)\n\
2. Apply the YAML using the `resources_create_or_update` tool\n\n\
### Step 3: Monitor Progress\n\n{MONITOR}\n---\n\n## Prerequisites\n\n\
- KubeVirt\n- Tekton Pipelines\n- Both `kubevirt` and `tekton` toolsets must be enabled\n"
    );
    guide(
        text,
        "I'll help you create a Windows golden image. Before proceeding, I need to ask about the Microsoft EULA acceptance. Let me start with Step 1.",
        "Windows golden image creation guide generated",
    )
}

pub async fn get(
    arguments: &Map<String, Value>,
    ctx: &ToolContext,
) -> Result<GetPromptResult, PromptError> {
    let url = required(arguments, "winImageDownloadURL")?;
    if !https_without_credentials(&url) {
        return Err(PromptError::Invalid(format!(
            "winImageDownloadURL must be an https:// URL without embedded credentials, got {url:?}"
        )));
    }
    let given = |key: &str| argument(arguments, key).filter(|v| !v.is_empty());
    let pipeline_version = given("pipelineVersion");
    if let Some(v) = pipeline_version.as_deref().filter(|v| !release_version(v)) {
        return Err(PromptError::Invalid(format!(
            "invalid pipelineVersion {v:?}: must be in format X.Y.Z (e.g. 0.25.0)"
        )));
    }
    let version = given("windowsVersion").unwrap_or("2k22".into());
    let Some(windows) = windows(&version) else {
        return Err(PromptError::Invalid(format!(
            "unsupported Windows version {version:?}: must be one of 10, 11, 2k22, 2k25"
        )));
    };
    let namespace = given("namespace");
    let run = |accept| {
        yaml(&pipeline_run(
            &url,
            namespace.as_deref(),
            pipeline_version.as_deref(),
            &windows,
            accept,
        ))
    };
    match ctx.confirm.elicit(EULA_QUESTION.to_owned()).await {
        Ok(Consent::Accepted) => Ok(accepted(&run(true))),
        Ok(Consent::Unsupported) => Ok(fallback(&run(false))),
        Ok(Consent::Declined) => Ok(GetPromptResult::new(vec![PromptMessage::new_text(
            Role::Assistant,
            "The Microsoft EULA was not accepted. The Windows golden image creation has been cancelled.",
        )])
        .with_description("Windows golden image creation cancelled")),
        Err(e) => Err(PromptError::Invalid(e)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_https_urls_without_credentials_are_taken() {
        assert!(https_without_credentials("https://example.com/win.iso"));
        assert!(https_without_credentials("HTTPS://example.com/a@b.iso"));
        for bad in [
            "http://example.com/win.iso",
            "https://user:pass@example.com/win.iso",
            "example.com/win.iso",
            "ftp://example.com/win.iso",
        ] {
            assert!(!https_without_credentials(bad), "{bad}");
        }
    }

    #[test]
    fn pipeline_versions_are_three_numbers() {
        assert!(release_version("0.25.0"));
        for bad in ["1.2", "v0.25.0", "0.25.x", "0..1", "1.2.3.4"] {
            assert!(!release_version(bad), "{bad}");
        }
    }

    #[test]
    fn the_run_carries_the_versions_names_and_the_eula_answer() {
        let Some(w) = windows("11") else {
            panic!("11 is a Windows version")
        };
        let run = pipeline_run("https://x/w.iso", None, None, &w, false);
        assert_eq!(
            run["metadata"],
            json!({"generateName": "windows11-installer-run-"})
        );
        assert_eq!(run["spec"]["params"][1], param("acceptEula", "false"));
        assert_eq!(run["spec"]["params"][5], param("isoDVName", "win11"));
        assert_eq!(
            run["spec"]["pipelineRef"]["params"]
                .as_array()
                .map(Vec::len),
            Some(4)
        );
        assert!(windows("7").is_none());
    }
}
