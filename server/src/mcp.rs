//! The MCP server: answers `initialize`, `tools/list` and `tools/call` from the tool registry.
//! One value is shared by every transport and session (cheap to clone). Tool failures become
//! `isError` results carrying the cluster's message; an unknown tool is a JSON-RPC error. A
//! reload that changes the tools or prompts tells every open session (`list_changed`).

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError, RwLock};
use std::time::{Duration, Instant};

use opentelemetry::trace::Span as _;
use opentelemetry::{Context, KeyValue};

use rmcp::model::{
    CallToolRequest, CallToolRequestParams, CallToolResponse, CallToolResult, ClientJsonRpcMessage,
    ClientRequest, ContentBlock, Extensions, GetPromptRequestParams, GetPromptResponse,
    Implementation, JsonRpcRequest, ListPromptsResult, ListToolsResult, PaginatedRequestParams,
    RequestId, RequestMetaObject, ServerCapabilities, ServerConfig, ServerJsonRpcMessage,
    ServerResult, Tool,
};
use rmcp::service::{NotificationContext, Peer, RequestContext};
use rmcp::{ErrorData, RoleServer, ServerHandler};
use serde_json::Value;

use crate::audit::AuditLog;
use crate::auth::Caller;
use crate::cluster::Cluster;
use crate::config::confirm::ConfirmationRules;
use crate::config::limits::ResponseLimits;
use crate::config::toolsets::HelmSettings;
use crate::config::{Config, DeniedResource, ListOutput};
use crate::confirm::Confirmer;
use crate::drain::InFlight;
use crate::observe::{HttpContext, Observer, Outcome, UNKNOWN};
use crate::prompts::Prompts;
use crate::ratelimit::Buckets;
use crate::tools::{Arguments, Registry, ToolContext, cut_answer};
use crate::{SERVER_NAME, VERSION};

/// What `initialize` says when the config sets no `server_instructions`.
const DEFAULT_INSTRUCTIONS: &str = "Tools to inspect and change a Kubernetes cluster: pods, namespaces, events, nodes \
     and any resource kind. Errors from the cluster come back as tool errors with the cluster's \
     own message.";

/// What a SIGHUP may change: rebuilt from the new config and swapped in whole, so a call or
/// listing sees either the old settings or the new ones, never a mix.
struct Live {
    registry: Registry,
    prompts: Prompts,
    instructions: String,
    list_output: ListOutput,
    denied: Arc<Vec<DeniedResource>>,
    redact_secrets: bool,
    tool_timeout: Option<Duration>,
    helm: Arc<HelmSettings>,
    response_limits: ResponseLimits,
    confirmation: Arc<ConfirmationRules>,
    validation_enabled: bool,
}

impl Live {
    fn new(config: &Config, cluster: &Cluster) -> Self {
        let contexts = cluster.contexts();
        let current = cluster.current_context();
        Self {
            registry: Registry::new(config, &contexts, current.as_deref()),
            prompts: Prompts::new(config),
            instructions: config
                .go
                .server_instructions
                .clone()
                .unwrap_or_else(|| DEFAULT_INSTRUCTIONS.to_owned()),
            list_output: config.list_output,
            denied: Arc::new(config.denied_resources.clone()),
            redact_secrets: config.redact_secrets,
            tool_timeout: config.tool_timeout,
            helm: Arc::new(config.go.helm.clone()),
            response_limits: config.response_limits.clone(),
            confirmation: Arc::new(config.go.confirmation.clone()),
            validation_enabled: config.go.validation_enabled,
        }
    }
}

struct Shared {
    live: RwLock<Arc<Live>>,
    rate_limits: Arc<Buckets>,
    cluster: Arc<Cluster>,
    observer: Arc<Observer>,
    audit: Option<AuditLog>,
    in_flight: InFlight,
    /// Whether sessions are told of changed lists (and `listChanged` advertised): not with
    /// `stateless`, on any transport, as in the Go server.
    announces_changes: bool,
    /// The sessions told of a reload's changes; closed ones are dropped at the next change or
    /// the next session.
    sessions: Mutex<Vec<Peer<RoleServer>>>,
}

