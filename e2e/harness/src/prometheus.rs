//! The real Prometheus of the stack, through its HTTP API. Does network I/O (loopback only).

use serde_json::Value;

use crate::{HarnessError, Result, eventually};

/// One sample of an instant vector.
#[derive(Debug, Clone, PartialEq)]
pub struct Sample {
    pub labels: serde_json::Map<String, Value>,
    pub value: f64,
}

#[derive(Debug, Clone)]
pub struct Prometheus {
    url: String,
    http: reqwest::Client,
}

impl Prometheus {
    pub fn new(url: String) -> Self {
        Self {
            url,
            http: reqwest::Client::new(),
        }
    }

    /// GET of an API path, as JSON.
    async fn get_json(&self, path: &str, query: &[(&str, &str)]) -> Result<Value> {
        let url = format!("{}{path}", self.url);
        let http_error = |source| HarnessError::Http {
            url: url.clone(),
            source,
        };
        self.http
            .get(&url)
            .query(query)
            .send()
            .await
            .and_then(reqwest::Response::error_for_status)
            .map_err(http_error)?
            .json()
            .await
            .map_err(http_error)
    }

    /// Runs an instant query.
    pub async fn query(&self, expr: &str) -> Result<Vec<Sample>> {
        let body = self.get_json("/api/v1/query", &[("query", expr)]).await?;
        let results = body
            .pointer("/data/result")
            .and_then(Value::as_array)
            .ok_or_else(|| HarnessError::Unexpected(format!("query {expr:?} answered {body}")))?;
        Ok(results
            .iter()
            .filter_map(|r| {
                Some(Sample {
                    labels: r.get("metric")?.as_object()?.clone(),
                    value: r.pointer("/value/1")?.as_str()?.parse().ok()?,
                })
            })
            .collect())
    }

    /// Waits until `expr` returns at least `count` samples, and returns them.
    pub async fn wait_for(&self, expr: &str, count: usize, seconds: u64) -> Result<Vec<Sample>> {
        eventually(&format!("Prometheus query {expr}"), seconds, || async {
            let samples = self.query(expr).await.ok()?;
            (samples.len() >= count).then_some(samples)
        })
        .await
    }

    /// Raw JSON of `/api/v1/targets`, for a failing test to print.
    pub async fn targets(&self) -> Result<Value> {
        self.get_json("/api/v1/targets", &[]).await
    }
}
