//! `[toolset_configs]`: the Go server's per-toolset settings. `helm` is read: the Go server's
//! `allowed_registries` and `storage_driver` with its checks and normalisation, and this
//! server's `binary` (which `helm` runs `helm_install`) and `local_chart_dirs` (where local
//! charts may be installed from). The tables of toolsets this server does not serve are accepted
//! with one warning each. Pure.

use std::collections::BTreeMap;
use std::path::PathBuf;

use serde::Deserialize;

use super::ConfigError;

/// `[toolset_configs.helm]` as written.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct HelmFile {
    allowed_registries: Option<Vec<String>>,
    storage_driver: Option<String>,
    binary: Option<PathBuf>,
    local_chart_dirs: Option<Vec<PathBuf>>,
}

/// The helm toolset's settings as the server runs with them.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct HelmSettings {
    /// `oci://` and `https://` prefixes (lower-case scheme and host, no trailing `/`) that chart
    /// references must start with; empty: any `oci://` or `https://` reference.
    pub allowed_registries: Vec<String>,
    /// Helm's release storage, `secret` or `configmap` (Helm's own default when unset).
    pub storage_driver: Option<String>,
    /// The `helm` executable; unset: `helm` on `PATH`.
    pub binary: Option<PathBuf>,
    /// Absolute directories whose charts `helm_install` may install by path; empty: none.
    pub local_chart_dirs: Vec<PathBuf>,
}

/// Reads `[toolset_configs]`: the helm settings, and one warning per table of a toolset this
/// server does not serve.
pub fn resolve(
    tables: BTreeMap<String, toml::Value>,
) -> Result<(HelmSettings, Vec<String>), ConfigError> {
    let mut helm = HelmSettings::default();
    let mut warnings = Vec::new();
    for (name, table) in tables {
        if name == "helm" {
            let file: HelmFile = table.try_into().map_err(|e| invalid(&e.to_string()))?;
            helm = check(file)?;
            if helm.storage_driver.as_deref() == Some("configmap") {
                warnings.push("config key toolset_configs.helm.storage_driver = \"configmap\" is passed to helm (helm_install, helm_uninstall), but helm_list and the uninstall without helm read only Secrets".into());
            }
        } else {
            warnings.push(format!(
                "config key toolset_configs.{name} is accepted for compatibility with the Go server but has no effect here: this server does not serve the {name} toolset"
            ));
        }
    }
    Ok((helm, warnings))
}

fn invalid(message: &str) -> ConfigError {
    ConfigError::Invalid {
        key: "toolset_configs.helm",
        message: message.to_owned(),
    }
}

/// The Go server's `Validate()`: registries are `oci://` or `https://` URLs with a host,
/// normalised; the driver is `secret` or `configmap`. And this server's keys: absolute paths.
fn check(file: HelmFile) -> Result<HelmSettings, ConfigError> {
    let allowed_registries = file
        .allowed_registries
        .unwrap_or_default()
        .iter()
        .map(|entry| {
            let (scheme, host, path) = split_url(entry).ok_or_else(|| {
                invalid(&format!(
                    "allowed_registries entry {entry:?} must be a valid URL with scheme and host"
                ))
            })?;
            if scheme != "oci" && scheme != "https" {
                return Err(invalid(&format!(
                    "allowed_registries entry {entry:?} must use oci:// or https:// scheme"
                )));
            }
            Ok(format!("{scheme}://{host}{}", path.trim_end_matches('/')))
        })
        .collect::<Result<Vec<_>, _>>()?;
    let storage_driver = match file.storage_driver.map(|d| d.to_lowercase()) {
        Some(d) if d.is_empty() => None,
        Some(d) if d == "secret" || d == "configmap" => Some(d),
        Some(d) => {
            return Err(invalid(&format!(
                "unsupported Helm storage driver {d:?}: must be \"secret\" or \"configmap\""
            )));
        }
        None => None,
    };
    let local_chart_dirs = file.local_chart_dirs.unwrap_or_default();
    if let Some(relative) = local_chart_dirs.iter().find(|d| !d.is_absolute()) {
        return Err(invalid(&format!(
            "local_chart_dirs entry {} must be an absolute path",
            relative.display()
        )));
    }
    Ok(HelmSettings {
        allowed_registries,
        storage_driver,
        binary: file.binary,
        local_chart_dirs,
    })
}

