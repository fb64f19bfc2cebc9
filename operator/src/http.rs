//! The operator's HTTP endpoints: `/metrics`, `/healthz` (the process serves: it stays 200
//! through an apiserver outage, which a restart would not end) and `/readyz` (the apiserver is
//! reachable: reached at start, and the latest attempt of the watches reached it; a standby
//! replica waiting for the Lease is ready once it has reached it).

use std::net::SocketAddr;
use std::sync::Arc;

use axum::Router;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::IntoResponse;
use axum::routing::get;

use crate::controller::Reachable;
use crate::metrics::Metrics;

#[derive(Clone)]
pub struct Health {
    pub metrics: Arc<Metrics>,
    pub reachable: Reachable,
}

pub fn router(health: Health) -> Router {
    Router::new()
        .route("/metrics", get(metrics))
        .route("/healthz", get(|| async { "ok" }))
        .route("/readyz", get(readyz))
        .with_state(health)
}

async fn metrics(State(h): State<Health>) -> impl IntoResponse {
    (
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        h.metrics.render(),
    )
}

async fn readyz(State(h): State<Health>) -> impl IntoResponse {
    if h.reachable.get() {
        (StatusCode::OK, "ok")
    } else {
        (
            StatusCode::SERVICE_UNAVAILABLE,
            "the apiserver is not reachable",
        )
    }
}

/// Binds `address` and serves the endpoints in the background.
pub async fn spawn(address: SocketAddr, health: Health) -> std::io::Result<()> {
    let listener = tokio::net::TcpListener::bind(address).await?;
    tracing::info!(%address, "serving /metrics /healthz /readyz");
    tokio::spawn(async move { axum::serve(listener, router(health)).await });
    Ok(())
}
