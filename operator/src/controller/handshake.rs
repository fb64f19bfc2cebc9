//! The MCP handshake that makes an McpServer Ready: `initialize`, `notifications/initialized` and
//! `tools/list` (every page) against one ready pod of its Deployment, on the MCP port, bounded by
//! a short timeout; the tools listed must include those of the spec's toolsets. A server that
//! requires auth must refuse an unauthenticated `initialize` with 401 and an RFC 9728 challenge
//! whose resource metadata it serves. The answer is read as JSON or as an SSE stream, as
//! streamable HTTP allows. Does I/O (HTTP to the pod).

use std::collections::BTreeSet;
use std::time::Duration;

use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::Pod;
use serde_json::{Value, json};

use super::Context;
use super::apply::list_pods;
use super::error::ReconcileError;
use super::progress::Progress;
use crate::validate::{AuthPlan, SERVER_PORT, ValidatedMcpServer, missing_tools};

/// The whole handshake, every request included.
const TIMEOUT: Duration = Duration::from_secs(5);
/// A server listing more pages than this is not answering sensibly.
const MAX_PAGES: usize = 50;

/// What the handshake found.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Handshake {
    /// Not asked: the probe is off (--mcp-probe=false) or no pod is wanted.
    Off,
    /// Not yet asked: the rollout of this generation is not done.
    Pending,
    /// A pod answered, listing this many tools, every one the spec's toolsets ask for among them.
    Answered { tools: usize },
    /// A pod of a server that requires auth refused an unauthenticated `initialize` with 401 and
    /// the RFC 9728 challenge, and served the resource metadata it points at: up and secured.
    Secured,
    /// A pod answered, listing this many tools, but not these of the spec's toolsets.
    ToolsMissing { tools: usize, missing: Vec<String> },
    /// The pod did not answer as an MCP server: why.
    Failed(String),
}

/// The handshake for how the rollout stands. Asked once per generation and Deployment state
/// (its resourceVersion, which a replaced pod moves): only when the rollout is done and nothing
/// answered is remembered for that state, so never at rest. While a later generation rolls out
/// the last answer stands. A failure is not remembered: it is asked again at the next check.
pub async fn handshake(
    ctx: &Context,
    v: &ValidatedMcpServer,
    deployment: &Deployment,
    progress: &Progress,
) -> Result<Handshake, ReconcileError> {
    // None wanted, none to ask.
    if !ctx.mcp_probe || deployment.spec.replicas == Some(0) {
        return Ok(Handshake::Off);
    }
    let remembered = ctx.memory.answered(&v.uid);
    if *progress != Progress::Done {
        return Ok(remembered.map_or(Handshake::Pending, |(_, answer)| answer));
    }
    let state = format!(
        "{}/{}",
        v.generation.unwrap_or_default(),
        deployment
            .metadata
            .resource_version
            .as_deref()
            .unwrap_or_default()
    );
    if let Some((known, answer)) = remembered
        && known == state
    {
        return Ok(answer);
    }
    let pods = list_pods(&ctx.client, deployment).await?;
    let Some((pod, ip)) = ready_pod(&pods) else {
        return Ok(Handshake::Failed("no ready pod to ask".into()));
    };
    let session = match Session::new(&ip) {
        Ok(session) => session,
        Err(why) => return Ok(Handshake::Failed(why)),
    };
    // A server that wants callers' tokens is asked without one: the operator holds none it may
    // honestly present, and the refusal proves the endpoint up and secured.
    let asked = match v.auth {
        AuthPlan::Off => session
            .tools()
            .await
            .map(|listed| judged(&v.tools, &listed)),
        AuthPlan::Required(_) => session.secured().await.map(|()| Handshake::Secured),
    };
    Ok(match asked {
        Ok(answer) => {
            // Only a full answer is remembered: anything else is asked again at the next check.
            if matches!(answer, Handshake::Answered { .. } | Handshake::Secured) {
                ctx.memory.answer(&v.uid, state, answer.clone());
            }
            answer
        }
        Err(why) => Handshake::Failed(format!("pod {pod} on port {SERVER_PORT}: {why}")),
    })
}

/// The answer to `tools/list`, judged against the tools the spec's toolsets ask for.
fn judged(expected: &BTreeSet<&'static str>, listed: &[String]) -> Handshake {
    let missing = missing_tools(expected, listed);
    if missing.is_empty() {
        Handshake::Answered {
            tools: listed.len(),
        }
    } else {
        Handshake::ToolsMissing {
            tools: listed.len(),
            missing: missing.into_iter().map(str::to_owned).collect(),
        }
    }
}

