//! Where `helm_install` may take a chart from, decided before `helm` runs: an `oci://` reference,
//! an `https://` chart URL, a chart name in an `https://` repository (`repo`), or a local path
//! inside one of `local_chart_dirs`. `toolset_configs.helm.allowed_registries` is the Go
//! server's allow-list with its meaning. Reads the file system only to resolve local paths.

use std::path::{Path, PathBuf};

use crate::config::toolsets::{HelmSettings, split_url};

/// A chart reference that passed every check, as `helm` is given it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Chart {
    /// `oci://…` or `https://…`, passed as written.
    Remote(String),
    /// A chart name in the repository at `repo` (`helm install --repo`).
    InRepository { repo: String, name: String },
    /// A chart directory or archive, canonical (no symlink or `..` left in it).
    Local(PathBuf),
}

/// Checks `chart` (and `repo`, when given) against the settings.
pub fn locate(chart: &str, repo: Option<&str>, settings: &HelmSettings) -> Result<Chart, String> {
    if let Some(repo) = repo.filter(|r| !r.is_empty()) {
        remote(repo, "repository", settings)?;
        if repo.starts_with("oci:") || repo.starts_with("OCI:") {
            return Err(format!(
                "repo {repo:?} is an OCI registry: give the whole reference in chart (oci://…) and no repo"
            ));
        }
        let plain = !chart.is_empty()
            && !chart.starts_with(['-', '.'])
            && chart
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c));
        if !plain {
            return Err(format!(
                "with repo, chart must be the chart's name in that repository (letters, digits, '-', '_', '.'), not {chart:?}"
            ));
        }
        return Ok(Chart::InRepository {
            repo: repo.to_owned(),
            name: chart.to_owned(),
        });
    }
    if chart.contains("://") {
        remote(chart, "chart reference", settings)?;
        return Ok(Chart::Remote(chart.to_owned()));
    }
    if !settings.allowed_registries.is_empty() {
        return Err(format!(
            "chart reference {chart:?} is not allowed: only registry URLs from the allowed list are permitted when allowed_registries is configured"
        ));
    }
    local(chart, &settings.local_chart_dirs).map(Chart::Local)
}

/// The Go server's scheme rules (`https` and `oci` only) and its allow-list prefix match on
/// the normalised URL (`path.Clean`ed, so `..` cannot climb out of an allowed prefix).
fn remote(url: &str, what: &str, settings: &HelmSettings) -> Result<(), String> {
    let scheme = url.split_once("://").map(|(s, _)| s.to_lowercase());
    match scheme.as_deref() {
        Some("oci" | "https") => {}
        Some("http") => {
            return Err(format!(
                "{what} {url:?} is not allowed: http:// scheme is blocked, use https:// or oci://"
            ));
        }
        Some("file") => {
            return Err(format!(
                "{what} {url:?} is not allowed: file:// scheme is blocked"
            ));
        }
        _ => {
            return Err(format!(
                "{what} {url:?} is not allowed: only oci:// and https:// schemes are permitted"
            ));
        }
    }
    let Some((scheme, host, path)) = split_url(url) else {
        return Err(format!("{what} {url:?} is not a valid URL with a host"));
    };
    if settings.allowed_registries.is_empty() {
        return Ok(());
    }
    let normalized = format!("{scheme}://{host}{}", clean(&path));
    if settings
        .allowed_registries
        .iter()
        .any(|allowed| normalized == *allowed || normalized.starts_with(&format!("{allowed}/")))
    {
        Ok(())
    } else {
        Err(format!(
            "{what} {url:?} is not allowed: does not match any entry in allowed_registries"
        ))
    }
}

/// Go's `path.Clean` of an absolute URL path, with `/` for the empty result dropped.
fn clean(path: &str) -> String {
    let mut parts: Vec<&str> = Vec::new();
    for part in path.split('/') {
        match part {
            "" | "." => {}
            ".." => {
                parts.pop();
            }
            p => parts.push(p),
        }
    }
    parts.iter().flat_map(|p| ["/", p]).collect()
}

