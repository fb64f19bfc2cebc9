//! Each part of the test stack does what the other tests rely on, against the real components:
//! the apiserver (objects, CRDs, RBAC with TokenRequest), kube-controller-manager (Deployments,
//! EndpointSlices), the collector (spans from the Python OpenTelemetry SDK) and Prometheus (a
//! ServiceMonitor turned into a scrape by the real prometheus-operator). Every test here needs the
//! stack: without the `stack` feature they are reported ignored.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "test code: a panic is the failure report"
)]

use k8s_openapi::api::apps::v1::{Deployment, ReplicaSet};
use k8s_openapi::api::core::v1::{ConfigMap, Pod, Service, ServiceAccount};
use k8s_openapi::api::discovery::v1::EndpointSlice;
use k8s_openapi::api::rbac::v1::{Role, RoleBinding};
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::Client;
use kube::api::{Api, DeleteParams, DynamicObject, ListParams, PostParams};
use kube::core::{ApiResource, GroupVersionKind};
use kubernetes_mcp_e2e_harness::{
    ChildGuard, Stack, TempNamespace, eventually, kubelet, next_pod_ip,
};
use serde_json::json;

fn from_json<T: serde::de::DeserializeOwned>(value: serde_json::Value) -> T {
    serde_json::from_value(value).expect("test object is valid")
}

async fn setup(prefix: &str) -> (Stack, Client, TempNamespace) {
    let stack = Stack::get().expect("inside the stack");
    let client = stack.client().await.expect("admin client");
    let ns = TempNamespace::create(&client, prefix, &[])
        .await
        .expect("namespace");
    (stack, client, ns)
}

#[tokio::test]
#[cfg_attr(
    not(feature = "stack"),
    ignore = "needs the test stack: e2e/stack.sh run -- cargo test --features stack"
)]
async fn objects_are_created_listed_and_deleted() {
    let (_stack, client, ns) = setup("objects").await;
    let api: Api<ConfigMap> = Api::namespaced(client.clone(), &ns.name);
    let cm: ConfigMap =
        from_json(json!({"metadata": {"name": "greeting"}, "data": {"hello": "world"}}));
    api.create(&PostParams::default(), &cm).await.unwrap();
    let listed = api
        .list(&ListParams::default().fields("metadata.name=greeting"))
        .await
        .unwrap();
    assert_eq!(listed.items.len(), 1);
    assert_eq!(listed.items[0].data.as_ref().unwrap()["hello"], "world");
    api.delete("greeting", &DeleteParams::default())
        .await
        .unwrap();
    assert!(api.get_opt("greeting").await.unwrap().is_none());
    ns.delete().await.unwrap();
}

#[tokio::test]
#[cfg_attr(
    not(feature = "stack"),
    ignore = "needs the test stack: e2e/stack.sh run -- cargo test --features stack"
)]
async fn a_crd_is_installed_and_served() {
    let (_stack, client, ns) = setup("crd").await;
    let group = format!("{}.e2e.kubernetes-mcp.io", ns.name);
    let crd: CustomResourceDefinition = from_json(json!({
        "metadata": {"name": format!("widgets.{group}")},
        "spec": {
            "group": group, "scope": "Namespaced",
            "names": {"plural": "widgets", "singular": "widget", "kind": "Widget"},
            "versions": [{"name": "v1", "served": true, "storage": true,
                "schema": {"openAPIV3Schema": {"type": "object", "properties": {"spec": {"type": "object", "properties": {"size": {"type": "integer"}}}}}}}]
        }
    }));
    let crds: Api<CustomResourceDefinition> = Api::all(client.clone());
    crds.create(&PostParams::default(), &crd).await.unwrap();
    let ar = ApiResource::from_gvk_with_plural(
        &GroupVersionKind::gvk(&group, "v1", "Widget"),
        "widgets",
    );
    let widgets: Api<DynamicObject> = Api::namespaced_with(client.clone(), &ns.name, &ar);
    let widget: DynamicObject = from_json(json!({
        "apiVersion": format!("{group}/v1"), "kind": "Widget",
        "metadata": {"name": "w1"}, "spec": {"size": 3}
    }));
    // Served once Established: retry until the apiserver knows the new resource.
    eventually("widget created", 20, || async {
        widgets.create(&PostParams::default(), &widget).await.ok()
    })
    .await
    .unwrap();
    let got = widgets.get("w1").await.unwrap();
    assert_eq!(got.data["spec"]["size"], 3);
    crds.delete(&format!("widgets.{group}"), &DeleteParams::default())
        .await
        .unwrap();
    ns.delete().await.unwrap();
}