impl Shared {
    /// The sessions still open: those that closed are dropped first.
    fn open_sessions(&self) -> std::sync::MutexGuard<'_, Vec<Peer<RoleServer>>> {
        let mut sessions = self.sessions.lock().unwrap_or_else(PoisonError::into_inner);
        sessions.retain(|peer| !peer.is_transport_closed());
        sessions
    }

    /// Sends `notifications/tools/list_changed` and/or `notifications/prompts/list_changed` to
    /// every open session, each on its own task so a slow client delays nobody else.
    fn announce(&self, tools: bool, prompts: bool) {
        if !tools && !prompts {
            return;
        }
        let sessions = self.open_sessions().clone();
        for peer in sessions {
            tokio::spawn(async move {
                let sent = async {
                    if tools {
                        peer.notify_tool_list_changed().await?;
                    }
                    if prompts {
                        peer.notify_prompt_list_changed().await?;
                    }
                    Ok::<_, rmcp::service::ServiceError>(())
                };
                if let Err(e) = sent.await {
                    tracing::debug!(error = %e, "list_changed not sent: the session closed");
                }
            });
        }
    }
}

/// Where a tool call comes from: the trace it continues, the admitted caller (with
/// `require_oauth`) and its JSON-RPC id.
#[derive(Debug, Default)]
pub struct Origin {
    pub parent: Context,
    pub caller: Option<Caller>,
    pub request_id: Option<Value>,
    /// The client's session, for confirmation questions (elicitation).
    pub peer: Option<Peer<RoleServer>>,
}

/// The MCP handler given to every transport.
#[derive(Clone)]
pub struct McpServer {
    shared: Arc<Shared>,
    /// `network.transport` of its spans: `pipe` (stdio) or `tcp` (HTTP).
    network_transport: &'static str,
}

impl McpServer {
    pub fn new(
        config: &Config,
        cluster: Arc<Cluster>,
        observer: Arc<Observer>,
        audit: Option<AuditLog>,
    ) -> Self {
        Self {
            shared: Arc::new(Shared {
                live: RwLock::new(Arc::new(Live::new(config, &cluster))),
                rate_limits: Buckets::new(config.go.rate_limit),
                cluster,
                observer,
                audit,
                in_flight: InFlight::default(),
                announces_changes: !config.stateless,
                sessions: Mutex::default(),
            }),
            network_transport: "pipe",
        }
    }

    /// The same server, for a transport over TCP (HTTP, SSE).
    #[must_use]
    pub fn over_tcp(&self) -> Self {
        Self {
            shared: self.shared.clone(),
            network_transport: "tcp",
        }
    }

    /// Swaps in what `config` says of the settings a reload may change (tools, prompts,
    /// instructions, denied resources, output, limits, rate limit); calls already running
    /// finish with the settings they started with. Open sessions hear of changed tool or
    /// prompt lists.
    pub fn reload(&self, config: &Config) {
        let live = Arc::new(Live::new(config, &self.shared.cluster));
        let old = {
            let mut current = self
                .shared
                .live
                .write()
                .unwrap_or_else(PoisonError::into_inner);
            std::mem::replace(&mut *current, live.clone())
        };
        self.shared.rate_limits.set(config.go.rate_limit);
        self.shared.announce(
            old.registry.list() != live.registry.list(),
            old.prompts.list() != live.prompts.list(),
        );
    }

    fn live(&self) -> Arc<Live> {
        match self.shared.live.read() {
            Ok(live) => live.clone(),
            Err(poisoned) => poisoned.into_inner().clone(),
        }
    }

    /// The per-session request buckets of `http.rate_limit_rps`.
    pub fn rate_limits(&self) -> &Arc<Buckets> {
        &self.shared.rate_limits
    }

    pub fn cluster(&self) -> &Arc<Cluster> {
        &self.shared.cluster
    }

    pub fn observer(&self) -> &Arc<Observer> {
        &self.shared.observer
    }

    /// The tool calls running now, on every transport.
    pub fn in_flight(&self) -> &InFlight {
        &self.shared.in_flight
    }

