//! The `helm` toolset, from Helm 3's own storage: each release revision is a Secret labelled
//! `owner=helm` holding base64(gzip(JSON release)). Listing and uninstalling need only
//! Kubernetes; installing needs Helm's chart engine and repositories, which this server does not
//! embed, so `helm_install` says so. Does I/O against the apiserver.

use std::collections::BTreeMap;
use std::io::Read as _;

use base64::Engine as _;
use k8s_openapi::ByteString;
use k8s_openapi::api::core::v1::Secret;
use kube::api::{Api, DeleteParams, ListParams};
use serde::Deserialize;
use serde_json::{Value, json};

use super::kube::{delete, everywhere, gvk, namespaced};
use super::output::yaml;
use super::{Arguments, Hints, ToolContext, ToolError, ToolSpec, object_schema};

use crate::config::Toolset;

#[allow(clippy::too_many_lines, reason = "a table of tool definitions")]
pub fn tools() -> Vec<ToolSpec> {
    vec![
        ToolSpec {
            name: "helm_list",
            toolset: Toolset::Helm,
            title: "Helm: List",
            description: "List the Helm releases of a namespace, or of every namespace, with their revision, status and chart.",
            input_schema: object_schema(
                &json!({
                    "namespace": {"type": "string", "description": "Namespace of the releases (default: the configured namespace)"},
                    "all_namespaces": {"type": "boolean", "description": "Releases of every namespace"},
                }),
                &[],
            ),
            hints: Hints::READ,
            cluster_aware: true,
            handler: |ctx, args| Box::pin(helm_list(ctx, args)),
        },
        ToolSpec {
            name: "helm_install",
            toolset: Toolset::Helm,
            title: "Helm: Install",
            description: "Install a Helm chart as a new release.",
            input_schema: object_schema(
                &json!({
                    "chart": {"type": "string", "description": "Chart reference (repo/name, OCI URL or path)"},
                    "name": {"type": "string", "description": "Release name (default: generated)"},
                    "namespace": {"type": "string", "description": "Namespace to install into"},
                    "values": {"type": "object", "description": "Values for the chart", "properties": {}},
                }),
                &["chart"],
            ),
            hints: Hints::WRITE,
            cluster_aware: true,
            handler: |_, _| {
                Box::pin(async {
                    Err(ToolError::Unsupported(
                        "helm_install is not available: rendering charts needs Helm's Go template engine and chart repositories, which this server does not embed. Install with the helm CLI; helm_list and helm_uninstall work on the result.".into(),
                    ))
                })
            },
        },
        ToolSpec {
            name: "helm_uninstall",
            toolset: Toolset::Helm,
            title: "Helm: Uninstall",
            description: "Uninstall a Helm release: delete the objects of its manifest and its release history. Hooks are not run.",
            input_schema: object_schema(
                &json!({
                    "name": {"type": "string", "description": "Release name"},
                    "namespace": {"type": "string", "description": "Namespace of the release (default: the configured namespace)"},
                }),
                &["name"],
            ),
            hints: Hints::DESTRUCTIVE_IDEMPOTENT,
            cluster_aware: true,
            handler: |ctx, args| Box::pin(helm_uninstall(ctx, args)),
        },
    ]
}

/// The parts of a stored Helm release this server reads.
#[derive(Debug, Deserialize)]
struct Release {
    name: String,
    namespace: String,
    version: i64,
    #[serde(default)]
    info: Value,
    #[serde(default)]
    chart: Value,
    #[serde(default)]
    manifest: String,
}

/// Largest decompressed release this server reads. Helm stores a release in one Secret (at most
/// 1 MiB of base64); real releases with large charts decompress to a few MiB. The bound keeps a
/// gzip bomb, which any tenant may label `owner=helm`, from exhausting memory.
const MAX_RELEASE_BYTES: u64 = 32 * 1024 * 1024;

