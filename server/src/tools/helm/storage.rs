//! Helm 3's release storage: each release revision is a Secret labelled `owner=helm` holding
//! base64(gzip(JSON release)). Reads and decodes releases, bounded against gzip bombs. Does I/O
//! against the apiserver (`releases`); the decoding is pure.

use std::collections::BTreeMap;
use std::io::Read as _;

use base64::Engine as _;
use k8s_openapi::ByteString;
use k8s_openapi::api::core::v1::Secret;
use kube::api::{Api, ListParams};
use serde::Deserialize;
use serde_json::Value;

use super::super::kube::{everywhere, namespaced};
use super::super::{ToolContext, ToolError};

/// The parts of a stored Helm release this server reads.
#[derive(Debug, Deserialize)]
pub struct Release {
    pub name: String,
    pub namespace: String,
    pub version: i64,
    #[serde(default)]
    pub info: Value,
    #[serde(default)]
    pub chart: Value,
    #[serde(default)]
    pub manifest: String,
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
pub struct Releases {
    pub found: Vec<Release>,
    pub unreadable: Vec<String>,
}

pub async fn releases(
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
pub fn latest(releases: Vec<Release>) -> Vec<Release> {
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

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;
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
