//! The Go server's v0.0.67 config keys as a client sees them, in process: `enabled_tools`,
//! `disabled_tools`, `tool_overrides` and `server_instructions` over an rmcp client on a duplex
//! pipe; every tool's `title`, `annotations.title` and `_meta` RBAC declaration; `prompts/list`
//! and `prompts/get` (`[[prompts]]` templates and `cluster-health-check`); `list_changed`
//! notifications after a reload; and `http.rate_limit_rps` answering -32029 on `/mcp` (axum
//! `oneshot`). No cluster.

#![allow(
    clippy::expect_used,
    reason = "helpers of tests: a panic is the failure report"
)]

#[allow(
    dead_code,
    reason = "the OTLP receiver of the shared support serves the span tests"
)]
mod support;

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use axum::body::Body;
use axum::http::{Request, header};
use kubernetes_mcp_server::mcp::McpServer;
use kubernetes_mcp_server::observe::Observer;
use rmcp::model::{GetPromptRequestParams, Role};
use rmcp::service::{NotificationContext, RunningService};
use rmcp::{ClientHandler, RoleClient, ServiceExt as _};
use serde_json::{Map, Value, json};
use tokio_util::sync::CancellationToken;
use tower::ServiceExt as _;

type Client = RunningService<RoleClient, ()>;

async fn connect(toml: &str) -> Client {
    let server: McpServer = support::server(&support::config(toml), Observer::without_tracing());
    let (server_end, client_end) = tokio::io::duplex(64 * 1024);
    tokio::spawn(async move {
        let running = server.serve(server_end).await.expect("server initializes");
        let _ = running.waiting().await;
    });
    ().serve(client_end).await.expect("client initializes")
}

const GO_CONFIG: &str = r#"
enabled_tools = ["pods_get", "pods_delete", "namespaces_list", "helm_list"]
disabled_tools = ["namespaces_list"]
server_instructions = "Use this server for the team's cluster."

[tool_overrides.pods_get]
description = "Get one pod of the team"

[[prompts]]
name = "debug-pod"
title = "Debug a pod"
description = "Debug a failing pod"

[[prompts.arguments]]
name = "pod_name"
description = "Name of the pod"
required = true

[[prompts.messages]]
role = "user"
content = "Help me debug the pod {{pod_name}}"

[[prompts.messages]]
role = "assistant"
content = "I'll look at {{pod_name}}."
"#;

#[tokio::test]
async fn tool_filters_overrides_and_instructions_reach_the_client() {
    let client = connect(GO_CONFIG).await;
    let info = client.peer_info().expect("initialized");
    assert_eq!(
        info.instructions.as_deref(),
        Some("Use this server for the team's cluster.")
    );
    let tools = client.list_all_tools().await.expect("tools/list");
    let names: Vec<&str> = tools.iter().map(|t| t.name.as_ref()).collect();
    // helm_list is allowed but its toolset is off; namespaces_list is disabled after enabling.
    assert_eq!(names, ["pods_delete", "pods_get"]);
    let pods_get = &tools[1];
    assert_eq!(
        pods_get.description.as_deref(),
        Some("Get one pod of the team")
    );
    client.cancel().await.expect("close");
}

#[tokio::test]
async fn every_tool_carries_a_title_and_its_rbac_declaration() {
    let client = connect("toolsets = [\"core\", \"config\", \"helm\"]").await;
    let tools = client.list_all_tools().await.expect("tools/list");
    assert_eq!(tools.len(), 23);
    for tool in &tools {
        let json = serde_json::to_value(tool).expect("serializes");
        assert!(json["title"].is_string(), "{json}");
        assert_eq!(json["title"], json["annotations"]["title"], "{json}");
        let rbac = &json["_meta"]["io.kubernetes-mcp-server/rbac"];
        assert_eq!(rbac["version"], "v1alpha1", "{json}");
    }
    let pods_exec =
        serde_json::to_value(tools.iter().find(|t| t.name == "pods_exec")).expect("serializes");
    assert_eq!(
        pods_exec["_meta"]["io.kubernetes-mcp-server/rbac"]["bounded"]["requirements"][1]["target"],
        json!({"resource": {"resource": "pods", "subresource": "exec"}})
    );
    client.cancel().await.expect("close");
}