/// Why a Secret labelled as a Helm release could not be read.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
enum DecodeError {
    #[error("it has no `release` key")]
    Missing,
    #[error("its release is not base64")]
    Base64,
    #[error("its release is not gzip: {0}")]
    Gzip(String),
    #[error("its release decompresses to more than {} MiB", MAX_RELEASE_BYTES / 1024 / 1024)]
    TooLarge,
    #[error("its release is not a Helm release: {0}")]
    Json(String),
}

/// Decodes a release Secret's `release` key: base64 text of (usually) gzipped JSON, never
/// inflating more than `limit` bytes.
fn decode_release(secret: &Secret, limit: u64) -> Result<Release, DecodeError> {
    let stored = secret
        .data
        .as_ref()
        .and_then(|d| d.get("release"))
        .ok_or(DecodeError::Missing)?;
    let raw = base64::engine::general_purpose::STANDARD
        .decode(&stored.0)
        .map_err(|_| DecodeError::Base64)?;
    let json = if raw.starts_with(&[0x1f, 0x8b]) {
        let mut out = Vec::new();
        // One byte past the limit tells "exactly the limit" from "more".
        flate2::read::GzDecoder::new(raw.as_slice())
            .take(limit + 1)
            .read_to_end(&mut out)
            .map_err(|e| DecodeError::Gzip(e.to_string()))?;
        if out.len() as u64 > limit {
            return Err(DecodeError::TooLarge);
        }
        out
    } else {
        raw
    };
    serde_json::from_slice(&json).map_err(|e| DecodeError::Json(e.to_string()))
}

/// Decodes the `release` value of a Helm release Secret (its base64 text) as `helm_list` does,
/// under the same inflation bound: true if it is a release. The fuzz target `helm_release`
/// drives this.
pub fn check_release(stored: &[u8]) -> bool {
    let secret = Secret {
        data: Some(BTreeMap::from([(
            "release".to_owned(),
            ByteString(stored.to_vec()),
        )])),
        ..Secret::default()
    };
    decode_release(&secret, MAX_RELEASE_BYTES).is_ok()
}

/// The releases that decoded, and one line for each Secret that did not.
struct Releases {
    found: Vec<Release>,
    unreadable: Vec<String>,
}

async fn releases(
    ctx: &ToolContext,
    namespace: Option<&str>,
    name: Option<&str>,
) -> Result<Releases, ToolError> {
    let api: Api<Secret> = match namespace {
        Some(ns) => namespaced(ctx, Some(ns)).await?.0,
        None => everywhere(ctx).await?,
    };
    let mut selector = "owner=helm".to_owned();
    if let Some(name) = name {
        selector = format!("{selector},name={name}");
    }
    let secrets = api
        .list(&ListParams::default().labels(&selector))
        .await
        .map_err(ToolError::api("list Helm releases"))?;
    let mut out = Releases {
        found: Vec::new(),
        unreadable: Vec::new(),
    };
    for secret in &secrets {
        match decode_release(secret, MAX_RELEASE_BYTES) {
            Ok(release) => out.found.push(release),
            Err(e) => out.unreadable.push(format!(
                "Secret {}/{} was skipped: {e}",
                secret.metadata.namespace.as_deref().unwrap_or_default(),
                secret.metadata.name.as_deref().unwrap_or_default()
            )),
        }
    }
    Ok(out)
}

/// The newest revision of each release.
fn latest(releases: Vec<Release>) -> Vec<Release> {
    let mut by_name: BTreeMap<(String, String), Release> = BTreeMap::new();
    for r in releases {
        let key = (r.namespace.clone(), r.name.clone());
        if by_name
            .get(&key)
            .is_none_or(|seen| seen.version < r.version)
        {
            by_name.insert(key, r);
        }
    }
    by_name.into_values().collect()
}