#[tokio::test]
#[cfg_attr(
    not(feature = "stack"),
    ignore = "needs the test stack: e2e/stack.sh run -- cargo test --features stack"
)]
async fn rbac_denies_a_token_until_a_role_binding_allows_it() {
    let (stack, client, ns) = setup("rbac").await;
    let other = TempNamespace::create(&client, "rbac-other", &[])
        .await
        .unwrap();
    let sas: Api<ServiceAccount> = Api::namespaced(client.clone(), &ns.name);
    sas.create(
        &PostParams::default(),
        &from_json(json!({"metadata": {"name": "reader"}})),
    )
    .await
    .unwrap();
    let request = json!({"apiVersion": "authentication.k8s.io/v1", "kind": "TokenRequest", "spec": {"expirationSeconds": 600}});
    let token: serde_json::Value = sas
        .create_subresource("token", "reader", &PostParams::default(), &request)
        .await
        .unwrap();
    let token = token["status"]["token"].as_str().unwrap().to_owned();
    let as_reader = stack.client_with_token(&token).await.unwrap();
    let pods_here: Api<Pod> = Api::namespaced(as_reader.clone(), &ns.name);
    let denied = pods_here.list(&ListParams::default()).await.unwrap_err();
    assert!(
        matches!(&denied, kube::Error::Api(s) if s.code == 403),
        "{denied:?}"
    );

    let role: Role = from_json(json!({"metadata": {"name": "pod-reader"},
        "rules": [{"apiGroups": [""], "resources": ["pods"], "verbs": ["get", "list"]}]}));
    Api::<Role>::namespaced(client.clone(), &ns.name)
        .create(&PostParams::default(), &role)
        .await
        .unwrap();
    let binding: RoleBinding = from_json(json!({"metadata": {"name": "reader"},
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": "pod-reader"},
        "subjects": [{"kind": "ServiceAccount", "name": "reader", "namespace": ns.name}]}));
    Api::<RoleBinding>::namespaced(client.clone(), &ns.name)
        .create(&PostParams::default(), &binding)
        .await
        .unwrap();
    eventually("the RoleBinding takes effect", 10, || async {
        pods_here.list(&ListParams::default()).await.ok()
    })
    .await
    .unwrap();
    let pods_elsewhere: Api<Pod> = Api::namespaced(as_reader, &other.name);
    let denied = pods_elsewhere
        .list(&ListParams::default())
        .await
        .unwrap_err();
    assert!(
        matches!(&denied, kube::Error::Api(s) if s.code == 403),
        "{denied:?}"
    );
    other.delete().await.unwrap();
    ns.delete().await.unwrap();
}

fn web_deployment(replicas: i32) -> Deployment {
    from_json(json!({
        "metadata": {"name": "web"},
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": {"app": "web"}},
            "template": {"metadata": {"labels": {"app": "web"}},
                "spec": {"containers": [{"name": "web", "image": "registry.invalid/web:1"}]}}
        }
    }))
}

