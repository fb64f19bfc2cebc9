//! The McpServer CRD: `crds/` is exactly what crdgen prints, and the real apiserver serves it,
//! accepts every `config/samples/*.yaml` and rejects every `config/samples/invalid/*.yaml` with
//! a message naming the rule. The first two are pure; the apiserver test needs the stack and is
//! reported ignored without the `stack` feature.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "test code: a panic is the failure report"
)]

use std::path::{Path, PathBuf};

use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::CustomResourceExt as _;
use kube::api::{Api, DynamicObject, Patch, PatchParams, PostParams};
use kube::core::{ApiResource, GroupVersionKind};
use kubernetes_mcp_e2e_harness::{Stack, TempNamespace, eventually};
use kubernetes_mcp_operator::api::McpServer;

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .to_owned()
}

fn generated() -> String {
    serde_saphyr::to_string(&McpServer::crd()).unwrap()
}

#[test]
fn crds_directory_is_what_crdgen_prints() {
    let committed =
        std::fs::read_to_string(repo().join("crds/mcpservers.kubernetes-mcp.io.yaml")).unwrap();
    assert!(
        committed == generated(),
        "crds/ is stale: run `cargo run -p kubernetes-mcp-operator --bin crdgen > crds/mcpservers.kubernetes-mcp.io.yaml`"
    );
}

/// The samples of `config/samples` (every one valid: `kubectl apply -f config/samples/`
/// applies them all), or of `config/samples/invalid`.
fn samples(invalid: bool) -> Vec<(String, serde_json::Value)> {
    let dir = if invalid {
        "config/samples/invalid"
    } else {
        "config/samples"
    };
    let mut found: Vec<(String, serde_json::Value)> = std::fs::read_dir(repo().join(dir))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "yaml"))
        .map(|p| {
            let text = std::fs::read_to_string(&p).unwrap();
            (
                p.file_name().unwrap().to_string_lossy().into_owned(),
                serde_saphyr::from_str(&text).unwrap(),
            )
        })
        .collect();
    found.sort_by(|a, b| a.0.cmp(&b.0));
    found
}

#[test]
fn valid_samples_deserialize_into_the_rust_types() {
    let valid = samples(false);
    assert!(valid.len() >= 3);
    for (name, value) in valid {
        serde_json::from_value::<McpServer>(value).unwrap_or_else(|e| panic!("{name}: {e}"));
    }
}

#[tokio::test]
#[cfg_attr(
    not(feature = "stack"),
    ignore = "needs the test stack: e2e/stack.sh run -- cargo test --features stack"
)]
async fn the_apiserver_accepts_valid_samples_and_rejects_invalid_ones() {
    let stack = Stack::get().unwrap();
    let client = stack.client().await.unwrap();
    let crds: Api<CustomResourceDefinition> = Api::all(client.clone());
    crds.patch(
        "mcpservers.kubernetes-mcp.io",
        &PatchParams::apply("crd-test").force(),
        &Patch::Apply(McpServer::crd()),
    )
    .await
    .unwrap();
    let ns = TempNamespace::create(&client, "crd", &[]).await.unwrap();
    let ar = ApiResource::from_gvk_with_plural(
        &GroupVersionKind::gvk("kubernetes-mcp.io", "v1alpha1", "McpServer"),
        "mcpservers",
    );
    let api: Api<DynamicObject> = Api::namespaced_with(client.clone(), &ns.name, &ar);
    let first = samples(false).remove(0).1;
    // The CRD is served once Established.
    eventually("McpServer served", 20, || async {
        let object: DynamicObject = serde_json::from_value(first.clone()).ok()?;
        let created = api
            .create(
                &PostParams {
                    dry_run: true,
                    ..PostParams::default()
                },
                &object,
            )
            .await;
        created.ok()
    })
    .await
    .unwrap();
    for (name, value) in samples(false) {
        let object: DynamicObject = serde_json::from_value(value).unwrap();
        api.create(&PostParams::default(), &object)
            .await
            .unwrap_or_else(|e| panic!("{name} was rejected: {e}"));
    }
    let expected_messages = [
        (
            "auth-mode.yaml",
            "mode passthrough and impersonate act as the caller, so they need required: true",
        ),
        ("ca-secret.yaml", "caSecret needs an https:// endpoint"),
        (
            "cluster-namespaces.yaml",
            "namespaces applies only to scope Namespace",
        ),
        ("endpoint.yaml", "spec.telemetry.endpoint"),
        ("ratio.yaml", "spec.telemetry.tracesSamplerArg"),
        (
            "sampler-arg.yaml",
            "tracesSamplerArg needs tracesSampler traceidratio",
        ),
        ("toolset.yaml", "Unsupported value: \"kiali\""),
    ];
    let invalid = samples(true);
    assert_eq!(invalid.len(), expected_messages.len());
    for ((name, value), (expected_name, message)) in invalid.into_iter().zip(expected_messages) {
        assert_eq!(name, expected_name);
        let object: DynamicObject = serde_json::from_value(value).unwrap();
        let error = api
            .create(&PostParams::default(), &object)
            .await
            .unwrap_err();
        let text = match &error {
            kube::Error::Api(status) => status.message.clone(),
            other => other.to_string(),
        };
        assert!(
            text.contains(message),
            "{name}: expected {message:?} in {text:?}"
        );
    }
    ns.delete().await.unwrap();
}
