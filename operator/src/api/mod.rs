//! The `McpServer` API (`kubernetes-mcp.io/v1alpha1`): what a platform team asks for, and the
//! status the operator reports. Field docs are `kubectl explain` text. Validation that the
//! apiserver can do (enums, ranges, CEL) lives in the schema, so bad specs are rejected at
//! `kubectl apply`.

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::{Affinity, EnvVar, ResourceRequirements, Toleration};
use k8s_openapi::api::networking::v1::NetworkPolicyPeer;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Condition;
use kube::CustomResource;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

pub mod prometheus_rule;
pub mod service_monitor;

/// A managed kubernetes-mcp-server: its Deployment, Service, RBAC, configuration and telemetry.
#[derive(CustomResource, Deserialize, Serialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[kube(
    group = "kubernetes-mcp.io",
    version = "v1alpha1",
    kind = "McpServer",
    plural = "mcpservers",
    doc = "An MCP server for Kubernetes (kubernetes-mcp-server), run and observed by kubernetes-mcp-operator: a Deployment, a Service, RBAC, configuration, a NetworkPolicy and optionally a ServiceMonitor and a PrometheusRule, all made from this spec. status.url is where MCP clients connect.",
    // Not `mcps`/`mcp`: kagent's and mcp-operator's MCPServer use them, and with either
    // installed `kubectl get mcps` would be ambiguous.
    shortname = "kmcps",
    category = "kubernetes-mcp",
    namespaced,
    status = "McpServerStatus",
    scale(
        spec_replicas_path = ".spec.replicas",
        status_replicas_path = ".status.replicas",
        label_selector_path = ".status.selector"
    ),
    printcolumn = r#"{"name":"Ready","type":"string","jsonPath":".status.conditions[?(@.type==\"Ready\")].status"}"#,
    printcolumn = r#"{"name":"URL","type":"string","jsonPath":".status.url"}"#,
    printcolumn = r#"{"name":"Replicas","type":"integer","jsonPath":".status.readyReplicas"}"#,
    printcolumn = r#"{"name":"Tools","type":"integer","jsonPath":".status.tools"}"#,
    printcolumn = r#"{"name":"Auth","type":"string","jsonPath":".status.auth.state"}"#,
    printcolumn = r#"{"name":"Age","type":"date","jsonPath":".metadata.creationTimestamp"}"#
)]
#[serde(rename_all = "camelCase")]
pub struct McpServerSpec {
    /// Container image of kubernetes-mcp-server. Default: the operator's --default-image.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub image: Option<String>,
    /// Number of pods. Omitted: the operator leaves replicas alone, so an HPA or `kubectl scale`
    /// decides.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 0, max = 100))]
    pub replicas: Option<i32>,
    /// What the server exposes; rendered into its config.toml.
    #[serde(default)]
    pub server: ServerSettings,
    /// What the server's ServiceAccount may do in the cluster.
    #[serde(default)]
    pub access: Access,
    /// Who may call the server, and as whom its tool calls reach the apiserver.
    #[serde(default)]
    pub auth: Auth,
    /// OpenTelemetry export of the server's traces and metrics.
    #[serde(default)]
    pub telemetry: Telemetry,
    /// Prometheus scraping of the server's /metrics, and its alerts.
    #[serde(default)]
    pub metrics: MetricsSettings,
    /// Who may reach the server's pods: a NetworkPolicy per McpServer.
    #[serde(default)]
    pub network: Network,
    /// Compute resources of the server container.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resources: Option<ResourceRequirements>,
    /// Node labels the pods must match.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub node_selector: BTreeMap<String, String>,
    /// Taints the pods tolerate.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tolerations: Vec<Toleration>,
    /// Pod scheduling affinity.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub affinity: Option<Affinity>,
    /// Annotations added to the pods.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub pod_annotations: BTreeMap<String, String>,
    /// Extra environment variables of the server container; they come after the operator's own,
    /// so they win (e.g. to override an OTEL_* variable).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub env: Vec<EnvVar>,
}

/// Toolsets and safety switches of the server.
#[derive(Deserialize, Serialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ServerSettings {
    /// Toolsets to expose. Default: core and config.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub toolsets: Vec<Toolset>,
    /// Expose only read-only tools.
    #[serde(default)]
    pub read_only: bool,
    /// Do not expose destructive tools (delete, update, exec).
    #[serde(default)]
    pub disable_destructive: bool,
    /// Kinds no tool may touch, e.g. {group: "", version: v1, kind: Secret}.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub denied_resources: Vec<DeniedResource>,
    /// Mask the values of Secrets (`data`, `stringData`, the last-applied annotation) in every
    /// tool answer. Default true; false lets the model read Secrets the access grants.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub redact_secrets: Option<bool>,
    /// Serve streamable HTTP without sessions. Default true: any replica can answer any request.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stateless: Option<bool>,
}