async fn helm_list(ctx: &ToolContext, args: Arguments) -> Result<String, ToolError> {
    #[derive(Deserialize)]
    struct Args {
        namespace: Option<String>,
        all_namespaces: Option<bool>,
    }
    let a: Args = args.parse()?;
    let namespace = if a.all_namespaces.unwrap_or(false) {
        None
    } else {
        let target = ctx.target().await?;
        Some(
            target
                .namespace_or_default(a.namespace.as_deref())
                .to_owned(),
        )
    };
    let Releases { found, unreadable } = releases(ctx, namespace.as_deref(), None).await?;
    let list = latest(found);
    // As YAML comments first, so the answer still parses and the cut cannot drop them.
    let skipped: String = unreadable
        .iter()
        .map(|u| ["# ", u, "\n"].concat())
        .collect();
    if list.is_empty() {
        return Ok(format!("{skipped}No Helm releases found"));
    }
    let rows: Vec<Value> = list
        .iter()
        .map(|r| {
            json!({
                "name": r.name,
                "namespace": r.namespace,
                "revision": r.version,
                "status": r.info.get("status"),
                "updated": r.info.get("last_deployed"),
                "chart": format!(
                    "{}-{}",
                    r.chart.pointer("/metadata/name").and_then(Value::as_str).unwrap_or(""),
                    r.chart.pointer("/metadata/version").and_then(Value::as_str).unwrap_or("")
                ),
                "app_version": r.chart.pointer("/metadata/appVersion"),
            })
        })
        .collect();
    Ok(format!("{skipped}{}", yaml(&Value::Array(rows))))
}

