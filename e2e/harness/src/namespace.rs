//! A namespace of its own for each test, so tests share one control plane without seeing each
//! other's objects. Does I/O against the apiserver.

use k8s_openapi::api::core::v1::Namespace;
use kube::api::{DeleteParams, PostParams};
use kube::{Api, Client};
use std::sync::atomic::{AtomicU32, Ordering};

/// A namespace created for one test; `delete` it at the end (the stack is thrown away anyway,
/// so a panicking test that leaves it behind harms nothing).
pub struct TempNamespace {
    pub name: String,
    client: Client,
}

static COUNTER: AtomicU32 = AtomicU32::new(0);

impl TempNamespace {
    /// Creates `<prefix>-<pid>-<n>` with the given labels.
    pub async fn create(
        client: &Client,
        prefix: &str,
        labels: &[(&str, &str)],
    ) -> crate::Result<Self> {
        let name = format!(
            "{prefix}-{}-{}",
            std::process::id(),
            COUNTER.fetch_add(1, Ordering::Relaxed)
        );
        let labels: serde_json::Map<String, serde_json::Value> = labels
            .iter()
            .map(|(k, v)| ((*k).to_owned(), serde_json::Value::from(*v)))
            .collect();
        let ns: Namespace = serde_json::from_value(serde_json::json!({
            "metadata": { "name": name, "labels": labels }
        }))
        .map_err(|e| crate::HarnessError::Unexpected(e.to_string()))?;
        Api::<Namespace>::all(client.clone())
            .create(&PostParams::default(), &ns)
            .await?;
        Ok(Self {
            name,
            client: client.clone(),
        })
    }

    pub async fn delete(self) -> crate::Result<()> {
        Api::<Namespace>::all(self.client)
            .delete(&self.name, &DeleteParams::default())
            .await?;
        Ok(())
    }
}