#[derive(
    Deserialize, Serialize, Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, JsonSchema,
)]
#[serde(rename_all = "lowercase")]
pub enum Toolset {
    Core,
    Config,
    Helm,
    /// KubeVirt VirtualMachines (needs KubeVirt's CRDs in the cluster).
    Kubevirt,
    /// Tekton Pipelines and Tasks (needs Tekton's CRDs in the cluster).
    Tekton,
}

/// A kind (or with no kind, a whole group/version) the server's tools must refuse.
#[derive(Deserialize, Serialize, Clone, Debug, Default, PartialEq, JsonSchema)]
pub struct DeniedResource {
    /// API group; "" is the core group.
    #[serde(default)]
    pub group: String,
    /// API version, e.g. v1.
    pub version: String,
    /// Kind; empty denies the whole group/version.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub kind: String,
}

/// The server's RBAC: a ClusterRole, bound where. The author must be allowed to bind that
/// ClusterRole there themselves (an admission policy checks it), so an McpServer grants no more
/// than its author could grant by writing the RoleBinding.
#[derive(Deserialize, Serialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
#[schemars(extend("x-kubernetes-validations" = [
    {"rule": "self.scope != 'Cluster' || size(self.namespaces) == 0", "message": "namespaces applies only to scope Namespace"},
    {"rule": "!has(self.verbs) || !has(self.clusterRole)", "message": "verbs and clusterRole exclude each other"}
]))]
pub struct Access {
    /// Namespace: a RoleBinding in each of `namespaces` (default: the McpServer's own).
    /// Cluster: one ClusterRoleBinding for the whole cluster.
    #[serde(default)]
    pub scope: AccessScope,
    /// Namespaces the server may act in, with scope Namespace. Default: its own namespace. At
    /// most 16 (each costs the admission policy one authorizer check); for more, scope Cluster.
    #[serde(default)]
    #[schemars(length(max = 16))]
    pub namespaces: Vec<String>,
    /// read (default): ClusterRole kubernetes-mcp-read, what the built-in `view` reads (no
    /// Secrets). readWrite: kubernetes-mcp-read-write, also writes of workloads (no Secrets, no
    /// exec, attach or port-forward).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub verbs: Option<AccessVerbs>,
    /// Instead of verbs: any other ClusterRole, which the author must be allowed to bind and the
    /// operator too (chart value rbac.bindableClusterRoles).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 253))]
    pub cluster_role: Option<String>,
}

#[derive(Deserialize, Serialize, Clone, Copy, Debug, Default, PartialEq, Eq, JsonSchema)]
pub enum AccessScope {
    #[default]
    Namespace,
    Cluster,
}

#[derive(Deserialize, Serialize, Clone, Copy, Debug, Default, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub enum AccessVerbs {
    #[default]
    Read,
    ReadWrite,
}

/// Authentication (TokenReview), authorization (SubjectAccessReview) and identity of the
/// server's callers. Off by default: anyone who reaches the Service may call it, as the
/// server's ServiceAccount.
#[derive(Deserialize, Serialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
#[schemars(extend("x-kubernetes-validations" = [
    {"rule": "self.required || !has(self.mode) || self.mode == 'kubeconfig'",
     "message": "mode passthrough and impersonate act as the caller, so they need required: true"},
    {"rule": "self.required || (!has(self.audience) && !has(self.verb) && (!has(self.authorizationServers) || size(self.authorizationServers) == 0))",
     "message": "audience, verb and authorizationServers check callers, so they need required: true"}
]))]
pub struct Auth {
    /// Require an `Authorization: Bearer` token the apiserver accepts (TokenReview) for the
    /// audience, from a caller allowed `verb` on this McpServer (SubjectAccessReview). Missing or
    /// bad token: 401; not allowed: 403.
    #[serde(default)]
    pub required: bool,
    /// The audience tokens must be issued for (`kubectl create token SA --audience ...`).
    /// Default: kubernetes-mcp.io/NAMESPACE/NAME.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 253))]
    pub audience: Option<String>,
    /// The verb callers need on `mcpservers.kubernetes-mcp.io` named after this McpServer,
    /// granted by a Role rule {apiGroups: [kubernetes-mcp.io], resources: [mcpservers],
    /// resourceNames: [NAME], verbs: [use]} and a RoleBinding. Default: use.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(regex(pattern = r"^[a-z][a-z-]{0,62}$"))]
    pub verb: Option<String>,
    /// As whom tool calls reach the apiserver. kubeconfig (default): the server's ServiceAccount.
    /// passthrough: the caller's token (it must be valid for the apiserver too). impersonate: the
    /// server impersonating the caller, so the caller's RBAC applies; the ServiceAccount is then
    /// granted `impersonate`, and the author must hold it cluster-wide (an admission policy checks).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mode: Option<AuthMode>,
    /// OAuth authorization servers named in the server's protected-resource metadata (RFC 9728),
    /// where MCP clients get tokens.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 8))]
    pub authorization_servers: Vec<String>,
}

