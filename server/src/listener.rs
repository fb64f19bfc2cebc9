//! The plain TCP listener the HTTP server accepts on: every accepted socket gets `TCP_NODELAY`.
//! A streamable-HTTP answer leaves in several small writes (headers and priming event, the
//! result event, the last chunk); with Nagle's algorithm on, the second write waits for the
//! client's delayed ACK, about 40 ms, on every call of a kept-alive connection. Does network I/O.

use std::net::SocketAddr;

use tokio::net::{TcpListener, TcpStream};

/// A [`TcpListener`] whose accepted sockets have `TCP_NODELAY` set, for `axum::serve` and under
/// the TLS listener.
pub struct NoDelayListener(TcpListener);

impl NoDelayListener {
    pub fn new(listener: TcpListener) -> Self {
        Self(listener)
    }
}

impl axum::serve::Listener for NoDelayListener {
    type Io = TcpStream;
    type Addr = SocketAddr;

    async fn accept(&mut self) -> (Self::Io, Self::Addr) {
        // axum's own accept loop: it backs off on errors such as running out of descriptors.
        let (stream, peer) = axum::serve::Listener::accept(&mut self.0).await;
        // A socket that refuses (already closed by the peer) fails on its first write anyway.
        if let Err(e) = stream.set_nodelay(true) {
            tracing::debug!(error = %e, "TCP_NODELAY not set");
        }
        (stream, peer)
    }

    fn local_addr(&self) -> std::io::Result<Self::Addr> {
        self.0.local_addr()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::serve::Listener as _;

    #[tokio::test]
    async fn accepted_sockets_have_nodelay() {
        let tcp = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let address = tcp.local_addr().unwrap();
        let mut listener = NoDelayListener::new(tcp);
        let client = TcpStream::connect(address);
        let ((accepted, _), _client) = tokio::join!(listener.accept(), client);
        assert!(
            accepted.nodelay().unwrap(),
            "accepted socket lacks TCP_NODELAY"
        );
    }
}