/// A local chart: an absolute path that, with every symlink and `..` resolved, lies inside one
/// of `dirs`. Without `dirs` no local path is allowed: the server's own files (its kubeconfig,
/// its service account token) must not become chart files a model can render into objects.
fn local(chart: &str, dirs: &[PathBuf]) -> Result<PathBuf, String> {
    let path = Path::new(chart);
    if !path.is_absolute() {
        return Err(format!(
            "chart {chart:?} is neither a URL nor an absolute path: repository aliases (repo/name) are not configured on this server; give the repository's https:// URL in repo and the chart's name in chart, or an oci:// or https:// reference"
        ));
    }
    if dirs.is_empty() {
        return Err(format!(
            "local chart {chart:?} is not allowed: this server installs local charts only from the directories in toolset_configs.helm.local_chart_dirs, and none is configured"
        ));
    }
    let real = path
        .canonicalize()
        .map_err(|e| format!("local chart {chart:?}: {e}"))?;
    let inside = dirs.iter().any(|dir| {
        dir.canonicalize()
            .is_ok_and(|dir| real.starts_with(&dir) && real != dir)
    });
    if inside {
        Ok(real)
    } else {
        Err(format!(
            "local chart {chart:?} is not allowed: it is outside toolset_configs.helm.local_chart_dirs"
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings(registries: &[&str], dirs: &[&Path]) -> HelmSettings {
        HelmSettings {
            allowed_registries: registries.iter().map(|r| (*r).to_owned()).collect(),
            local_chart_dirs: dirs.iter().map(|d| d.to_path_buf()).collect(),
            ..HelmSettings::default()
        }
    }

    #[test]
    fn remote_references_follow_the_go_rules() {
        let open = settings(&[], &[]);
        let oci = "oci://ghcr.io/org/charts/web:1.0.0";
        assert_eq!(locate(oci, None, &open), Ok(Chart::Remote(oci.into())));
        for (chart, says) in [
            (
                "http://charts.io/web-1.0.0.tgz",
                "http:// scheme is blocked",
            ),
            ("file:///etc/web", "file:// scheme is blocked"),
            ("ftp://x/web", "only oci:// and https://"),
            ("bitnami/nginx", "repository aliases"),
            ("/srv/charts/web", "none is configured"),
        ] {
            let err = locate(chart, None, &open).unwrap_err();
            assert!(err.contains(says), "{chart}: {err}");
        }
    }

    #[test]
    fn the_allow_list_is_a_prefix_on_clean_paths() {
        let s = settings(&["oci://ghcr.io/org", "https://charts.example.com"], &[]);
        assert!(locate("oci://GHCR.io/org/web", None, &s).is_ok());
        assert!(locate("oci://ghcr.io/org", None, &s).is_ok());
        assert!(locate("oci://ghcr.io/organisation/web", None, &s).is_err());
        assert!(locate("oci://ghcr.io/org/../other/web", None, &s).is_err());
        assert!(locate("https://charts.example.com.evil.io/web.tgz", None, &s).is_err());
        let err = locate("/srv/charts/web", None, &s).unwrap_err();
        assert!(
            err.contains("only registry URLs from the allowed list"),
            "{err}"
        );
        assert_eq!(
            locate("web", Some("https://charts.example.com/stable"), &s),
            Ok(Chart::InRepository {
                repo: "https://charts.example.com/stable".into(),
                name: "web".into()
            })
        );
        let err = locate("web", Some("https://other.io"), &s).unwrap_err();
        assert!(
            err.contains("repository \"https://other.io\" is not allowed"),
            "{err}"
        );
    }

    #[test]
    fn a_repository_takes_a_plain_chart_name() {
        let open = settings(&[], &[]);
        for bad in ["--set=x", "../web", "a/b", ""] {
            assert!(
                locate(bad, Some("https://charts.io"), &open).is_err(),
                "{bad}"
            );
        }
        let err = locate("web", Some("http://127.0.0.1:8879"), &open).unwrap_err();
        assert!(err.contains("http:// scheme is blocked"), "{err}");
        assert!(locate("web", Some("oci://ghcr.io/org"), &open).is_err());
    }

    #[test]
    fn local_paths_stay_inside_the_configured_directories() {
        let root = std::env::temp_dir().join(format!("kmcp-chart-test-{}", std::process::id()));
        let allowed = root.join("charts");
        std::fs::create_dir_all(allowed.join("web")).unwrap();
        std::fs::create_dir_all(root.join("secret")).unwrap();
        std::os::unix::fs::symlink(root.join("secret"), allowed.join("link")).unwrap();
        let s = settings(&[], &[&allowed]);
        let web = allowed.join("web");
        assert_eq!(
            locate(web.to_str().unwrap(), None, &s),
            Ok(Chart::Local(web.canonicalize().unwrap()))
        );
        for escape in [
            allowed.join("link"),
            allowed.join("web/../../secret"),
            allowed.clone(),
            PathBuf::from("/etc"),
        ] {
            let err = locate(escape.to_str().unwrap(), None, &s).unwrap_err();
            assert!(err.contains("outside"), "{}: {err}", escape.display());
        }
        std::fs::remove_dir_all(root).unwrap();
    }
}