    /// Runs one tool call inside its span, counts it and audits it. `Err` only for a protocol
    /// error (unknown tool).
    pub async fn call(
        &self,
        request: CallToolRequestParams,
        origin: &Origin,
    ) -> Result<CallToolResult, ErrorData> {
        self.call_with(self.live(), request, origin).await
    }

    async fn call_with(
        &self,
        live: Arc<Live>,
        request: CallToolRequestParams,
        origin: &Origin,
    ) -> Result<CallToolResult, ErrorData> {
        let _running = self.shared.in_flight.enter();
        let observer = &self.shared.observer;
        let started = Instant::now();
        let known = live.registry.get(&request.name).is_some();
        let label = if known {
            request.name.to_string()
        } else {
            UNKNOWN.to_owned()
        };
        let mut span = observer.start_tool_span(&label, self.network_transport, &origin.parent);
        if let (Some(span), Some(caller)) = (&mut span, &origin.caller) {
            span.set_attribute(KeyValue::new(
                "enduser.id",
                caller.identity.username.clone(),
            ));
        }
        let audit = self.shared.audit.as_ref().map(|log| {
            log.begin(
                &request,
                span.as_ref()
                    .map(|s| s.span_context().trace_id().to_string()),
            )
        });
        let name = request.name.clone();
        let running = self.run_tool(&live, request, origin);
        let result = match live.tool_timeout {
            None => running.await,
            Some(limit) => tokio::time::timeout(limit, running)
                .await
                .unwrap_or_else(|_| {
                    Ok(CallToolResult::error(vec![ContentBlock::text(format!(
                        "{name} did not finish within {} s and was stopped (tool_timeout_seconds)",
                        limit.as_secs()
                    ))]))
                }),
        };
        let outcome = match &result {
            Ok(r) if r.is_error == Some(true) => Outcome::ToolError,
            Ok(_) => Outcome::Ok,
            Err(_) => Outcome::ProtocolError,
        };
        let elapsed = started.elapsed();
        if let Some(audit) = audit {
            audit.finish(
                origin.caller.as_ref(),
                origin.request_id.as_ref(),
                outcome,
                elapsed,
            );
        }
        observer.finish_tool_call(span, &label, elapsed, outcome);
        result
    }

    async fn run_tool(
        &self,
        live: &Live,
        request: CallToolRequestParams,
        origin: &Origin,
    ) -> Result<CallToolResult, ErrorData> {
        let Some(spec) = live.registry.get(&request.name) else {
            return Err(ErrorData::invalid_params(
                format!("unknown tool: {}", request.name),
                None,
            ));
        };
        let mut arguments = request.arguments.unwrap_or_default();
        let ctx = self.tool_context(live, &request.name, &mut arguments, origin);
        // The last bound: whatever a handler produced, the model gets at most the limit.
        let max = ctx.limits.max_tool_response_bytes;
        if let Err(message) = ctx.confirm.tool(spec.name, spec.hints.destructive).await {
            return Ok(CallToolResult::error(vec![ContentBlock::text(message)]));
        }
        Ok(match (spec.handler)(&ctx, Arguments(arguments)).await {
            Ok(text) => CallToolResult::success(vec![ContentBlock::text(cut_answer(text, max))]),
            Err(e) => {
                CallToolResult::error(vec![ContentBlock::text(cut_answer(e.to_string(), max))])
            }
        })
    }

    /// What a tool or prompt (`name`) reads the cluster with: the `context` argument (taken out
    /// of `arguments`), the caller, the output settings and the response limits for `name`.
    fn tool_context(
        &self,
        live: &Live,
        name: &str,
        arguments: &mut serde_json::Map<String, Value>,
        origin: &Origin,
    ) -> ToolContext {
        let context = match arguments.remove("context") {
            Some(Value::String(c)) if !c.is_empty() => Some(c),
            _ => None,
        };
        ToolContext {
            cluster: self.shared.cluster.clone(),
            context,
            list_output: live.list_output,
            denied: live.denied.clone(),
            redact_secrets: live.redact_secrets,
            limits: live.response_limits.for_tool(name),
            caller: origin.caller.clone(),
            confirm: Arc::new(Confirmer::new(
                live.confirmation.clone(),
                origin.peer.clone(),
            )),
            validate: live.validation_enabled,
            tool_timeout: live.tool_timeout,
            helm: live.helm.clone(),
            acting: tokio::sync::OnceCell::new(),
        }
    }