fn arguments(pairs: &[(&str, &str)]) -> Map<String, Value> {
    pairs
        .iter()
        .map(|(k, v)| ((*k).to_owned(), Value::from(*v)))
        .collect()
}

#[tokio::test]
async fn prompts_are_listed_and_rendered() {
    let client = connect(GO_CONFIG).await;
    let prompts = client.list_all_prompts().await.expect("prompts/list");
    let names: Vec<&str> = prompts.iter().map(|p| p.name.as_str()).collect();
    assert_eq!(names, ["cluster-health-check", "debug-pod"]);

    let debug = client
        .get_prompt(
            GetPromptRequestParams::new("debug-pod")
                .with_arguments(arguments(&[("pod_name", "web")])),
        )
        .await
        .expect("prompts/get");
    let texts: Vec<(Role, Value)> = debug
        .messages
        .iter()
        .map(|m| {
            let content = serde_json::to_value(&m.content).expect("serializes");
            (m.role.clone(), content["text"].clone())
        })
        .collect();
    assert_eq!(
        texts,
        [
            (Role::User, json!("Help me debug the pod web")),
            (Role::Assistant, json!("I'll look at web.")),
        ]
    );
    let missing = client
        .get_prompt(GetPromptRequestParams::new("debug-pod"))
        .await
        .expect_err("a required argument is missing");
    assert!(
        missing
            .to_string()
            .contains("required argument 'pod_name' is missing"),
        "{missing}"
    );

    let health = client
        .get_prompt(GetPromptRequestParams::new("cluster-health-check"))
        .await
        .expect("the health check answers even without a cluster");
    let text = serde_json::to_value(&health.messages[0].content).expect("serializes")["text"]
        .as_str()
        .expect("text")
        .to_owned();
    assert!(
        text.starts_with("# Cluster Health Check Diagnostic Data")
            && text.contains("could not be reached"),
        "{text}"
    );
    client.cancel().await.expect("close");
}

fn post(session: Option<&str>, body: &Value) -> Request<Body> {
    let mut request = Request::post("/mcp")
        .header(header::HOST, "localhost")
        .header(header::CONTENT_TYPE, "application/json")
        .header(header::ACCEPT, "application/json, text/event-stream");
    if let Some(id) = session {
        request = request.header("mcp-session-id", id);
    }
    request.body(Body::from(body.to_string())).expect("request")
}

async fn body_of(response: axum::response::Response) -> String {
    let bytes = axum::body::to_bytes(response.into_body(), usize::MAX)
        .await
        .expect("body");
    String::from_utf8(bytes.to_vec()).expect("UTF-8")
}

#[tokio::test]
async fn a_session_over_its_rate_gets_the_go_servers_error() {
    let config =
        support::config("port = 8080\n[http]\nrate_limit_rps = 0.01\nrate_limit_burst = 2");
    let server = support::server(&config, Observer::without_tracing());
    let app = kubernetes_mcp_server::http::router(&server, &config, &CancellationToken::new());
    let initialize = json!({"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {
        "protocolVersion": "2025-06-18", "capabilities": {}, "clientInfo": {"name": "t", "version": "0"}}});
    let response = app
        .clone()
        .oneshot(post(None, &initialize))
        .await
        .expect("infallible");
    let session = response.headers()["mcp-session-id"]
        .to_str()
        .expect("ASCII")
        .to_owned();
    body_of(response).await;
    let initialized = json!({"jsonrpc": "2.0", "method": "notifications/initialized"});
    let response = app
        .clone()
        .oneshot(post(Some(&session), &initialized))
        .await;
    body_of(response.expect("infallible")).await;

    let mut answers = Vec::new();
    for id in 2..5 {
        let list = json!({"jsonrpc": "2.0", "id": id, "method": "tools/list"});
        let response = app
            .clone()
            .oneshot(post(Some(&session), &list))
            .await
            .expect("infallible");
        assert_eq!(response.status(), 200);
        answers.push(body_of(response).await);
    }
    assert!(answers[0].contains("pods_get"), "{}", answers[0]);
    assert!(answers[1].contains("pods_get"), "{}", answers[1]);
    let limited: Value = serde_json::from_str(&answers[2]).expect("a JSON-RPC error");
    assert_eq!(
        limited,
        json!({"jsonrpc": "2.0", "id": 4, "error": {"code": -32029, "message": "rate limit exceeded"}})
    );

    // Another session has its own bucket.
    let response = app
        .clone()
        .oneshot(post(None, &initialize))
        .await
        .expect("infallible");
    assert!(body_of(response).await.contains("protocolVersion"));
}

