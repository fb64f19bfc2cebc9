//! The MCP handler (`mcp::McpServer`) driven by an rmcp client over an in-memory duplex pipe:
//! initialize, `tools/list` per filter set against the golden snapshot, the unknown-tool error
//! and its metric label, cluster failures as tool errors, `denied_resources` refusing before any
//! cluster access, and the parent of a tool span taken from `_meta.traceparent`. No cluster is
//! reachable (no cluster provider, or a kubeconfig whose apiserver is 127.0.0.1:1); the span test
//! binds one loopback port for its OTLP receiver.

#![allow(
    clippy::expect_used,
    reason = "helpers of tests: a panic is the failure report"
)]

mod support;

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;

use kubernetes_mcp_server::cluster::Cluster;
use kubernetes_mcp_server::config::ClusterProvider;
use kubernetes_mcp_server::mcp::McpServer;
use kubernetes_mcp_server::observe::Observer;
use rmcp::model::{CallToolRequestParams, CallToolResult, ErrorCode, RequestMetaObject};
use rmcp::service::{RunningService, ServiceError};
use rmcp::{RoleClient, ServiceExt as _};
use serde_json::{Map, Value, json};

use support::otlp::{self, Receiver};

type Client = RunningService<RoleClient, ()>;

/// Starts the server on one end of a pipe and an initialized client on the other.
async fn connect(server: McpServer) -> Client {
    let (server_end, client_end) = tokio::io::duplex(64 * 1024);
    tokio::spawn(async move {
        let running = server.serve(server_end).await.expect("server initializes");
        let _ = running.waiting().await;
    });
    ().serve(client_end).await.expect("client initializes")
}

/// A server with no cluster and no tracing.
async fn client(toml: &str) -> Client {
    connect(support::server(
        &support::config(toml),
        Observer::without_tracing(),
    ))
    .await
}

/// A client of a server whose cluster is this kubeconfig text (read at once into the cluster;
/// the file, named after `name`, is removed again).
async fn kubeconfig_client(kubeconfig: &str, name: &str, toml: &str) -> Client {
    let path: PathBuf =
        std::env::temp_dir().join(format!("kmcp-mcp-test-{}-{name}.yaml", std::process::id()));
    std::fs::write(&path, kubeconfig).expect("write kubeconfig");
    let cluster = Cluster::discover(ClusterProvider::Kubeconfig, Some(&path));
    std::fs::remove_file(&path).expect("remove kubeconfig");
    let observer = Arc::new(Observer::without_tracing());
    connect(McpServer::new(
        &support::config(toml),
        Arc::new(cluster),
        observer,
        None,
    ))
    .await
}

/// An apiserver nobody listens on, under the context `first` and maybe a second one.
const UNREACHABLE: &str = r#"apiVersion: v1
kind: Config
clusters:
- name: nowhere
  cluster: {server: "https://127.0.0.1:1", insecure-skip-tls-verify: true}
users:
- name: tester
  user: {token: not-a-real-token}
current-context: first
contexts:
- name: first
  context: {cluster: nowhere, user: tester, namespace: team-a}
"#;
const SECOND_CONTEXT: &str = r"- name: second
  context: {cluster: nowhere, user: tester}
";

fn call(name: &str, arguments: &Value) -> CallToolRequestParams {
    let arguments = arguments.as_object().cloned().unwrap_or_default();
    CallToolRequestParams::new(name.to_owned()).with_arguments(arguments)
}

fn text(result: &CallToolResult) -> String {
    result
        .content
        .iter()
        .filter_map(|c| c.as_text().map(|t| t.text.clone()))
        .collect()
}

/// `tools/list` of `server/src/tools/snapshots`: name, inputSchema and annotations of every tool
/// of every toolset.
fn golden_tools() -> Vec<Value> {
    let snapshot = include_str!(
        "../src/tools/snapshots/kubernetes_mcp_server__tools__tests__tools_list_is_stable.snap"
    );
    // An insta file: `---`, a YAML header, `---`, then the JSON.
    let json = snapshot
        .splitn(3, "---\n")
        .nth(2)
        .expect("an insta snapshot");
    serde_json::from_str(json).expect("the snapshot is JSON")
}

