//! Fuzz target: any bytes as the body of `POST /mcp` to the whole HTTP app (`http::router`, the
//! JSON-RPC guard, rmcp, the tool registry), stateless and without a cluster, in process. The
//! answer must come within 10 s and never be a 5xx or a panic. No network I/O.
#![no_main]

use std::sync::{Arc, OnceLock};
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::http::{Request, header};
use kubernetes_mcp_server::cluster::Cluster;
use kubernetes_mcp_server::config::{ClusterProvider, Config, Flags};
use kubernetes_mcp_server::http;
use kubernetes_mcp_server::mcp::McpServer;
use kubernetes_mcp_server::observe::Observer;
use libfuzzer_sys::fuzz_target;
use tokio::runtime::Runtime;
use tokio_util::sync::CancellationToken;
use tower::ServiceExt as _;

/// Built once: a fresh app per input would spend the fuzzing time on set-up.
fn app() -> &'static (Runtime, Router) {
    static APP: OnceLock<(Runtime, Router)> = OnceLock::new();
    APP.get_or_init(|| {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("runtime");
        let config = Config::from_toml(
            "stateless = true\ntoolsets = [\"core\", \"config\", \"helm\"]",
            Flags::default(),
        )
        .expect("config");
        let router = runtime.block_on(async {
            let cluster = Arc::new(Cluster::discover(ClusterProvider::Disabled, None));
            let server = McpServer::new(
                &config,
                cluster,
                Arc::new(Observer::without_tracing()),
                None,
            );
            http::router(&server, &config, &CancellationToken::new())
        });
        (runtime, router)
    })
}

fuzz_target!(|body: &[u8]| {
    let (runtime, router) = app();
    let request = Request::post("/mcp")
        .header(header::HOST, "localhost")
        .header(header::CONTENT_TYPE, "application/json")
        .header(header::ACCEPT, "application/json, text/event-stream")
        .header("mcp-protocol-version", "2025-06-18")
        .body(Body::from(body.to_vec()))
        .expect("request");
    runtime.block_on(async {
        let answer = tokio::time::timeout(Duration::from_secs(10), async {
            let response = router.clone().oneshot(request).await.expect("infallible");
            let status = response.status();
            let bytes = axum::body::to_bytes(response.into_body(), 16 << 20).await;
            (status, bytes)
        })
        .await
        .expect("POST /mcp did not answer within 10 s");
        assert!(
            !answer.0.is_server_error(),
            "{} for {:?}",
            answer.0,
            String::from_utf8_lossy(body)
        );
    });
});