    pub fn tools(&self) -> Arc<Vec<Tool>> {
        self.live().registry.list()
    }

    /// The parent of a tool call's span: the HTTP request's span (streamable HTTP), else the
    /// W3C context in the request's `_meta` (stdio, SSE), else none.
    fn parent_context(&self, extensions: &Extensions, meta: Option<&RequestMetaObject>) -> Context {
        let observer = &self.shared.observer;
        if !observer.tracing_enabled() {
            return Context::new();
        }
        if let Some(HttpContext(cx)) = extensions
            .get::<http::request::Parts>()
            .and_then(|parts| parts.extensions.get::<HttpContext>())
        {
            return cx.clone();
        }
        let meta = meta
            .and_then(|meta| serde_json::to_value(meta).ok())
            .unwrap_or_default();
        let carrier: HashMap<String, String> = ["traceparent", "tracestate"]
            .into_iter()
            .filter_map(|key| Some((key.to_owned(), meta.get(key)?.as_str()?.to_owned())))
            .collect();
        if carrier.is_empty() {
            Context::new()
        } else {
            observer.extract(&carrier)
        }
    }

    /// The origin of a call: its trace parent, its caller, its id (only the audit trail reads
    /// it) and the session to ask questions in, if any.
    fn origin(
        &self,
        extensions: &Extensions,
        meta: Option<&RequestMetaObject>,
        id: &RequestId,
        peer: Option<Peer<RoleServer>>,
    ) -> Origin {
        Origin {
            parent: self.parent_context(extensions, meta),
            caller: caller_of(extensions),
            request_id: self
                .shared
                .audit
                .as_ref()
                .and_then(|_| serde_json::to_value(id).ok()),
            peer,
        }
    }

    /// Where `message` is answered: a `tools/call` outside rmcp's session machinery, in the task
    /// that received it, when it can never ask the client anything (no confirmation rule may
    /// match it) and its `_meta` has nothing rmcp acts on; anything else by the session.
    pub fn route(&self, message: ClientJsonRpcMessage) -> Route {
        let ClientJsonRpcMessage::Request(JsonRpcRequest {
            jsonrpc,
            id,
            request: ClientRequest::CallToolRequest(request),
        }) = message
        else {
            return Route::Session(message);
        };
        let live = self.live();
        let destructive = live
            .registry
            .get(&request.params.name)
            .is_some_and(|spec| spec.hints.destructive);
        let may_ask = live.confirmation.has_kube_rules()
            || live
                .confirmation
                .for_tool(&request.params.name, destructive)
                .is_some();
        if may_ask || !plain_meta(request.extensions.get()) {
            return Route::Session(ClientJsonRpcMessage::Request(JsonRpcRequest {
                jsonrpc,
                id,
                request: ClientRequest::CallToolRequest(request),
            }));
        }
        Route::Here(DirectCall { live, id, request })
    }

    /// Answers a call that [`Self::route`] kept here, with the settings it was allowed by, to
    /// a client on a protocol version before 2026-07-28 (a session's, or a plain stateless
    /// request's): in their result shape, as rmcp's handler gives it to them.
    pub async fn call_directly(&self, call: DirectCall) -> ServerJsonRpcMessage {
        let DirectCall { live, id, request } = call;
        let origin = self.origin(&request.extensions, request.extensions.get(), &id, None);
        match self.call_with(live, request.params, &origin).await {
            Ok(result) => {
                let mut result = ServerResult::CallToolResult(result);
                result.strip_result_type_for_legacy_peer();
                result.strip_non_object_output_for_legacy_peer();
                ServerJsonRpcMessage::response(result, id)
            }
            Err(error) => ServerJsonRpcMessage::error(error, Some(id)),
        }
    }
}

/// Where a message is answered (see [`McpServer::route`]).
pub enum Route {
    /// Here, by [`McpServer::call_directly`].
    Here(DirectCall),
    /// By the session's MCP service (rmcp's), or rmcp's stateless service.
    Session(ClientJsonRpcMessage),
}