/// The toolset of a snapshot entry, read from its name (the snapshot does not record it).
fn toolset(tool: &Value) -> &str {
    let name = tool["name"].as_str().unwrap_or_default();
    if name.starts_with("helm_") {
        "helm"
    } else if name.starts_with("configuration_") {
        "config"
    } else {
        "core"
    }
}

fn hint(tool: &Value, name: &str) -> bool {
    tool["annotations"][name] == true
}

/// What `tools/list` shows on the wire, reduced to the snapshot's fields.
async fn listed(client: &Client) -> Vec<Value> {
    client
        .list_all_tools()
        .await
        .expect("tools/list")
        .iter()
        .map(|tool| {
            let tool = serde_json::to_value(tool).expect("a tool serializes");
            json!({
                "annotations": tool["annotations"],
                "inputSchema": tool["inputSchema"],
                "name": tool["name"],
            })
        })
        .collect()
}

#[tokio::test]
async fn initialize_names_the_server_and_offers_tools() {
    let client = client("").await;
    let info = client.peer_info().expect("the server answered initialize");
    let server = info.server_info.as_ref().expect("server info");
    assert_eq!(server.name, "kubernetes-mcp-server");
    assert_eq!(server.version, env!("CARGO_PKG_VERSION"));
    assert!(info.capabilities.tools.is_some(), "{info:?}");
    let instructions = info.instructions.as_deref().unwrap_or_default();
    assert!(
        instructions.contains("Kubernetes cluster"),
        "{instructions}"
    );
    client.cancel().await.expect("close");
}

#[tokio::test]
async fn tools_list_per_filter_set_is_the_golden_snapshot_filtered() {
    let golden = golden_tools();
    assert_eq!(golden.len(), 23, "every tool of every toolset");
    // (config, toolsets, read-only, no destructive tools, how many tools)
    let cases: [(&str, &[&str], bool, bool, usize); 6] = [
        ("", &["core", "config"], false, false, 20),
        ("read_only = true", &["core", "config"], true, false, 14),
        (
            "disable_destructive = true",
            &["core", "config"],
            false,
            true,
            15,
        ),
        ("toolsets = [\"helm\"]", &["helm"], false, false, 3),
        ("toolsets = [\"config\"]", &["config"], false, false, 1),
        (
            "toolsets = [\"core\", \"helm\"]\nread_only = true\ndisable_destructive = true",
            &["core", "helm"],
            true,
            true,
            14,
        ),
    ];
    for (toml, toolsets, read_only, no_destructive, count) in cases {
        let expected: Vec<Value> = golden
            .iter()
            .filter(|t| {
                toolsets.contains(&toolset(t))
                    && (!read_only || hint(t, "readOnlyHint"))
                    && !(no_destructive && hint(t, "destructiveHint"))
            })
            .cloned()
            .collect();
        assert_eq!(expected.len(), count, "{toml:?}");
        let client = client(toml).await;
        assert_eq!(listed(&client).await, expected, "{toml:?}");
        client.cancel().await.expect("close");
    }
}

#[tokio::test]
async fn several_contexts_add_the_contexts_tool_and_a_context_argument() {
    let client = kubeconfig_client(&format!("{UNREACHABLE}{SECOND_CONTEXT}"), "contexts", "").await;
    let tools = listed(&client).await;
    let by_name: BTreeMap<&str, &Value> = tools
        .iter()
        .map(|t| (t["name"].as_str().unwrap_or_default(), t))
        .collect();
    assert_eq!(tools.len(), 21, "{:?}", by_name.keys());
    assert!(by_name.contains_key("configuration_contexts_list"));
    assert_eq!(
        by_name["pods_get"]["inputSchema"]["properties"]["context"]["description"],
        "Optional kubeconfig context to run the tool in. Defaults to first if not set"
    );
    let result = client
        .call_tool(call("configuration_contexts_list", &json!({})))
        .await
        .expect("tools/call");
    assert_ne!(result.is_error, Some(true), "{result:?}");
    let listing = text(&result);
    assert!(
        listing.contains("first") && listing.contains("second"),
        "{listing}"
    );
    client.cancel().await.expect("close");
}

