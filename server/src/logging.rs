//! Logging: to stderr (stdout belongs to MCP in stdio mode) or to `--log-file`, at the level of
//! `log_level`, which a SIGHUP may change through the returned [`LogLevel`]. `RUST_LOG`, when
//! set, wins over both. Opens the log file; no other I/O.

use std::sync::Arc;

use tracing_subscriber::layer::SubscriberExt as _;
use tracing_subscriber::util::SubscriberInitExt as _;
use tracing_subscriber::{EnvFilter, Registry, fmt, reload};

#[derive(Debug, thiserror::Error)]
#[error("opening log file {path}: {source}")]
pub struct LogFileError {
    path: std::path::PathBuf,
    #[source]
    source: std::io::Error,
}

/// Changes the level of the running logger.
pub struct LogLevel {
    handle: reload::Handle<EnvFilter, Registry>,
    /// `RUST_LOG` chose the filter: a reload leaves it alone.
    from_env: bool,
}

impl LogLevel {
    pub fn set(&self, level: u8) {
        if self.from_env {
            return;
        }
        if let Err(e) = self.handle.reload(filter(level)) {
            tracing::warn!(error = %e, "the new log_level could not be applied");
        }
    }
}

/// Level 0 shows warnings, 1 info, 2-5 debug, 6+ trace.
fn filter(level: u8) -> EnvFilter {
    let level = match level {
        0 => "warn",
        1 => "info",
        2..=5 => "debug",
        _ => "trace",
    };
    EnvFilter::new(format!(
        "warn,kubernetes_mcp_server={level},kubernetes_mcp_otel={level},{}",
        kubernetes_mcp_otel::QUIET_SDK_LOGS
    ))
}

/// Installs the global logger.
pub fn init(level: u8, file: Option<&std::path::Path>) -> Result<LogLevel, LogFileError> {
    let from_env = EnvFilter::try_from_default_env().ok();
    let is_from_env = from_env.is_some();
    let (filter, handle) = reload::Layer::new(from_env.unwrap_or_else(|| filter(level)));
    let registry = tracing_subscriber::registry().with(filter);
    match file {
        Some(path) => {
            let file = std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(path)
                .map_err(|source| LogFileError {
                    path: path.to_owned(),
                    source,
                })?;
            registry
                .with(fmt::layer().with_ansi(false).with_writer(Arc::new(file)))
                .init();
        }
        None => registry
            .with(
                fmt::layer()
                    .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
                    .with_writer(std::io::stderr),
            )
            .init(),
    }
    Ok(LogLevel {
        handle,
        from_env: is_from_env,
    })
}
