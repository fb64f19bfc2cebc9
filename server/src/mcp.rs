//! The MCP server: answers `initialize`, `tools/list` and `tools/call` from the tool registry.
//! One value is shared by every transport and session (cheap to clone). Tool failures become
//! `isError` results carrying the cluster's message; an unknown tool is a JSON-RPC error.

use std::sync::Arc;

use rmcp::model::{
    CallToolRequestParams, CallToolResponse, CallToolResult, ContentBlock, Implementation,
    ListToolsResult, PaginatedRequestParams, ServerCapabilities, ServerConfig, Tool,
};
use rmcp::service::RequestContext;
use rmcp::{ErrorData, RoleServer, ServerHandler};
use serde_json::Value;

use crate::cluster::Cluster;
use crate::config::{Config, DeniedResource, ListOutput};
use crate::tools::{Arguments, Registry, ToolContext};

pub const SERVER_NAME: &str = "kubernetes-mcp-server";
pub const VERSION: &str = env!("CARGO_PKG_VERSION");

struct Shared {
    registry: Registry,
    cluster: Arc<Cluster>,
    list_output: ListOutput,
    denied: Arc<Vec<DeniedResource>>,
}

/// The MCP handler given to every transport.
#[derive(Clone)]
pub struct McpServer {
    shared: Arc<Shared>,
}

impl McpServer {
    pub fn new(config: &Config, cluster: Arc<Cluster>) -> Self {
        let contexts = cluster.contexts();
        let current = cluster.current_context();
        Self {
            shared: Arc::new(Shared {
                registry: Registry::new(config, &contexts, current.as_deref()),
                cluster,
                list_output: config.list_output,
                denied: Arc::new(config.denied_resources.clone()),
            }),
        }
    }

    /// Runs one tool call. `Err` only for a protocol error (unknown tool).
    pub async fn call(&self, request: CallToolRequestParams) -> Result<CallToolResult, ErrorData> {
        let shared = &self.shared;
        let Some(spec) = shared.registry.get(&request.name) else {
            return Err(ErrorData::invalid_params(
                format!("unknown tool: {}", request.name),
                None,
            ));
        };
        let mut arguments = request.arguments.unwrap_or_default();
        let context = match arguments.remove("context") {
            Some(Value::String(c)) if !c.is_empty() => Some(c),
            _ => None,
        };
        let ctx = ToolContext {
            cluster: shared.cluster.clone(),
            context,
            list_output: shared.list_output,
            denied: shared.denied.clone(),
        };
        Ok(match (spec.handler)(&ctx, Arguments(arguments)).await {
            Ok(text) => CallToolResult::success(vec![ContentBlock::text(text)]),
            Err(e) => CallToolResult::error(vec![ContentBlock::text(e.to_string())]),
        })
    }

    pub fn tools(&self) -> Arc<Vec<Tool>> {
        self.shared.registry.list()
    }
}

impl ServerHandler for McpServer {
    fn get_info(&self) -> ServerConfig {
        ServerConfig::new(ServerCapabilities::builder().enable_tools().build())
            .with_server_info(Implementation::new(SERVER_NAME, VERSION).with_title(SERVER_NAME))
            .with_instructions(
                "Tools to inspect and change a Kubernetes cluster: pods, namespaces, events, nodes \
                 and any resource kind. Errors from the cluster come back as tool errors with the \
                 cluster's own message.",
            )
    }

    async fn list_tools(
        &self,
        _request: Option<PaginatedRequestParams>,
        _context: RequestContext<RoleServer>,
    ) -> Result<ListToolsResult, ErrorData> {
        Ok(ListToolsResult::with_all_items(self.tools().to_vec()))
    }

    fn get_tool(&self, name: &str) -> Option<Tool> {
        self.tools().iter().find(|t| t.name == name).cloned()
    }

    async fn call_tool(
        &self,
        request: CallToolRequestParams,
        _context: RequestContext<RoleServer>,
    ) -> Result<CallToolResponse, ErrorData> {
        self.call(request).await.map(Into::into)
    }
}