#[tokio::test]
async fn an_unknown_or_filtered_out_tool_is_a_json_rpc_error_counted_as_unknown() {
    let server = support::server(
        &support::config("read_only = true"),
        Observer::without_tracing(),
    );
    let observer = server.observer().clone();
    let client = connect(server).await;
    for name in ["no_such_tool", "pods_delete"] {
        let error = client
            .call_tool(call(name, &json!({})))
            .await
            .expect_err("not a tool of this server");
        let ServiceError::McpError(error) = error else {
            panic!("a JSON-RPC error expected, got {error:?}");
        };
        assert_eq!(error.code, ErrorCode::INVALID_PARAMS);
        assert_eq!(error.message, format!("unknown tool: {name}"));
    }
    let counts = observer.stats.snapshot().counts;
    assert_eq!(counts.total_tool_calls, 2);
    assert_eq!(
        counts.tool_calls_by_name,
        BTreeMap::from([("_unknown".to_owned(), 2)])
    );
    assert_eq!(
        counts.tool_errors_by_name,
        BTreeMap::from([("_unknown".to_owned(), 2)])
    );
    client.cancel().await.expect("close");
}

#[tokio::test]
async fn without_a_cluster_tools_answer_with_a_tool_error() {
    let client = client("").await;
    let result = client
        .call_tool(call("namespaces_list", &json!({})))
        .await
        .expect("a tool error is a result, not a protocol error");
    assert_eq!(result.is_error, Some(true));
    assert_eq!(text(&result), "no Kubernetes cluster is configured");
    let result = client
        .call_tool(call("pods_get", &json!({"namespace": "default"})))
        .await
        .expect("tools/call");
    assert_eq!(result.is_error, Some(true));
    let message = text(&result);
    assert!(message.starts_with("invalid arguments: "), "{message}");
    assert!(message.contains("`name`"), "{message}");
    client.cancel().await.expect("close");
}

#[tokio::test]
async fn denied_resources_refuse_before_any_cluster_access() {
    // No cluster at all: a call that reached for one would fail with "no Kubernetes cluster".
    let client = client(
        r#"toolsets = ["core", "helm"]
        denied_resources = [
            {group = "", version = "v1", kind = "Node"},
            {group = "", version = "v1", kind = "Service"},
            {group = "", version = "v1", kind = "Secret"},
        ]"#,
    )
    .await;
    let calls = [
        (
            "nodes_log",
            json!({"name": "n1", "query": "kubelet"}),
            "Node",
        ),
        ("nodes_stats_summary", json!({"name": "n1"}), "Node"),
        ("nodes_top", json!({}), "Node"),
        ("pods_run", json!({"image": "nginx", "port": 80}), "Service"),
        ("helm_list", json!({"all_namespaces": true}), "Secret"),
        (
            "resources_get",
            json!({"apiVersion": "v1", "kind": "Secret", "name": "db"}),
            "Secret",
        ),
    ];
    for (tool, arguments, kind) in calls {
        let result = client
            .call_tool(call(tool, &arguments))
            .await
            .expect("tools/call");
        assert_eq!(result.is_error, Some(true), "{tool}");
        assert_eq!(
            text(&result),
            format!(
                "resource v1, Kind={kind} is not allowed by the server configuration (denied_resources)"
            ),
            "{tool}"
        );
    }
    client.cancel().await.expect("close");
}

