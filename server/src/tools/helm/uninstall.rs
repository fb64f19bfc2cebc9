//! `helm_uninstall`: delegated to `helm uninstall --wait` when helm is found (hooks run, the
//! resource policy and Helm's order are Helm's own). Without helm, or with `denied_resources`
//! set (each delete is then checked first), this server does what Helm does but run hooks: the
//! release's objects are deleted in Helm's uninstall order (`UninstallOrder` of Helm v3's
//! `kind_sorter.go`), objects annotated `helm.sh/resource-policy: keep` are left, and the
//! release history is removed. Does I/O against the apiserver or through `run`.

use k8s_openapi::api::core::v1::Secret;
use kube::api::{DeleteParams, ListParams};
use serde::Deserialize;
use serde_json::Value;

use super::super::kube::{delete, gvk, namespaced, resolve};
use super::super::{Arguments, ToolContext, ToolError};
use super::run::Helm;
use super::storage::{Releases, latest, releases};

/// Helm v3.22's `releaseutil.UninstallOrder`; kinds not listed go last, by kind then name.
const UNINSTALL_ORDER: &[&str] = &[
    "APIService",
    "Ingress",
    "IngressClass",
    "Service",
    "CronJob",
    "Job",
    "StatefulSet",
    "HorizontalPodAutoscaler",
    "Deployment",
    "ReplicaSet",
    "ReplicationController",
    "Pod",
    "DaemonSet",
    "RoleBindingList",
    "RoleBinding",
    "RoleList",
    "Role",
    "ClusterRoleBindingList",
    "ClusterRoleBinding",
    "ClusterRoleList",
    "ClusterRole",
    "CustomResourceDefinition",
    "PersistentVolumeClaim",
    "PersistentVolume",
    "StorageClass",
    "ConfigMap",
    "SecretList",
    "Secret",
    "ServiceAccount",
    "PodDisruptionBudget",
    "PodSecurityPolicy",
    "LimitRange",
    "ResourceQuota",
    "NetworkPolicy",
    "Namespace",
    "PriorityClass",
];

/// One object of a release's manifest.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Object {
    api_version: String,
    kind: String,
    name: String,
    namespace: Option<String>,
}

/// The release's objects: those to delete, in order, and those the resource policy keeps.
#[derive(Debug, Default, PartialEq, Eq)]
struct Plan {
    delete: Vec<Object>,
    kept: Vec<Object>,
}

/// Helm's `filterManifestsToKeep` over Helm's kind order. As in Helm, an object with a
/// `helm.sh/resource-policy` annotation other than `keep` is neither kept nor deleted.
fn plan(documents: &[Value]) -> Plan {
    let mut objects: Vec<(Object, Option<String>)> = documents
        .iter()
        .filter(|d| d.is_object())
        .map(|d| {
            let text = |p: &str| d.pointer(p).and_then(Value::as_str);
            let object = Object {
                api_version: text("/apiVersion").unwrap_or_default().to_owned(),
                kind: text("/kind").unwrap_or_default().to_owned(),
                name: text("/metadata/name").unwrap_or_default().to_owned(),
                namespace: text("/metadata/namespace").map(str::to_owned),
            };
            let policy = text("/metadata/annotations/helm.sh~1resource-policy")
                .map(|p| p.trim().to_lowercase());
            (object, policy)
        })
        .collect();
    let rank = |kind: &str| UNINSTALL_ORDER.iter().position(|k| *k == kind);
    objects.sort_by(|(a, _), (b, _)| match (rank(&a.kind), rank(&b.kind)) {
        (Some(x), Some(y)) if x != y => x.cmp(&y),
        (Some(_), None) => std::cmp::Ordering::Less,
        (None, Some(_)) => std::cmp::Ordering::Greater,
        _ => a.kind.cmp(&b.kind).then_with(|| a.name.cmp(&b.name)),
    });
    let mut out = Plan::default();
    for (object, policy) in objects {
        match policy.as_deref() {
            None => out.delete.push(object),
            Some("keep") => out.kept.push(object),
            Some(_) => {}
        }
    }
    out
}