#[tokio::test]
#[cfg_attr(
    not(feature = "stack"),
    ignore = "needs the test stack: e2e/stack.sh run -- cargo test --features stack"
)]
async fn a_deployment_gets_its_replicaset_and_pods() {
    let (_stack, client, ns) = setup("deploy").await;
    Api::<Deployment>::namespaced(client.clone(), &ns.name)
        .create(&PostParams::default(), &web_deployment(2))
        .await
        .unwrap();
    let replicasets: Api<ReplicaSet> = Api::namespaced(client.clone(), &ns.name);
    eventually("a ReplicaSet", 20, || async {
        let list = replicasets.list(&ListParams::default()).await.ok()?;
        (list.items.len() == 1).then_some(())
    })
    .await
    .unwrap();
    let pods: Api<Pod> = Api::namespaced(client.clone(), &ns.name);
    let created = eventually("two Pods", 20, || async {
        let list = pods
            .list(&ListParams::default().labels("app=web"))
            .await
            .ok()?;
        (list.items.len() == 2).then_some(list.items)
    })
    .await
    .unwrap();
    let owner = &created[0].metadata.owner_references.as_ref().unwrap()[0];
    assert_eq!(owner.kind, "ReplicaSet");
    ns.delete().await.unwrap();
}

/// A Service selecting one Pod named `name`, which the "kubelet" marks running on a pod IP.
async fn running_pod_behind_service(
    stack: &Stack,
    client: &Client,
    ns: &str,
    name: &str,
    port: u16,
) -> std::net::Ipv4Addr {
    let pod: Pod = from_json(json!({
        "metadata": {"name": name, "labels": {"app": name}},
        "spec": {"containers": [{"name": "main", "image": "registry.invalid/main:1",
            "ports": [{"name": "metrics", "containerPort": port}]}]}
    }));
    Api::<Pod>::namespaced(client.clone(), ns)
        .create(&PostParams::default(), &pod)
        .await
        .unwrap();
    let service: Service = from_json(json!({
        "metadata": {"name": name, "labels": {"app": name}},
        "spec": {"selector": {"app": name}, "ports": [{"name": "metrics", "port": port, "targetPort": port}]}
    }));
    Api::<Service>::namespaced(client.clone(), ns)
        .create(&PostParams::default(), &service)
        .await
        .unwrap();
    let ip = next_pod_ip(&stack.state_dir).unwrap();
    kubelet::set_pod_running(client, ns, name, &stack.node_name, ip)
        .await
        .unwrap();
    ip
}

#[tokio::test]
#[cfg_attr(
    not(feature = "stack"),
    ignore = "needs the test stack: e2e/stack.sh run -- cargo test --features stack"
)]
async fn a_ready_pod_ip_appears_in_its_services_endpointslice() {
    let (stack, client, ns) = setup("endpoints").await;
    let ip = running_pod_behind_service(&stack, &client, &ns.name, "echo", 8080).await;
    let slices: Api<EndpointSlice> = Api::namespaced(client.clone(), &ns.name);
    let addresses = eventually("an EndpointSlice with the pod IP", 20, || async {
        let list = slices
            .list(&ListParams::default().labels("kubernetes.io/service-name=echo"))
            .await
            .ok()?;
        let addresses: Vec<String> = list
            .items
            .iter()
            .flat_map(|s| s.endpoints.iter().flatten())
            .filter(|e| e.conditions.as_ref().and_then(|c| c.ready) == Some(true))
            .flat_map(|e| e.addresses.clone())
            .collect();
        (!addresses.is_empty()).then_some(addresses)
    })
    .await
    .unwrap();
    assert_eq!(addresses, vec![ip.to_string()]);
    ns.delete().await.unwrap();
}