#[tokio::test]
async fn an_unreachable_apiserver_is_a_tool_error_and_the_server_goes_on() {
    let client = kubeconfig_client(UNREACHABLE, "unreachable", "").await;
    let result = client
        .call_tool(call(
            "pods_list_in_namespace",
            &json!({"namespace": "team-a"}),
        ))
        .await
        .expect("tools/call");
    assert_eq!(result.is_error, Some(true), "{result:?}");
    let message = text(&result);
    // The whole cause chain, so the model can tell "nobody listens" from "forbidden".
    assert!(message.starts_with("failed to list pods: "), "{message}");
    assert!(message.contains("Connection refused"), "{message}");
    // The kubeconfig is still readable, and the session still answers.
    let result = client
        .call_tool(call("configuration_view", &json!({})))
        .await
        .expect("tools/call");
    assert_ne!(result.is_error, Some(true), "{result:?}");
    assert!(
        text(&result).contains("https://127.0.0.1:1"),
        "{}",
        text(&result)
    );
    client.cancel().await.expect("close");
}

#[tokio::test]
async fn a_call_to_an_apiserver_that_never_answers_ends_at_the_tool_timeout() {
    // Accepts connections and never says a word: the TLS handshake itself hangs.
    let silent = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let address = silent.local_addr().expect("address");
    let held = tokio::spawn(async move {
        let mut sockets = Vec::new();
        while let Ok((socket, _)) = silent.accept().await {
            sockets.push(socket);
        }
    });
    let kubeconfig = UNREACHABLE.replace("https://127.0.0.1:1", &format!("https://{address}"));
    let client = kubeconfig_client(&kubeconfig, "silent", "tool_timeout_seconds = 1").await;
    let result = tokio::time::timeout(
        std::time::Duration::from_secs(30),
        client.call_tool(call(
            "pods_list_in_namespace",
            &json!({"namespace": "team-a"}),
        )),
    )
    .await
    .expect("the call ends instead of hanging")
    .expect("tools/call");
    assert_eq!(result.is_error, Some(true), "{result:?}");
    assert_eq!(
        text(&result),
        "pods_list_in_namespace did not finish within 1 s and was stopped (tool_timeout_seconds)"
    );
    client.cancel().await.expect("close");
    held.abort();
}

#[tokio::test]
async fn a_tool_span_takes_its_parent_from_meta_traceparent() {
    const TRACE: &str = "0af7651916cd43dd8448eb211c80319c";
    const CALLER: &str = "b7ad6b7169203331";
    let receiver = Receiver::start().await;
    let server = support::server(&support::config(""), receiver.observer().await);
    let observer = server.observer().clone();
    let client = connect(server).await;
    let with_meta = |name: &str, traceparent: &str| {
        let mut meta = Map::new();
        meta.insert("traceparent".into(), Value::String(traceparent.to_owned()));
        let mut request = call(name, &json!({}));
        request.meta = Some(RequestMetaObject::from(meta));
        request
    };
    // A sampled caller, no caller, and a caller that decided not to sample.
    for request in [
        with_meta("configuration_view", &format!("00-{TRACE}-{CALLER}-01")),
        call("namespaces_list", &json!({})),
        with_meta("events_list", &format!("00-{TRACE}-{CALLER}-00")),
    ] {
        client.call_tool(request).await.expect("tools/call");
    }
    client.cancel().await.expect("close");
    observer.shutdown().await;

    let spans = receiver.spans();
    let child = otlp::only(&spans, "tools/call configuration_view");
    assert_eq!(child.trace_id, TRACE);
    assert_eq!(child.parent_span_id, CALLER);
    assert!(
        child.span_id.len() == 16 && child.span_id != CALLER,
        "{child:?}"
    );
    assert_eq!(child.attribute("network.transport"), Some("pipe"));
    assert_eq!(
        child.attribute("gen_ai.tool.name"),
        Some("configuration_view")
    );
    let root = otlp::only(&spans, "tools/call namespaces_list");
    assert!(root.parent_span_id.is_empty(), "{root:?}");
    assert_ne!(root.trace_id, TRACE);
    assert_eq!(root.attribute("error.type"), Some("tool_error"));
    assert!(
        spans.iter().all(|s| s.name != "tools/call events_list"),
        "the caller's unsampled decision is inherited: {spans:#?}"
    );
}