/// The IP of the first ready pod that is not going away, with its name.
fn ready_pod(pods: &[Pod]) -> Option<(String, String)> {
    pods.iter()
        .filter(|p| p.metadata.deletion_timestamp.is_none())
        .find_map(|p| {
            let status = p.status.as_ref()?;
            let ready = status
                .conditions
                .iter()
                .flatten()
                .any(|c| c.type_ == "Ready" && c.status == "True");
            let ip = status.pod_ip.clone().filter(|ip| !ip.is_empty() && ready)?;
            Some((p.metadata.name.clone().unwrap_or_default(), ip))
        })
}

struct Session {
    client: reqwest::Client,
    url: String,
}

impl Session {
    /// A session with the server at `ip`, every request bounded by the handshake's timeout.
    fn new(ip: &str) -> Result<Self, String> {
        let client = reqwest::Client::builder()
            .timeout(TIMEOUT)
            .no_proxy()
            .build()
            .map_err(|e| e.to_string())?;
        let host = if ip.contains(':') {
            format!("[{ip}]")
        } else {
            ip.to_owned()
        };
        Ok(Self {
            client,
            url: format!("http://{host}:{SERVER_PORT}"),
        })
    }

    /// The names of the tools the server lists, or why not.
    async fn tools(&self) -> Result<Vec<String>, String> {
        tokio::time::timeout(TIMEOUT, self.list_tools())
            .await
            .map_err(|_| format!("no answer within {}s", TIMEOUT.as_secs()))?
    }

    /// Whether an unauthenticated `initialize` gets 401 with an RFC 9728 challenge whose
    /// resource metadata the server serves; why not.
    async fn secured(&self) -> Result<(), String> {
        tokio::time::timeout(TIMEOUT, self.challenge())
            .await
            .map_err(|_| format!("no answer within {}s", TIMEOUT.as_secs()))?
    }

    async fn challenge(&self) -> Result<(), String> {
        let response = self
            .client
            .post(format!("{}/mcp", self.url))
            .header("content-type", "application/json")
            .header("accept", "application/json, text/event-stream")
            .body(initialize().to_string())
            .send()
            .await
            .map_err(|e| format!("initialize: {}", without_url(e)))?;
        let status = response.status();
        let header = response
            .headers()
            .get("www-authenticate")
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default();
        let path = metadata_path(status.as_u16(), header)?;
        let metadata = self
            .client
            .get(format!("{}{path}", self.url))
            .send()
            .await
            .map_err(|e| format!("{path}: {}", without_url(e)))?;
        if !metadata.status().is_success() {
            return Err(format!("{path}: HTTP {}", metadata.status()));
        }
        let body = metadata
            .text()
            .await
            .map_err(|e| format!("{path}: {}", without_url(e)))?;
        let document: Value = serde_json::from_str(&body).unwrap_or_default();
        if document["resource"].is_string() {
            Ok(())
        } else {
            Err(format!("{path}: no resource in {}", shown(Some(&document))))
        }
    }

    async fn list_tools(&self) -> Result<Vec<String>, String> {
        let (answer, session_id) = self.post(&initialize(), None).await?;
        let version = answer
            .as_ref()
            .and_then(|a| a["result"]["protocolVersion"].as_str())
            .ok_or_else(|| {
                format!(
                    "initialize: no protocolVersion in {}",
                    shown(answer.as_ref())
                )
            })?
            .to_owned();
        let headers = (session_id, version);
        let initialized = json!({"jsonrpc": "2.0", "method": "notifications/initialized"});
        self.post(&initialized, Some(&headers)).await?;
        let (mut names, mut cursor) = (Vec::new(), None::<String>);
        for page in 2..2 + MAX_PAGES {
            let params = cursor.map_or_else(|| json!({}), |c| json!({"cursor": c}));
            let list =
                json!({"jsonrpc": "2.0", "id": page, "method": "tools/list", "params": params});
            let (answer, _) = self.post(&list, Some(&headers)).await?;
            let result = answer.as_ref().map(|a| &a["result"]);
            let tools = result
                .and_then(|r| r["tools"].as_array())
                .ok_or_else(|| format!("tools/list: no tools in {}", shown(answer.as_ref())))?;
            names.extend(
                tools
                    .iter()
                    .filter_map(|t| t["name"].as_str())
                    .map(str::to_owned),
            );
            cursor = result
                .and_then(|r| r["nextCursor"].as_str())
                .map(str::to_owned);
            if cursor.is_none() {
                return Ok(names);
            }
        }
        Err(format!("tools/list: more than {MAX_PAGES} pages"))
    }