/// A tool call answered outside its session (see [`McpServer::route`]), with the settings it was
/// allowed by.
pub struct DirectCall {
    live: Arc<Live>,
    id: RequestId,
    request: CallToolRequest,
}

impl DirectCall {
    /// Carries `value` to the call, as rmcp's request extensions do (the HTTP request's parts).
    pub fn insert_extension<T: Clone + Send + Sync + 'static>(&mut self, value: T) {
        self.request.extensions.insert(value);
    }
}

/// A request `_meta` with nothing rmcp acts on: no per-request protocol version (the 2026-07-28
/// lifecycle), only a progress token and trace context.
fn plain_meta(meta: Option<&RequestMetaObject>) -> bool {
    meta.is_none_or(|meta| {
        meta.0
            .0
            .keys()
            .all(|key| matches!(key.as_str(), "progressToken" | "traceparent" | "tracestate"))
    })
}

impl ServerHandler for McpServer {
    fn get_info(&self) -> ServerConfig {
        let live = self.live();
        let mut capabilities = if live.prompts.is_empty() {
            ServerCapabilities::builder().enable_tools().build()
        } else {
            ServerCapabilities::builder()
                .enable_tools()
                .enable_prompts()
                .build()
        };
        if self.shared.announces_changes {
            let list_changed = Some(true);
            if let Some(tools) = &mut capabilities.tools {
                tools.list_changed = list_changed;
            }
            if let Some(prompts) = &mut capabilities.prompts {
                prompts.list_changed = list_changed;
            }
        }
        ServerConfig::new(capabilities)
            .with_server_info(Implementation::new(SERVER_NAME, VERSION).with_title(SERVER_NAME))
            .with_instructions(live.instructions.clone())
    }

    async fn on_initialized(&self, context: NotificationContext<RoleServer>) {
        if self.shared.announces_changes {
            self.shared.open_sessions().push(context.peer);
        }
    }

    async fn list_prompts(
        &self,
        _request: Option<PaginatedRequestParams>,
        _context: RequestContext<RoleServer>,
    ) -> Result<ListPromptsResult, ErrorData> {
        Ok(ListPromptsResult::with_all_items(
            self.live().prompts.list(),
        ))
    }

    async fn get_prompt(
        &self,
        request: GetPromptRequestParams,
        context: RequestContext<RoleServer>,
    ) -> Result<GetPromptResponse, ErrorData> {
        let live = self.live();
        let mut arguments = request.arguments.unwrap_or_default();
        let origin = Origin {
            caller: caller_of(&context.extensions),
            peer: Some(context.peer.clone()),
            ..Origin::default()
        };
        let ctx = self.tool_context(&live, &request.name, &mut arguments, &origin);
        live.prompts
            .get(&request.name, &arguments, &ctx)
            .await
            .map(Into::into)
            .map_err(|e| ErrorData::invalid_params(e.to_string(), None))
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
        context: RequestContext<RoleServer>,
    ) -> Result<CallToolResponse, ErrorData> {
        let origin = self.origin(
            &context.extensions,
            Some(&context.meta),
            &context.id,
            Some(context.peer.clone()),
        );
        self.call(request, &origin).await.map(Into::into)
    }
}

/// The caller the auth layer admitted: in the request's own extensions (SSE puts it there) or
/// in those of the HTTP request it came in (streamable HTTP).
fn caller_of(extensions: &Extensions) -> Option<Caller> {
    extensions.get::<Caller>().cloned().or_else(|| {
        extensions
            .get::<http::request::Parts>()
            .and_then(|parts| parts.extensions.get::<Caller>())
            .cloned()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_meta_naming_a_protocol_version_is_not_plain() {
        let meta = |value: Value| {
            serde_json::from_value::<RequestMetaObject>(value).expect("a meta object")
        };
        assert!(plain_meta(None));
        assert!(plain_meta(Some(&meta(serde_json::json!({
            "progressToken": 1,
            "traceparent": "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
        })))));
        assert!(!plain_meta(Some(&meta(serde_json::json!({
            "io.modelcontextprotocol/protocolVersion": "2026-07-28"
        })))));
    }
}
