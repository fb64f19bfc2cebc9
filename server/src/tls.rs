//! TLS for the HTTP server (`--tls-cert`, `--tls-key`, `tls_min_version`, `tls_cipher_suites`):
//! loads the PEM files and wraps the TCP listener. Handshakes run concurrently, each bounded in time, so one slow client cannot hold
//! up the others. Does file and network I/O.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use rustls::pki_types::pem::PemObject as _;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;
use tokio_rustls::TlsAcceptor;
use tokio_rustls::server::TlsStream;

use crate::config::TlsFiles;
use crate::config::tls::TlsSettings;
use crate::listener::NoDelayListener;

/// A handshake that has not finished by then is dropped.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);
/// Finished handshakes waiting for the HTTP server to take them.
const BACKLOG: usize = 64;

#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    #[error("reading TLS certificate {path}: {message}")]
    Certificate { path: String, message: String },
    #[error("reading TLS key {path}: {message}")]
    Key { path: String, message: String },
    #[error("TLS configuration: {0}")]
    Config(#[from] rustls::Error),
}

/// A rustls server configuration from PEM files (certificate chain, private key), with the
/// versions and TLS 1.2 suites of `settings`.
pub fn server_config(
    files: &TlsFiles,
    settings: &TlsSettings,
) -> Result<Arc<rustls::ServerConfig>, TlsError> {
    let certificate_error = |message: String| TlsError::Certificate {
        path: files.cert.display().to_string(),
        message,
    };
    let chain: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(&files.cert)
        .map_err(|e| certificate_error(e.to_string()))?
        .collect::<Result<_, _>>()
        .map_err(|e| certificate_error(e.to_string()))?;
    if chain.is_empty() {
        return Err(certificate_error("no certificate in the file".into()));
    }
    let key = PrivateKeyDer::from_pem_file(&files.key).map_err(|e| TlsError::Key {
        path: files.key.display().to_string(),
        message: e.to_string(),
    })?;
    let versions: &[&rustls::SupportedProtocolVersion] = if settings.tls13_only {
        &[&rustls::version::TLS13]
    } else {
        &[&rustls::version::TLS12, &rustls::version::TLS13]
    };
    let mut config = rustls::ServerConfig::builder_with_provider(Arc::new(provider(settings)))
        .with_protocol_versions(versions)?
        .with_no_client_auth()
        .with_single_cert(chain, key)?;
    // axum serves HTTP/1.1 here (no h2 feature): never let a client negotiate h2.
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(Arc::new(config))
}

/// ring's suites: every TLS 1.3 one (not configurable, as in Go) and the TLS 1.2 ones the
/// settings list (all when none is listed).
fn provider(settings: &TlsSettings) -> rustls::crypto::CryptoProvider {
    let mut provider = rustls::crypto::ring::default_provider();
    provider.cipher_suites.retain(|suite| match suite {
        rustls::SupportedCipherSuite::Tls13(_) => true,
        rustls::SupportedCipherSuite::Tls12(_) => {
            settings.tls12_suites.is_empty()
                || suite
                    .suite()
                    .as_str()
                    .is_some_and(|name| settings.tls12_suites.contains(&name))
        }
    });
    provider
}

/// Accepted, handshaken TLS connections, for `axum::serve`.
pub struct TlsListener {
    accepted: mpsc::Receiver<(TlsStream<TcpStream>, SocketAddr)>,
    local: SocketAddr,
}

impl TlsListener {
    pub fn new(tcp: TcpListener, config: Arc<rustls::ServerConfig>) -> std::io::Result<Self> {
        let local = tcp.local_addr()?;
        // The plain listener's accept: TCP_NODELAY on every socket, back-off on errors such as
        // running out of file descriptors.
        let mut tcp = NoDelayListener::new(tcp);
        let (done, accepted) = mpsc::channel(BACKLOG);
        let acceptor = TlsAcceptor::from(config);
        tokio::spawn(async move {
            loop {
                let (stream, peer) = axum::serve::Listener::accept(&mut tcp).await;
                let acceptor = acceptor.clone();
                let sender = done.clone();
                tokio::spawn(async move {
                    match tokio::time::timeout(HANDSHAKE_TIMEOUT, acceptor.accept(stream)).await {
                        Ok(Ok(tls)) => {
                            let _ = sender.send((tls, peer)).await;
                        }
                        Ok(Err(e)) => tracing::debug!(%peer, error = %e, "TLS handshake failed"),
                        Err(_) => tracing::debug!(%peer, "TLS handshake timed out"),
                    }
                });
                if done.is_closed() {
                    break;
                }
            }
        });
        Ok(Self { accepted, local })
    }
}

impl axum::serve::Listener for TlsListener {
    type Io = TlsStream<TcpStream>;
    type Addr = SocketAddr;

    async fn accept(&mut self) -> (Self::Io, Self::Addr) {
        match self.accepted.recv().await {
            Some(connection) => connection,
            // The accept task only ends when this listener is gone; nothing more will come.
            None => std::future::pending().await,
        }
    }

    fn local_addr(&self) -> std::io::Result<Self::Addr> {
        Ok(self.local)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::tls::RUSTLS_TLS12_SUITES;

    #[test]
    fn every_suite_the_config_accepts_is_one_rustls_offers() {
        for name in RUSTLS_TLS12_SUITES {
            let settings = TlsSettings {
                tls13_only: false,
                tls12_suites: vec![name],
            };
            let tls12: Vec<_> = provider(&settings)
                .cipher_suites
                .iter()
                .filter(|s| matches!(s, rustls::SupportedCipherSuite::Tls12(_)))
                .filter_map(|s| s.suite().as_str())
                .collect();
            assert_eq!(tls12, [name]);
        }
    }
}