async fn helm_uninstall(ctx: &ToolContext, args: Arguments) -> Result<String, ToolError> {
    #[derive(Deserialize)]
    struct Args {
        name: String,
        namespace: Option<String>,
    }
    let a: Args = args.parse()?;
    let target = ctx.target().await?;
    let ns = target
        .namespace_or_default(a.namespace.as_deref())
        .to_owned();
    let Releases { found, unreadable } = releases(ctx, Some(&ns), Some(&a.name)).await?;
    let Some(release) = latest(found).pop() else {
        let mut message = format!("release {} not found in namespace {ns}", a.name);
        for u in unreadable {
            message = format!("{message}; {u}");
        }
        return Err(ToolError::Failed {
            action: format!("uninstall release {}", a.name),
            message,
        });
    };
    let documents: Vec<Value> =
        serde_saphyr::from_str_multiple(&release.manifest).unwrap_or_default();
    let mut deleted = Vec::new();
    for object in documents.iter().filter(|d| d.is_object()) {
        let field = |p: &str| object.pointer(p).and_then(Value::as_str).unwrap_or("");
        let (api_version, kind, name) = (
            field("/apiVersion"),
            field("/kind"),
            field("/metadata/name"),
        );
        let object_ns = object
            .pointer("/metadata/namespace")
            .and_then(Value::as_str)
            .unwrap_or(&ns);
        match delete(ctx, &gvk(api_version, kind)?, Some(object_ns), name, None).await {
            Ok(msg) => deleted.push(msg),
            // Already gone is what uninstall wants.
            Err(ToolError::Api {
                source: kube::Error::Api(s),
                ..
            }) if s.code == 404 => {}
            Err(e) => return Err(e),
        }
    }
    let (secrets, _) = namespaced::<Secret>(ctx, Some(&ns)).await?;
    secrets
        .delete_collection(
            &DeleteParams::default(),
            &ListParams::default().labels(&format!("owner=helm,name={}", a.name)),
        )
        .await
        .map_err(ToolError::api(format!(
            "delete history of release {}",
            a.name
        )))?;
    Ok(format!(
        "Uninstalled release {} from namespace {ns}\n{}",
        a.name,
        deleted.join("\n")
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write as _;

    fn stored(release: &Value) -> Secret {
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        gz.write_all(release.to_string().as_bytes()).unwrap();
        let text = base64::engine::general_purpose::STANDARD.encode(gz.finish().unwrap());
        serde_json::from_value(json!({
            "metadata": {"name": "sh.helm.release.v1.web.v1"},
            "data": {"release": base64::engine::general_purpose::STANDARD.encode(text)}
        }))
        .unwrap()
    }

    #[test]
    fn decodes_helm_storage_and_keeps_the_newest_revision() {
        let r = |v: i64| {
            stored(
                &json!({"name": "web", "namespace": "apps", "version": v, "info": {"status": "deployed"}, "chart": {"metadata": {"name": "nginx", "version": "1.2.3"}}, "manifest": ""}),
            )
        };
        let decoded: Vec<Release> = [r(1), r(3), r(2)]
            .iter()
            .filter_map(|s| decode_release(s, MAX_RELEASE_BYTES).ok())
            .collect();
        assert_eq!(decoded.len(), 3);
        let newest = latest(decoded);
        assert_eq!(newest.len(), 1);
        assert_eq!(newest[0].version, 3);
    }

    #[test]
    fn a_secret_that_is_not_a_release_is_skipped() {
        let s: Secret =
            serde_json::from_value(json!({"data": {"release": "bm90IGd6aXA="}})).unwrap();
        assert_eq!(
            decode_release(&s, MAX_RELEASE_BYTES).unwrap_err(),
            DecodeError::Base64
        );
    }

    /// A valid gzip of `{"name": "` and `mib` MiB of zeros, about 1/1000 of that size: what a
    /// tenant could store. Built from one deflated MiB repeated (each repeat refers only to the
    /// zeros before it), so the test does not spend its time compressing.
    fn gzip_bomb(mib: usize) -> Vec<u8> {
        use flate2::{Compress, Compression, Crc, FlushCompress};
        let opening = b"{\"name\": \"";
        let zeros = vec![b'0'; 1 << 20];
        let mut deflate = Compress::new(Compression::best(), false);
        let mut piece = |input: &[u8], flush| {
            let mut out = Vec::with_capacity(input.len() + 1024);
            deflate.compress_vec(input, &mut out, flush).unwrap();
            out
        };
        let first = piece(&[&opening[..], &zeros].concat(), FlushCompress::Sync);
        let repeat = piece(&zeros, FlushCompress::Sync);
        let end = piece(b"", FlushCompress::Finish);
        let (mut crc, mut zeros_crc) = (Crc::new(), Crc::new());
        crc.update(opening);
        zeros_crc.update(&zeros);
        let mut gz = vec![0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 0xff];
        gz.extend_from_slice(&first);
        crc.combine(&zeros_crc);
        for _ in 1..mib {
            gz.extend_from_slice(&repeat);
            crc.combine(&zeros_crc);
        }
        gz.extend_from_slice(&end);
        gz.extend_from_slice(&crc.sum().to_le_bytes());
        gz.extend_from_slice(&crc.amount().to_le_bytes());
        gz
    }

    fn secret_holding(gz: &[u8]) -> Secret {
        let text = base64::engine::general_purpose::STANDARD.encode(gz);
        serde_json::from_value(json!({
            "data": {"release": base64::engine::general_purpose::STANDARD.encode(text)}
        }))
        .unwrap()
    }

    #[test]
    fn the_fuzz_entry_decodes_what_helm_list_decodes() {
        let release = json!({"name": "web", "namespace": "apps", "version": 1});
        let secret = stored(&release);
        assert!(check_release(&secret.data.unwrap()["release"].0));
        assert!(!check_release(b"bm90IGd6aXA="));
        let bomb = base64::engine::general_purpose::STANDARD.encode(gzip_bomb(40));
        assert!(!check_release(bomb.as_bytes()));
    }

    #[test]
    fn the_bomb_is_a_real_gzip_stream() {
        let mut out = Vec::new();
        flate2::read::GzDecoder::new(gzip_bomb(3).as_slice())
            .read_to_end(&mut out)
            .unwrap();
        assert_eq!(out.len(), 10 + 3 * (1 << 20));
    }

    #[test]
    fn a_gzip_bomb_is_refused_after_the_limit_not_inflated() {
        // 512 MiB in about half a MiB: it fits in a Secret.
        let gz = gzip_bomb(512);
        assert!(gz.len() < 700 * 1024, "{} bytes", gz.len());
        assert_eq!(
            decode_release(&secret_holding(&gz), MAX_RELEASE_BYTES).unwrap_err(),
            DecodeError::TooLarge
        );
        assert_eq!(
            DecodeError::TooLarge.to_string(),
            "its release decompresses to more than 32 MiB"
        );
    }
}