pub async fn uninstall(ctx: &ToolContext, args: Arguments) -> Result<String, ToolError> {
    #[derive(Deserialize)]
    struct Args {
        name: String,
        namespace: Option<String>,
    }
    let a: Args = args.parse()?;
    let target = ctx.target().await?;
    let ns = target
        .namespace_or_default(a.namespace.as_deref())
        .to_owned();
    let action = format!("uninstall release {}", a.name);
    if ctx.denied.is_empty()
        && let Some(helm) = Helm::prepare(ctx, &ns)?
    {
        let out = helm
            .run(
                "uninstall",
                vec!["--wait".into()],
                &[&a.name],
                &ctx.helm,
                &action,
            )
            .await?;
        return Ok(out.trim().to_owned());
    }
    let Releases { found, unreadable } = releases(ctx, Some(&ns), Some(&a.name)).await?;
    let Some(release) = latest(found).pop() else {
        let mut message = format!("release {} not found in namespace {ns}", a.name);
        for u in unreadable {
            message = format!("{message}; {u}");
        }
        return Err(ToolError::Failed { action, message });
    };
    // A manifest that does not parse must not lose the history while its objects stay.
    let documents: Vec<Value> =
        serde_saphyr::from_str_multiple(&release.manifest).map_err(|e| ToolError::Failed {
            action: action.clone(),
            message: format!("its manifest is not YAML: {e}"),
        })?;
    let Plan {
        delete: doomed,
        kept,
    } = plan(&documents);
    // Refuse before deleting anything, not half way; and resolve every kind now, while the
    // release's own CRDs still exist (the custom resources go after them, as in Helm).
    for o in &doomed {
        resolve(ctx, &gvk(&o.api_version, &o.kind)?, &action).await?;
    }
    let mut lines = vec![format!(
        "Uninstalled release {} from namespace {ns} without helm (its hooks were not run)",
        a.name
    )];
    for o in &doomed {
        let namespace = o.namespace.as_deref().unwrap_or(&ns);
        match delete(
            ctx,
            &gvk(&o.api_version, &o.kind)?,
            Some(namespace),
            &o.name,
            None,
        )
        .await
        {
            Ok(msg) => lines.push(msg),
            // Already gone is what uninstall wants.
            Err(ToolError::Api {
                source: kube::Error::Api(s),
                ..
            }) if s.code == 404 => {}
            Err(e) => return Err(e),
        }
    }
    let (secrets, _) = namespaced::<Secret>(ctx, Some(&ns)).await?;
    secrets
        .delete_collection(
            &DeleteParams::default(),
            &ListParams::default().labels(&format!("owner=helm,name={}", a.name)),
        )
        .await
        .map_err(ToolError::api(format!(
            "delete history of release {}",
            a.name
        )))?;
    if !kept.is_empty() {
        lines.push("These resources were kept due to the resource policy:".into());
        lines.extend(kept.iter().map(|o| format!("[{}] {}", o.kind, o.name)));
    }
    Ok(lines.join("\n"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn helms_order_and_the_keep_policy() {
        let documents: Vec<Value> = serde_saphyr::from_str_multiple(
            r"
apiVersion: v1
kind: ConfigMap
metadata: {name: b}
---
apiVersion: example.io/v1
kind: Widget
metadata: {name: w}
---
apiVersion: v1
kind: PersistentVolumeClaim
metadata:
  name: data
  annotations: {helm.sh/resource-policy: ' Keep '}
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: web, namespace: other}
---
apiVersion: v1
kind: Service
metadata: {name: web}
---
apiVersion: v1
kind: ConfigMap
metadata:
  name: a
  annotations: {helm.sh/resource-policy: delete}
---
apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata: {name: widgets.example.io}
",
        )
        .unwrap();
        let p = plan(&documents);
        let order: Vec<String> = p
            .delete
            .iter()
            .map(|o| format!("{}/{}", o.kind, o.name))
            .collect();
        assert_eq!(
            order,
            [
                "Service/web",
                "Deployment/web",
                "CustomResourceDefinition/widgets.example.io",
                "ConfigMap/b",
                "Widget/w"
            ]
        );
        assert_eq!(p.delete[1].namespace.as_deref(), Some("other"));
        assert_eq!(p.kept.len(), 1);
        assert_eq!(p.kept[0].name, "data");
    }
}
