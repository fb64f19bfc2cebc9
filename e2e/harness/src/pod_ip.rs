//! Pod IPs in the stack's cluster network: 10.244.0.N on the namespace's loopback, one per pod,
//! unique across every test process of a run. Does I/O (files, `ip addr add`).

use std::net::Ipv4Addr;
use std::path::Path;

use crate::{HarnessError, Result};

/// Claims the next free 10.244.0.N (N = 2..=254) and adds it to `lo`, so a process can bind it
/// and Prometheus or a client can reach it. Claims are files created with `create_new` in
/// `<state_dir>/pod-ips/`, so concurrent test binaries never get the same address.
pub fn next_pod_ip(state_dir: &Path) -> Result<Ipv4Addr> {
    let dir = state_dir.join("pod-ips");
    std::fs::create_dir_all(&dir).map_err(|source| HarnessError::Io {
        what: format!("creating {}", dir.display()),
        source,
    })?;
    for n in 2..=254u8 {
        let ip = Ipv4Addr::new(10, 244, 0, n);
        let claim = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(dir.join(ip.to_string()));
        match claim {
            Ok(_) => {
                add_to_loopback(ip)?;
                return Ok(ip);
            }
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
            Err(source) => {
                return Err(HarnessError::Io {
                    what: format!("claiming {ip}"),
                    source,
                });
            }
        }
    }
    Err(HarnessError::Unexpected(
        "no free pod IP left in 10.244.0.0/24".into(),
    ))
}

fn add_to_loopback(ip: Ipv4Addr) -> Result<()> {
    let status = std::process::Command::new("ip")
        .args(["addr", "add", &format!("{ip}/32"), "dev", "lo"])
        .status()
        .map_err(|source| HarnessError::Io {
            what: "running `ip addr add`".into(),
            source,
        })?;
    if status.success() {
        Ok(())
    } else {
        Err(HarnessError::Unexpected(format!(
            "`ip addr add {ip}/32 dev lo` failed ({status}): is this test inside the stack's network namespace?"
        )))
    }
}
