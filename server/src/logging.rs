//! Logging: to stderr (stdout belongs to MCP in stdio mode) or to `--log-file`, at the level of
//! `log_level`, which a SIGHUP may change through the returned [`LogLevel`]. `RUST_LOG`, when
//! set, wins over both. Lines go through a queue that drops (and counts) them rather than wait
//! for a reader that stopped. Opens the log file and starts the writer thread; no other I/O.

use kubernetes_mcp_otel::{LogGuard, lossy_writer};

use tracing_subscriber::layer::SubscriberExt as _;
use tracing_subscriber::util::SubscriberInitExt as _;
use tracing_subscriber::{EnvFilter, Registry, fmt, reload};

#[derive(Debug, thiserror::Error)]
pub enum LoggingError {
    #[error("opening log file {path}: {source}")]
    LogFile {
        path: std::path::PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("starting the log writer: {0}")]
    Writer(#[source] std::io::Error),
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

/// Installs the global logger. Keep the guard until the process ends: its drop flushes.
pub fn init(
    level: u8,
    file: Option<&std::path::Path>,
) -> Result<(LogLevel, LogGuard), LoggingError> {
    let from_env = EnvFilter::try_from_default_env().ok();
    let is_from_env = from_env.is_some();
    let (filter, handle) = reload::Layer::new(from_env.unwrap_or_else(|| filter(level)));
    let registry = tracing_subscriber::registry().with(filter);
    let (started, ansi) = match file {
        Some(path) => {
            let file = std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(path)
                .map_err(|source| LoggingError::LogFile {
                    path: path.to_owned(),
                    source,
                })?;
            (lossy_writer(file), false)
        }
        None => (
            lossy_writer(std::io::stderr()),
            std::io::IsTerminal::is_terminal(&std::io::stderr()),
        ),
    };
    let (writer, guard) = started.map_err(LoggingError::Writer)?;
    registry
        .with(fmt::layer().with_ansi(ansi).with_writer(writer))
        .init();
    Ok((
        LogLevel {
            handle,
            from_env: is_from_env,
        },
        guard,
    ))
}