/// `scheme://host/path` split into the lower-case scheme, the lower-case host (with its port)
/// and the path (no query or fragment); None when it is not such a URL.
pub fn split_url(text: &str) -> Option<(String, String, String)> {
    let (scheme, rest) = text.split_once("://")?;
    let valid_scheme = scheme.len() > 1
        && scheme.starts_with(|c: char| c.is_ascii_alphabetic())
        && scheme
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "+-.".contains(c));
    if !valid_scheme {
        return None;
    }
    let rest = rest.split(['?', '#']).next().unwrap_or_default();
    let (host, path) = rest.find('/').map_or((rest, ""), |i| rest.split_at(i));
    // Userinfo (`user@host`) would make the host part of a prefix match lie.
    if host.is_empty() || host.contains('@') {
        return None;
    }
    Some((scheme.to_lowercase(), host.to_lowercase(), path.to_owned()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn helm(toml: &str) -> Result<HelmSettings, ConfigError> {
        let tables: BTreeMap<String, toml::Value> = toml::from_str(toml).unwrap();
        resolve(tables).map(|(h, _)| h)
    }

    #[test]
    fn registries_are_checked_and_normalised_as_go_does() {
        let h = helm(
            "[helm]\nallowed_registries = [\"OCI://GHCR.io/Org/\", \"https://charts.example.com\"]\nstorage_driver = \"ConfigMap\"",
        )
        .unwrap();
        assert_eq!(
            h.allowed_registries,
            ["oci://ghcr.io/Org", "https://charts.example.com"]
        );
        assert_eq!(h.storage_driver.as_deref(), Some("configmap"));
        let tables = toml::from_str("[helm]\nstorage_driver = \"configmap\"").unwrap();
        assert!(resolve(tables).unwrap().1[0].contains("read only Secrets"));
        for (bad, says) in [
            (
                "allowed_registries = [\"http://x.io\"]",
                "must use oci:// or https://",
            ),
            (
                "allowed_registries = [\"ghcr.io\"]",
                "valid URL with scheme and host",
            ),
            (
                "allowed_registries = [\"oci://\"]",
                "valid URL with scheme and host",
            ),
            (
                "storage_driver = \"sql\"",
                "unsupported Helm storage driver",
            ),
            (
                "local_chart_dirs = [\"charts\"]",
                "must be an absolute path",
            ),
            ("allowed_registry = []", "unknown field"),
        ] {
            let err = helm(&format!("[helm]\n{bad}")).unwrap_err().to_string();
            assert!(err.contains(says), "{bad}: {err}");
        }
    }

    #[test]
    fn other_toolsets_warn_once_each() {
        let tables: BTreeMap<String, toml::Value> =
            toml::from_str("[kiali]\nurl = \"https://kiali\"\n[helm]\nbinary = \"/opt/helm\"")
                .unwrap();
        let (h, warnings) = resolve(tables).unwrap();
        assert_eq!(h.binary, Some(PathBuf::from("/opt/helm")));
        assert_eq!(warnings.len(), 1);
        assert!(
            warnings[0].contains("toolset_configs.kiali"),
            "{warnings:?}"
        );
    }

    #[test]
    fn urls_split_without_userinfo_tricks() {
        assert_eq!(
            split_url("oci://Reg.io:5000/a/b?x#y"),
            Some(("oci".into(), "reg.io:5000".into(), "/a/b".into()))
        );
        assert_eq!(split_url("https://evil@allowed.io/x"), None);
        assert_eq!(split_url("c://x"), None);
        assert_eq!(split_url("/etc/x"), None);
    }
}