    /// One JSON-RPC message; the answer (None for a notification's 202) and the session id.
    async fn post(
        &self,
        message: &Value,
        session: Option<&(Option<String>, String)>,
    ) -> Result<(Option<Value>, Option<String>), String> {
        let method = message["method"].as_str().unwrap_or_default();
        let mut request = self
            .client
            .post(format!("{}/mcp", self.url))
            .header("content-type", "application/json")
            .header("accept", "application/json, text/event-stream")
            .body(message.to_string());
        if let Some((id, version)) = session {
            request = request.header("mcp-protocol-version", version);
            if let Some(id) = id {
                request = request.header("mcp-session-id", id);
            }
        }
        let response = request
            .send()
            .await
            .map_err(|e| format!("{method}: {}", without_url(e)))?;
        let status = response.status();
        if !status.is_success() {
            return Err(format!("{method}: HTTP {status}"));
        }
        let session_id = response
            .headers()
            .get("mcp-session-id")
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        let body = response
            .text()
            .await
            .map_err(|e| format!("{method}: {}", without_url(e)))?;
        Ok((answer(&body), session_id))
    }
}

fn initialize() -> Value {
    json!({"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {
        "protocolVersion": "2025-06-18", "capabilities": {},
        "clientInfo": {"name": "kubernetes-mcp-operator", "version": env!("CARGO_PKG_VERSION")}}})
}

/// The path of the resource metadata a 401's `WWW-Authenticate: Bearer resource_metadata="URL"`
/// points at (RFC 9728 §5.1), asked of the pod itself: the URL's host may be a public name the
/// operator cannot reach.
fn metadata_path(status: u16, challenge: &str) -> Result<String, String> {
    if status != 401 {
        return Err(format!(
            "initialize without a token: HTTP {status}, not 401 (is auth really required?)"
        ));
    }
    let url = challenge
        .split_once("resource_metadata=\"")
        .and_then(|(_, rest)| rest.split_once('"'))
        .map(|(url, _)| url)
        .ok_or_else(|| {
            format!("401 without an RFC 9728 resource_metadata challenge: {challenge:?}")
        })?;
    let path = url
        .split_once("://")
        .map_or(url, |(_, rest)| rest.find('/').map_or("/", |i| &rest[i..]));
    Ok(path.to_owned())
}

/// The JSON-RPC response in a body: the body itself, or the first SSE `data:` event carrying one.
fn answer(body: &str) -> Option<Value> {
    let is_response = |v: &Value| v.get("result").is_some() || v.get("error").is_some();
    serde_json::from_str::<Value>(body)
        .ok()
        .filter(is_response)
        .or_else(|| {
            body.lines()
                .filter_map(|line| line.strip_prefix("data:"))
                .filter_map(|data| serde_json::from_str::<Value>(data.trim()).ok())
                .find(is_response)
        })
}

fn shown(answer: Option<&Value>) -> String {
    let text = answer.map_or_else(|| "no JSON-RPC answer".to_owned(), Value::to_string);
    text.chars().take(200).collect()
}

/// reqwest's error without the URL (the pod IP would change the status message with every pod).
fn without_url(error: reqwest::Error) -> String {
    let error = error.without_url();
    let mut text = error.to_string();
    if let Some(source) = std::error::Error::source(&error) {
        text = format!("{text}: {source}");
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_challenge_points_at_metadata_asked_of_the_pod() {
        let challenge = r#"Bearer resource_metadata="https://mcp.example.com/.well-known/oauth-protected-resource""#;
        assert_eq!(
            metadata_path(401, challenge).unwrap(),
            "/.well-known/oauth-protected-resource"
        );
        assert!(
            metadata_path(200, challenge)
                .unwrap_err()
                .contains("HTTP 200")
        );
        let bare = metadata_path(401, "Bearer realm=\"x\"").unwrap_err();
        assert!(bare.contains("resource_metadata"), "{bare}");
    }

    #[test]
    fn a_listing_without_a_wanted_tool_names_it() {
        let expected = BTreeSet::from(["helm_list", "pods_list"]);
        let listed = vec!["pods_list".to_owned(), "events_list".to_owned()];
        assert_eq!(
            judged(&expected, &listed),
            Handshake::ToolsMissing {
                tools: 2,
                missing: vec!["helm_list".into()]
            }
        );
        let all = vec!["helm_list".to_owned(), "pods_list".to_owned()];
        assert_eq!(judged(&expected, &all), Handshake::Answered { tools: 2 });
    }

    #[test]
    fn the_answer_is_read_from_json_or_from_sse() {
        let json = r#"{"jsonrpc":"2.0","id":1,"result":{"tools":[]}}"#;
        assert!(answer(json).is_some());
        let sse = format!("event: message\nid: 0\ndata: {json}\n\n");
        assert_eq!(answer(&sse), answer(json));
        assert!(answer("<html>hello</html>").is_none());
        assert!(answer(r#"{"hello": "world"}"#).is_none());
    }
}