#[tokio::test]
#[cfg_attr(
    not(feature = "stack"),
    ignore = "needs the test stack: e2e/stack.sh run -- cargo test --features stack"
)]
async fn spans_from_the_python_sdk_reach_the_collector_over_grpc_and_http() {
    let stack = Stack::get().unwrap();
    let marker = format!("stack-test-{}", std::process::id());
    let script = r#"
import sys
from opentelemetry import trace
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter as Grpc
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter as Http
marker, grpc_endpoint, http_endpoint = sys.argv[1:4]
for protocol, exporter in (("grpc", Grpc(endpoint=grpc_endpoint, insecure=True)),
                           ("http", Http(endpoint=http_endpoint + "/v1/traces"))):
    provider = TracerProvider(resource=Resource.create({"service.name": marker}))
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    with provider.get_tracer("stack-test").start_as_current_span(f"{marker} {protocol}") as span:
        span.set_attribute("protocol", protocol)
    provider.shutdown()
"#;
    let status = tokio::process::Command::new(&stack.python)
        .args([
            "-c",
            script,
            &marker,
            &stack.otlp_grpc_endpoint,
            &stack.otlp_http_endpoint,
        ])
        .status()
        .await
        .unwrap();
    assert!(status.success());
    let spans = stack
        .collector()
        .wait_for_spans("spans over both protocols", 2, 10, |s| {
            s.resource_str("service.name") == Some(&marker)
        })
        .await
        .unwrap();
    let mut names: Vec<&str> = spans.iter().map(|s| s.name.as_str()).collect();
    names.sort_unstable();
    assert_eq!(
        names,
        vec![format!("{marker} grpc"), format!("{marker} http")]
    );
    assert!(
        spans
            .iter()
            .all(|s| s.trace_id.len() == 32 && s.end_unix_nano >= s.start_unix_nano)
    );
}

#[tokio::test]
#[cfg_attr(
    not(feature = "stack"),
    ignore = "needs the test stack: e2e/stack.sh run -- cargo test --features stack"
)]
async fn a_servicemonitor_makes_prometheus_scrape_the_pod() {
    let (stack, client, ns) = setup("scrape").await;
    let name = "exporter";
    let ip = running_pod_behind_service(&stack, &client, &ns.name, name, 9464).await;
    // A real exporter on the pod IP: the Python prometheus_client's own HTTP server.
    let script = "import sys, time, prometheus_client as p\n\
        p.Counter('stack_test_requests', 'test counter').inc(7)\n\
        p.start_http_server(int(sys.argv[2]), addr=sys.argv[1])\n\
        time.sleep(300)\n";
    let mut command = tokio::process::Command::new(&stack.python);
    command.args(["-c", script, &ip.to_string(), "9464"]);
    let _exporter = ChildGuard::spawn("exporter", command).unwrap();

    let monitor = ApiResource::from_gvk_with_plural(
        &GroupVersionKind::gvk("monitoring.coreos.com", "v1", "ServiceMonitor"),
        "servicemonitors",
    );
    let sm: DynamicObject = from_json(json!({
        "apiVersion": "monitoring.coreos.com/v1", "kind": "ServiceMonitor",
        "metadata": {"name": name},
        "spec": {"selector": {"matchLabels": {"app": name}}, "endpoints": [{"port": "metrics", "interval": "1s"}]}
    }));
    Api::<DynamicObject>::namespaced_with(client.clone(), &ns.name, &monitor)
        .create(&PostParams::default(), &sm)
        .await
        .unwrap();
    let prometheus = stack.prometheus();
    let query = format!("up{{job=\"{name}\", namespace=\"{}\"}} == 1", ns.name);
    let up = match prometheus.wait_for(&query, 1, 40).await {
        Ok(up) => up,
        Err(e) => panic!(
            "{e}; targets: {}",
            prometheus.targets().await.unwrap_or_default()
        ),
    };
    assert_eq!(up[0].labels["instance"], format!("{ip}:9464"));
    let counter = prometheus
        .wait_for(
            &format!("stack_test_requests_total{{namespace=\"{}\"}}", ns.name),
            1,
            10,
        )
        .await
        .unwrap();
    assert!((counter[0].value - 7.0).abs() < f64::EPSILON);
    ns.delete().await.unwrap();
}
