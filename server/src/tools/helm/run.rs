//! Runs the `helm` program. It is `toolset_configs.helm.binary` if set (a path, or a name looked
//! up on `PATH`), else `helm` on `PATH`. Each run gets: a private directory (mode 0700, removed
//! afterwards) as its working directory, `HOME`, `TMPDIR` and Helm's cache, config and data
//! homes, so no repository, registry login or kubeconfig of the host is used; the server's
//! identity as a kubeconfig file in that directory (`identity`); a cleared environment but for
//! `PATH`, proxies and CA bundles; arguments as a vector (no shell) after `--` for anything the
//! model wrote; a timeout below `tool_timeout_seconds`, and its output read up to a cap. Does
//! I/O: files and a child process.

use std::ffi::OsString;
use std::os::unix::fs::{DirBuilderExt as _, OpenOptionsExt as _, PermissionsExt as _};
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use super::super::bounded::capture;
use super::super::{ToolContext, ToolError};
use super::identity;
use crate::config::toolsets::HelmSettings;

/// What helm may write back before the run counts as failed (an install's JSON carries the
/// chart's templates).
const MAX_OUTPUT_BYTES: usize = 16 * 1024 * 1024;
/// Helm's own wait for an install or uninstall, as the Go server's (`Timeout: 5m`).
const HELM_TIMEOUT: Duration = Duration::from_secs(300);
/// How much of `tool_timeout_seconds` is kept for helm to report its own timeout.
const MARGIN: Duration = Duration::from_secs(5);

/// Environment variables a run keeps: where programs are (exec credential plugins), proxies,
/// CA bundles.
const KEPT_ENV: &[&str] = &[
    "PATH",
    "HTTPS_PROXY",
    "https_proxy",
    "HTTP_PROXY",
    "http_proxy",
    "NO_PROXY",
    "no_proxy",
    "SSL_CERT_FILE",
    "SSL_CERT_DIR",
];

/// The `helm` executable, or None.
pub fn find(settings: &HelmSettings) -> Option<PathBuf> {
    let wanted = settings
        .binary
        .clone()
        .unwrap_or_else(|| PathBuf::from("helm"));
    if wanted.components().count() > 1 {
        return executable(&wanted).then_some(wanted);
    }
    std::env::split_paths(&std::env::var_os("PATH")?)
        .map(|dir| dir.join(&wanted))
        .find(|candidate| executable(candidate))
}

fn executable(path: &Path) -> bool {
    path.metadata()
        .is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
}

/// Why helm could not be used, for the model.
pub fn missing(settings: &HelmSettings) -> ToolError {
    let looked = match &settings.binary {
        Some(b) => format!(
            "toolset_configs.helm.binary = {:?}",
            b.display().to_string()
        ),
        None => "helm on PATH".to_owned(),
    };
    ToolError::Unsupported(format!(
        "helm_install needs the helm program, and this server found none ({looked} is not an executable file). The default image does not ship helm: run an image with helm on PATH, or set toolset_configs.helm.binary."
    ))
}

/// A private directory for one run, removed when dropped.
pub struct Workdir(PathBuf);

impl Workdir {
    pub fn new() -> std::io::Result<Self> {
        static COUNT: AtomicU64 = AtomicU64::new(0);
        let base = std::env::temp_dir();
        for _ in 0..16 {
            let nanos = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.subsec_nanos());
            let n = COUNT.fetch_add(1, Ordering::Relaxed);
            let path = base.join(format!("kmcp-helm-{}-{n}-{nanos}", std::process::id()));
            // `create` fails on an existing name: nobody else's directory is ever reused.
            match std::fs::DirBuilder::new().mode(0o700).create(&path) {
                Ok(()) => return Ok(Self(path)),
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
                Err(e) => return Err(e),
            }
        }
        Err(std::io::Error::new(
            std::io::ErrorKind::AlreadyExists,
            "no free temporary directory name",
        ))
    }

    pub fn path(&self) -> &Path {
        &self.0
    }

    /// Writes a new file readable by the server's user only.
    pub fn write(&self, name: &str, contents: &[u8]) -> std::io::Result<PathBuf> {
        use std::io::Write as _;
        let path = self.0.join(name);
        std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&path)?
            .write_all(contents)?;
        Ok(path)
    }
}

impl Drop for Workdir {
    fn drop(&mut self) {
        // Best effort: a leftover temporary directory is not worth failing a call for.
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn io_error(action: &str) -> impl FnOnce(std::io::Error) -> ToolError + '_ {
    move |e| ToolError::Failed {
        action: action.to_owned(),
        message: e.to_string(),
    }
}

/// How long helm may wait (`--timeout`), and how long the run may take in all.
pub fn budget(tool_timeout: Option<Duration>) -> (Duration, Duration) {
    let whole = tool_timeout.map_or(HELM_TIMEOUT + 2 * MARGIN, |t| {
        t.min(HELM_TIMEOUT + 2 * MARGIN)
    });
    let helm = whole.saturating_sub(2 * MARGIN).max(Duration::from_secs(1));
    (helm, whole.saturating_sub(MARGIN / 5).max(helm))
}

/// One helm run for a tool call: its directory, and the flags every command takes.
pub struct Helm {
    binary: PathBuf,
    dir: Workdir,
    common: Vec<OsString>,
    total: Duration,
}

impl Helm {
    /// Prepares a run in `namespace` as the call's identity; None when there is no helm.
    pub fn prepare(ctx: &ToolContext, namespace: &str) -> Result<Option<Self>, ToolError> {
        let Some(binary) = find(&ctx.helm) else {
            return Ok(None);
        };
        let action = "prepare a directory for helm";
        let dir = Workdir::new().map_err(|e| ToolError::Failed {
            action: action.into(),
            message: format!(
                "{e} in {} (helm needs a writable temporary directory: mount one, e.g. an emptyDir at /tmp, or set TMPDIR)",
                std::env::temp_dir().display()
            ),
        })?;
        let kubeconfig =
            serde_json::to_vec(&identity::kubeconfig(ctx)?).map_err(|e| ToolError::Failed {
                action: action.into(),
                message: e.to_string(),
            })?;
        let kubeconfig = dir
            .write("kubeconfig", &kubeconfig)
            .map_err(io_error(action))?;
        let (wait, total) = budget(ctx.tool_timeout);
        let common = vec![
            flag("--namespace", namespace),
            flag("--kubeconfig", &kubeconfig),
            flag("--kube-context", identity::CONTEXT),
            flag("--timeout", format!("{}s", wait.as_secs())),
        ];
        Ok(Some(Self {
            binary,
            dir,
            common,
            total,
        }))
    }

