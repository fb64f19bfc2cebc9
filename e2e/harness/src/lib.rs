//! Test harness over the real stack that `e2e/stack.sh` runs: kube-apiserver + etcd +
//! kube-controller-manager, the OpenTelemetry Collector and Prometheus, all inside one private
//! network namespace.
//!
//! Tests run inside that namespace (`e2e/stack.sh run -- cargo test --features stack`), so they
//! read the stack's addresses from the environment that `stack.sh` sets. [`Stack::get`] fails
//! with a clear message when a test is run outside it. Everything here does I/O against those
//! real components. This is the Rust tier's helper (Rust tests); the Python suite reads the
//! collector and plays kubelet with `e2e/stack/collector.py` and `e2e/stack/kubelet.py`.

mod collector;
pub mod kubelet;
mod namespace;
mod pod_ip;
mod process;
mod prometheus;

use std::path::PathBuf;

pub use collector::{Collector, Span};
pub use namespace::TempNamespace;
pub use pod_ip::next_pod_ip;
pub use process::ChildGuard;
pub use prometheus::Prometheus;

/// Why the harness could not do what a test asked.
#[derive(Debug, thiserror::Error)]
pub enum HarnessError {
    #[error(
        "{0} is not set: run tests inside the stack (`e2e/stack.sh run -- cargo test --features stack`, or e2e/run-tests.sh)"
    )]
    NotInStack(&'static str),
    #[error("reading kubeconfig {path}: {source}")]
    Kubeconfig {
        path: PathBuf,
        #[source]
        source: kube::config::KubeconfigError,
    },
    #[error("building the Kubernetes client: {0}")]
    Client(#[from] kube::Error),
    #[error("{what}: {source}")]
    Io {
        what: String,
        #[source]
        source: std::io::Error,
    },
    #[error("HTTP request to {url}: {source}")]
    Http {
        url: String,
        #[source]
        source: reqwest::Error,
    },
    #[error("timed out after {seconds}s waiting for {what}")]
    Timeout { what: String, seconds: u64 },
    #[error("{0}")]
    Unexpected(String),
}

pub type Result<T, E = HarnessError> = std::result::Result<T, E>;

/// Where the stack's parts are, as `e2e/stack.sh` wrote them into the environment.
#[derive(Debug, Clone)]
pub struct Stack {
    pub kubeconfig: PathBuf,
    pub state_dir: PathBuf,
    pub node_name: String,
    pub otlp_grpc_endpoint: String,
    pub otlp_http_endpoint: String,
    pub collector_output: PathBuf,
    pub prometheus_url: String,
    /// The Python with the `mcp` SDK, OpenTelemetry SDK and `prometheus_client`.
    pub python: PathBuf,
    /// `node_modules` holding the MCP Inspector CLI and the Go peer server.
    pub node_modules: PathBuf,
}

fn env(name: &'static str) -> Result<String> {
    std::env::var(name).map_err(|_| HarnessError::NotInStack(name))
}

impl Stack {
    /// The stack this test runs in.
    pub fn get() -> Result<Self> {
        install_crypto_provider();
        Ok(Self {
            kubeconfig: env("KUBECONFIG")?.into(),
            state_dir: env("KMCP_STACK_DIR")?.into(),
            node_name: env("KMCP_NODE_NAME")?,
            otlp_grpc_endpoint: env("OTLP_GRPC_ENDPOINT")?,
            otlp_http_endpoint: env("OTLP_HTTP_ENDPOINT")?,
            collector_output: env("COLLECTOR_OUTPUT")?.into(),
            prometheus_url: env("PROMETHEUS_URL")?,
            python: env("KMCP_PYTHON")?.into(),
            node_modules: env("KMCP_NODE_MODULES")?.into(),
        })
    }

    /// An admin client (`system:masters`) for the stack's apiserver.
    pub async fn client(&self) -> Result<kube::Client> {
        Ok(kube::Client::try_from(self.config().await?)?)
    }

    /// A client that authenticates with `token` (e.g. from the `TokenRequest` API) instead of the
    /// admin certificate.
    pub async fn client_with_token(&self, token: &str) -> Result<kube::Client> {
        let mut config = self.config().await?;
        config.auth_info = kube::config::AuthInfo {
            token: Some(token.to_owned().into()),
            ..Default::default()
        };
        Ok(kube::Client::try_from(config)?)
    }

    async fn config(&self) -> Result<kube::Config> {
        let kubeconfig_error = |source| HarnessError::Kubeconfig {
            path: self.kubeconfig.clone(),
            source,
        };
        let kubeconfig =
            kube::config::Kubeconfig::read_from(&self.kubeconfig).map_err(kubeconfig_error)?;
        kube::Config::from_custom_kubeconfig(
            kubeconfig,
            &kube::config::KubeConfigOptions::default(),
        )
        .await
        .map_err(kubeconfig_error)
    }

    pub fn collector(&self) -> Collector {
        Collector::new(self.collector_output.clone())
    }

    pub fn prometheus(&self) -> Prometheus {
        Prometheus::new(self.prometheus_url.clone())
    }
}

/// kube and reqwest are built with rustls and no default provider: install ring once.
fn install_crypto_provider() {
    // Err only means another caller installed it first, which is what we want.
    let _ = rustls::crypto::ring::default_provider().install_default();
}

/// Polls `check` every 100 ms until it returns `Some`, or fails after `seconds`.
pub async fn eventually<T, F, Fut>(what: &str, seconds: u64, mut check: F) -> Result<T>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(seconds);
    loop {
        if let Some(value) = check().await {
            return Ok(value);
        }
        if tokio::time::Instant::now() >= deadline {
            return Err(HarnessError::Timeout {
                what: what.to_owned(),
                seconds,
            });
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
}