#[derive(Deserialize, Serialize, Clone, Copy, Debug, Default, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum AuthMode {
    #[default]
    Kubeconfig,
    Passthrough,
    Impersonate,
}

impl AuthMode {
    /// The name in the CRD, the server's `cluster_auth_mode` and the status.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Kubeconfig => "kubeconfig",
            Self::Passthrough => "passthrough",
            Self::Impersonate => "impersonate",
        }
    }
}

/// OpenTelemetry settings, injected as OTEL_* environment variables (shared/spec/telemetry.md).
#[derive(Deserialize, Serialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
#[schemars(extend("x-kubernetes-validations" = [
    {"rule": "!has(self.tracesSamplerArg) || (has(self.tracesSampler) && self.tracesSampler in ['traceidratio', 'parentbased_traceidratio'])",
     "message": "tracesSamplerArg needs tracesSampler traceidratio or parentbased_traceidratio"},
    {"rule": "!has(self.tracesSamplerArg) || (double(self.tracesSamplerArg) >= 0.0 && double(self.tracesSamplerArg) <= 1.0)",
     "message": "tracesSamplerArg must be a number from 0 to 1"},
    {"rule": "!has(self.caSecret) || (has(self.endpoint) && self.endpoint.startsWith('https://'))",
     "message": "caSecret needs an https:// endpoint"}
]))]
pub struct Telemetry {
    /// Explicit on/off. Default: on when an endpoint is set.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub enabled: Option<bool>,
    /// OTLP endpoint, e.g. http://otel-collector.observability:4317.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(regex(pattern = r"^https?://[^\s/]+(:[0-9]+)?(/.*)?$"))]
    pub endpoint: Option<String>,
    /// OTLP protocol.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub protocol: Option<OtlpProtocol>,
    /// Trace sampler.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub traces_sampler: Option<TracesSampler>,
    /// Ratio from 0 to 1, for the ratio samplers.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(regex(pattern = r"^(0(\.[0-9]+)?|1(\.0+)?)$"))]
    pub traces_sampler_arg: Option<String>,
    /// service.name of the spans. Default: kubernetes-mcp-server.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub service_name: Option<String>,
    /// Extra resource attributes, e.g. deployment.environment: production.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub resource_attributes: BTreeMap<String, String>,
    /// otlp exports metrics over OTLP too; none only traces (e.g. for Jaeger).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub metrics_exporter: Option<MetricsExporter>,
    /// Add the pod, namespace and node names to every span (downward API). Default true.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kubernetes_metadata: Option<bool>,
    /// A Secret in the McpServer's namespace holding the PEM CA bundle that verifies an https
    /// endpoint; mounted read-only and named by OTEL_EXPORTER_OTLP_CERTIFICATE.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ca_secret: Option<CaSecret>,
}

/// A key of a Secret holding a PEM CA bundle.
#[derive(Deserialize, Serialize, Clone, Debug, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct CaSecret {
    /// Name of the Secret.
    #[schemars(length(min = 1, max = 253))]
    pub name: String,
    /// Key of the bundle in the Secret.
    #[serde(default = "default_ca_key")]
    pub key: String,
}

fn default_ca_key() -> String {
    "ca.crt".into()
}

#[derive(Deserialize, Serialize, Clone, Copy, Debug, PartialEq, Eq, JsonSchema)]
pub enum OtlpProtocol {
    #[serde(rename = "grpc")]
    Grpc,
    #[serde(rename = "http/protobuf")]
    HttpProtobuf,
}

#[derive(Deserialize, Serialize, Clone, Copy, Debug, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum TracesSampler {
    AlwaysOn,
    AlwaysOff,
    Traceidratio,
    ParentbasedAlwaysOn,
    ParentbasedAlwaysOff,
    ParentbasedTraceidratio,
}