    pub fn dir(&self) -> &Workdir {
        &self.dir
    }

    /// Runs `helm <command> <common flags> <flags> -- <positional>`: its stdout on success,
    /// else what it said on stderr.
    pub async fn run(
        &self,
        command: &str,
        flags: Vec<OsString>,
        positional: &[&str],
        settings: &HelmSettings,
        action: &str,
    ) -> Result<String, ToolError> {
        let home = self.dir.path();
        let mut cmd = tokio::process::Command::new(&self.binary);
        cmd.arg(command)
            .args(&self.common)
            .args(flags)
            .arg("--")
            .args(positional)
            .current_dir(home)
            .env_clear()
            .env("HOME", home)
            .env("TMPDIR", home)
            .env("HELM_CACHE_HOME", home.join("cache"))
            .env("HELM_CONFIG_HOME", home.join("config"))
            .env("HELM_DATA_HOME", home.join("data"))
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            // A call stopped by tool_timeout_seconds stops helm with it.
            .kill_on_drop(true);
        for key in KEPT_ENV {
            if let Some(value) = std::env::var_os(key) {
                cmd.env(key, value);
            }
        }
        if let Some(driver) = &settings.storage_driver {
            cmd.env("HELM_DRIVER", driver);
        }
        let failed = |message: String| ToolError::Failed {
            action: action.to_owned(),
            message,
        };
        let mut child = cmd
            .spawn()
            .map_err(|e| failed(format!("cannot run {}: {e}", self.binary.display())))?;
        let (Some(stdout), Some(stderr)) = (child.stdout.take(), child.stderr.take()) else {
            return Err(failed("helm's output could not be read".into()));
        };
        let finished = async {
            let got = capture(stdout, stderr, Some(MAX_OUTPUT_BYTES)).await?;
            let status = child.wait().await?;
            Ok::<_, std::io::Error>((got, status))
        };
        let (got, status) = tokio::time::timeout(self.total, finished)
            .await
            .map_err(|_| {
                failed(format!(
                    "helm did not finish within {} s and was stopped",
                    self.total.as_secs()
                ))
            })?
            .map_err(|e| failed(e.to_string()))?;
        if got.truncated {
            return Err(failed(format!(
                "helm wrote more than {} MiB",
                MAX_OUTPUT_BYTES / 1024 / 1024
            )));
        }
        if status.success() {
            Ok(String::from_utf8_lossy(&got.stdout).into_owned())
        } else {
            let said = String::from_utf8_lossy(&got.stderr);
            Err(failed(said.trim().trim_start_matches("Error: ").to_owned()))
        }
    }
}

/// `--name=value` as one argument, so a value that starts with `-` stays a value.
pub fn flag(name: &str, value: impl AsRef<std::ffi::OsStr>) -> OsString {
    let mut arg = OsString::from(name);
    arg.push("=");
    arg.push(value);
    arg
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn helm_stops_before_the_tool_timeout() {
        let (helm, total) = budget(Some(Duration::from_secs(60)));
        assert_eq!(helm, Duration::from_secs(50));
        assert_eq!(total, Duration::from_secs(59));
        let (helm, total) = budget(None);
        assert_eq!(helm, HELM_TIMEOUT);
        assert!(total > helm);
        let (helm, total) = budget(Some(Duration::from_secs(3)));
        assert_eq!(helm, Duration::from_secs(1));
        assert!(total >= helm);
    }

    #[test]
    fn binaries_are_found_by_path_or_name() {
        let dir = Workdir::new().unwrap();
        let script = dir.write("fake-helm", b"#!/bin/sh\n").unwrap();
        let mut settings = HelmSettings {
            binary: Some(script.clone()),
            ..HelmSettings::default()
        };
        assert_eq!(find(&settings), None, "not executable yet");
        std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o700)).unwrap();
        assert_eq!(find(&settings), Some(script));
        settings.binary = Some(PathBuf::from("/nonexistent/helm"));
        assert_eq!(find(&settings), None);
        let err = missing(&settings).to_string();
        assert!(
            err.contains("/nonexistent/helm") && err.contains("image"),
            "{err}"
        );
        let path = dir.path().to_owned();
        drop(dir);
        assert!(!path.exists(), "the directory is removed");
    }

    #[test]
    fn values_are_glued_to_their_flags() {
        assert_eq!(flag("--namespace", "-x"), OsString::from("--namespace=-x"));
    }
}