/// A client that counts the `list_changed` notifications it hears.
#[derive(Clone, Default)]
struct ListWatcher {
    tools: Arc<AtomicUsize>,
    prompts: Arc<AtomicUsize>,
}

impl ClientHandler for ListWatcher {
    async fn on_tool_list_changed(&self, _context: NotificationContext<RoleClient>) {
        self.tools.fetch_add(1, Ordering::SeqCst);
    }

    async fn on_prompt_list_changed(&self, _context: NotificationContext<RoleClient>) {
        self.prompts.fetch_add(1, Ordering::SeqCst);
    }
}

impl ListWatcher {
    /// (tools, prompts) notifications heard, once they reach `want` (or after 10 s).
    async fn heard(&self, want: (usize, usize)) -> (usize, usize) {
        let now = || {
            (
                self.tools.load(Ordering::SeqCst),
                self.prompts.load(Ordering::SeqCst),
            )
        };
        for _ in 0..200 {
            if now() == want {
                break;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        now()
    }
}

#[tokio::test]
async fn a_reload_that_changes_the_lists_tells_every_open_session_and_only_then() {
    const CORE: &str = r#"toolsets = ["core"]"#;
    const CORE_AND_HELM: &str = r#"toolsets = ["core", "helm"]"#;
    let with_prompt = format!(
        "{CORE_AND_HELM}\n[[prompts]]\nname = \"triage\"\ndescription = \"d\"\n\
         [[prompts.messages]]\nrole = \"user\"\ncontent = \"triage\"\n"
    );
    let server = support::server(&support::config(CORE), Observer::without_tracing());
    let mut sessions = Vec::new();
    for _ in 0..2 {
        let (server_end, client_end) = tokio::io::duplex(64 * 1024);
        let serving = server.clone();
        tokio::spawn(async move {
            let running = serving.serve(server_end).await.expect("server initializes");
            let _ = running.waiting().await;
        });
        let watcher = ListWatcher::default();
        let client = watcher
            .clone()
            .serve(client_end)
            .await
            .expect("client initializes");
        let info = client.peer_info().expect("initialize answered");
        let tools = info.capabilities.tools.as_ref().expect("tools offered");
        assert_eq!(tools.list_changed, Some(true), "{info:?}");
        let prompts = info.capabilities.prompts.as_ref().expect("core's prompt");
        assert_eq!(prompts.list_changed, Some(true), "{info:?}");
        // A round trip, so that the server has taken the `initialized` notification in.
        client.list_all_tools().await.expect("tools/list");
        sessions.push((client, watcher));
    }

    server.reload(&support::config(CORE));
    server.reload(&support::config(CORE_AND_HELM));
    for (client, watcher) in &sessions {
        assert_eq!(watcher.heard((1, 0)).await, (1, 0));
        let tools = client.list_all_tools().await.expect("tools/list");
        assert!(tools.iter().any(|t| t.name == "helm_list"));
    }
    server.reload(&support::config(&with_prompt));
    for (_, watcher) in &sessions {
        assert_eq!(
            watcher.heard((1, 1)).await,
            (1, 1),
            "only the prompts changed; the unchanged reload before told nothing"
        );
    }

    // A closed session does not stop the open one from hearing.
    let (closed, _) = sessions.remove(0);
    closed.cancel().await.expect("close");
    server.reload(&support::config(CORE));
    assert_eq!(sessions[0].1.heard((2, 2)).await, (2, 2));
}

#[tokio::test]
async fn a_stateless_server_promises_no_list_changes() {
    let client = connect("stateless = true").await;
    let info = client.peer_info().expect("initialize answered");
    let tools = info.capabilities.tools.as_ref().expect("tools offered");
    assert_eq!(tools.list_changed, None, "{info:?}");
    client.cancel().await.expect("close");
}