#[derive(Deserialize, Serialize, Clone, Copy, Debug, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum MetricsExporter {
    Otlp,
    None,
}

/// Prometheus settings.
#[derive(Deserialize, Serialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct MetricsSettings {
    /// A prometheus-operator ServiceMonitor for the server's Service.
    #[serde(default)]
    pub service_monitor: ServiceMonitorSettings,
    /// A prometheus-operator PrometheusRule with this server's alerts (tool error ratio, p99
    /// latency, dropped spans, target down, not Ready), on the series its ServiceMonitor's scrape
    /// labels with its namespace and job (the Service) and on the operator's readiness series. The
    /// operator chart's fleet-wide rules hold the same alerts for every server: use one or the
    /// other.
    #[serde(default)]
    pub prometheus_rule: PrometheusRuleSettings,
}

#[derive(Deserialize, Serialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ServiceMonitorSettings {
    /// Create the ServiceMonitor (only when its CRD is served; a condition says when not).
    #[serde(default)]
    pub enabled: bool,
    /// Scrape interval, e.g. 30s.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(regex(pattern = r"^[0-9]+(ms|s|m|h)$"))]
    pub interval: Option<String>,
    /// Labels of the ServiceMonitor, e.g. what a Prometheus selects on.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub labels: BTreeMap<String, String>,
}

/// The PrometheusRule of the server's own alerts.
#[derive(Deserialize, Serialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct PrometheusRuleSettings {
    /// Create the PrometheusRule (only when its CRD is served; a condition says when not).
    #[serde(default)]
    pub enabled: bool,
    /// Labels of the PrometheusRule, e.g. what a Prometheus's ruleSelector selects on.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub labels: BTreeMap<String, String>,
}

/// The NetworkPolicy of the server's pods. Ingress is allowed only to the MCP port (8080, the
/// Service's `http`) from `mcpFrom` and to the metrics port (9090, `metrics`: /metrics, /stats,
/// /healthz) from `metricsFrom`; every other ingress to the pods is denied. Only enforced where
/// the cluster's network plugin enforces NetworkPolicies.
#[derive(Deserialize, Serialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Network {
    /// Create the NetworkPolicy. Default true; false deletes one made before.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub network_policy: Option<bool>,
    /// Who may reach the MCP port. Default: every pod in the McpServer's namespace. An empty
    /// list lets no one in.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mcp_from: Option<Vec<NetworkPolicyPeer>>,
    /// Who may reach the metrics port. Default: the namespaces of the operator's
    /// --scrape-namespaces (chart value networkPolicy.scrapeNamespaces, default `monitoring`).
    /// An empty list lets no one in.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub metrics_from: Option<Vec<NetworkPolicyPeer>>,
}

/// What the operator observed.
#[derive(Deserialize, Serialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct McpServerStatus {
    /// The generation of the spec this status describes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_generation: Option<i64>,
    /// Ready, Available, Degraded, ServiceMonitor, and (only while True) Reconciling and Stalled.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub conditions: Vec<Condition>,
    /// The streamable HTTP endpoint inside the cluster.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
    /// Pods of the Deployment.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub replicas: Option<i32>,
    /// Pods that are ready.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ready_replicas: Option<i32>,
    /// Whether callers must authenticate, and as whom they act.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub auth: Option<AuthStatus>,
    /// The label selector of the pods, for the scale subresource (what an HPA selects on).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub selector: Option<String>,
    /// The OTLP endpoint the pods export to, and whose it is.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub telemetry: Option<TelemetryStatus>,
    /// The tools a pod listed in the MCP handshake that made it Ready.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tools: Option<i32>,
}

/// The effective OTLP endpoint.
#[derive(Deserialize, Serialize, Clone, Debug, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct TelemetryStatus {
    pub endpoint: String,
    pub source: EndpointSource,
}

/// Whose the endpoint is: the McpServer's spec.telemetry.endpoint, or the operator's
/// --default-otlp-endpoint.
#[derive(Deserialize, Serialize, Clone, Copy, Debug, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum EndpointSource {
    Spec,
    OperatorDefault,
}

/// The auth the server was configured with.
#[derive(Deserialize, Serialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct AuthStatus {
    /// `off`, or `required (MODE)`: what `kubectl get kmcps` shows.
    pub state: String,
    /// The audience callers' tokens must be issued for, when required.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub audience: Option<String>,
}
