//! SIGHUP, as in the Go server: re-read `--config` and the `--config-dir` drop-ins (the same
//! command-line flags still winning), check the result like at start-up, and swap in what can
//! change at run time. Listeners, ports, TLS, transport, cluster access, auth and telemetry stay
//! as started: a changed key of those is named in a warning saying it needs a restart. An
//! invalid config is logged as an error and the running one stays. Without `--config` and
//! `--config-dir` a SIGHUP is ignored (Go's rule). Reads files; the comparison is pure.

use tokio::signal::unix::{Signal, SignalKind, signal};

use crate::config::{Config, Flags};
use crate::logging::LogLevel;
use crate::mcp::McpServer;

/// What a reload needs besides the running server: the flags the process started with and the
/// logger's level handle.
pub struct Reload {
    flags: Flags,
    log_level: LogLevel,
}

impl Reload {
    pub fn new(flags: Flags, log_level: LogLevel) -> Self {
        Self { flags, log_level }
    }

    /// Catches SIGHUP from now on (unhandled, it would end the process); the reloads start
    /// with [`Self::watch`].
    pub fn listen() -> Option<Signal> {
        signal(SignalKind::hangup())
            .inspect_err(|e| tracing::warn!(error = %e, "SIGHUP handler not installed"))
            .ok()
    }

    /// Reloads on every SIGHUP of `hangups`, for as long as the process runs.
    pub fn watch(self, mut hangups: Signal, started: Config, server: McpServer) {
        tokio::spawn(async move {
            while hangups.recv().await.is_some() {
                self.reload(&started, &server);
            }
        });
    }

    fn reload(&self, started: &Config, server: &McpServer) {
        if self.flags.config.is_none() && self.flags.config_dir.is_none() {
            tracing::warn!(
                "SIGHUP ignored: the server was started without --config or --config-dir"
            );
            return;
        }
        let new = match Config::load(self.flags.clone()) {
            Ok(new) => new,
            Err(e) => {
                tracing::error!(error = %e, "SIGHUP: the configuration is invalid; the running one stays");
                return;
            }
        };
        for key in restart_needed(started, &new) {
            tracing::warn!(
                key,
                "SIGHUP: {key} changed but needs a restart; it keeps its start-up value"
            );
        }
        for warning in &new.go.warnings {
            tracing::warn!("{warning}");
        }
        self.log_level.set(new.log_level);
        server.reload(&new);
        tracing::info!("SIGHUP: configuration reloaded");
    }
}

/// The keys that differ between the running and the new config but only apply at start-up.
pub fn restart_needed(running: &Config, new: &Config) -> Vec<&'static str> {
    let Config {
        port,
        bind_address,
        metrics_port,
        log_file,
        kubeconfig,
        cluster_provider,
        disable_multi_cluster,
        stateless,
        tls,
        require_tls,
        allowed_hosts,
        max_body_bytes,
        telemetry,
        auth,
        audit_log,
        session_idle_timeout,
        go,
        // Applied by a reload.
        log_level: _,
        list_output: _,
        read_only: _,
        disable_destructive: _,
        toolsets: _,
        denied_resources: _,
        redact_secrets: _,
        tool_timeout: _,
        response_limits: _,
    } = running;
    [
        ("port", port == &new.port),
        ("bind_address", bind_address == &new.bind_address),
        ("metrics_port", metrics_port == &new.metrics_port),
        ("log_file", log_file == &new.log_file),
        ("kubeconfig", kubeconfig == &new.kubeconfig),
        (
            "cluster_provider_strategy",
            cluster_provider == &new.cluster_provider,
        ),
        (
            "disable_multi_cluster",
            disable_multi_cluster == &new.disable_multi_cluster,
        ),
        ("stateless", stateless == &new.stateless),
        ("tls_cert/tls_key", tls == &new.tls),
        ("tls_min_version/tls_cipher_suites", go.tls == new.go.tls),
        ("require_tls", require_tls == &new.require_tls),
        ("allowed_hosts", allowed_hosts == &new.allowed_hosts),
        ("max_body_bytes", max_body_bytes == &new.max_body_bytes),
        ("telemetry", telemetry == &new.telemetry),
        ("require_oauth and the OAuth keys", auth == &new.auth),
        ("audit_log", audit_log == &new.audit_log),
        (
            "session_idle_timeout_seconds",
            session_idle_timeout == &new.session_idle_timeout,
        ),
    ]
    .into_iter()
    .filter_map(|(key, same)| (!same).then_some(key))
    .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(toml: &str) -> Config {
        Config::from_toml(toml, Flags::default()).unwrap()
    }

    #[test]
    fn only_start_up_keys_need_a_restart() {
        let running = config("port = 8080\nread_only = false");
        let new = config(
            "port = 9090\nread_only = true\nstateless = true\ndisabled_tools = [\"pods_delete\"]\nlog_level = 3",
        );
        assert_eq!(restart_needed(&running, &new), ["port", "stateless"]);
        assert!(restart_needed(&running, &running.clone()).is_empty());
    }
}
