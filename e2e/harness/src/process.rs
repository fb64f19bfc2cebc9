//! Child processes that die with the test: killed on drop, so a panicking test leaves nothing
//! running (and the stack's PID namespace kills anything left when it goes down).

use std::process::Stdio;
use tokio::process::{Child, Command};

use crate::{HarnessError, Result};

/// A running child process, killed when dropped.
#[derive(Debug)]
pub struct ChildGuard {
    pub child: Child,
    name: String,
}

impl ChildGuard {
    /// Spawns `command` with stdin closed and `kill_on_drop` set.
    pub fn spawn(name: &str, mut command: Command) -> Result<Self> {
        command.kill_on_drop(true).stdin(Stdio::null());
        let child = command.spawn().map_err(|source| HarnessError::Io {
            what: format!("starting {name}"),
            source,
        })?;
        Ok(Self {
            child,
            name: name.to_owned(),
        })
    }

    pub fn pid(&self) -> Option<u32> {
        self.child.id()
    }

    /// Sends SIGTERM and waits for the exit status.
    pub async fn terminate(mut self) -> Result<std::process::ExitStatus> {
        if let Some(pid) = self.child.id() {
            let status = std::process::Command::new("kill")
                .args(["-TERM", &pid.to_string()])
                .status()
                .map_err(|source| HarnessError::Io {
                    what: format!("signalling {}", self.name),
                    source,
                })?;
            if !status.success() {
                return Err(HarnessError::Unexpected(format!("kill -TERM {pid} failed")));
            }
        }
        self.child.wait().await.map_err(|source| HarnessError::Io {
            what: format!("waiting for {}", self.name),
            source,
        })
    }
}
