//! `helm_install`: checks where the chart comes from (`chart`), then runs `helm install` with
//! the values in a file, `--wait` like the Go server, and answers with the Go server's summary
//! of the release. With `denied_resources` set, a server-side dry run comes first and the
//! install is refused if the chart would create a denied kind (hooks included), as the Go
//! server's access control refuses those requests. Does I/O through `run`.

use serde::Deserialize;
use serde_json::{Map, Value, json};

use super::super::kube::gvk;
use super::super::output::yaml;
use super::super::{Arguments, ToolContext, ToolError};
use super::chart::{self, Chart};
use super::run::{self, Helm, flag};

#[derive(Deserialize)]
struct Args {
    chart: String,
    repo: Option<String>,
    name: Option<String>,
    namespace: Option<String>,
    values: Option<Map<String, Value>>,
}

pub async fn install(ctx: &ToolContext, args: Arguments) -> Result<String, ToolError> {
    let a: Args = args.parse()?;
    let action = format!("install chart {}", a.chart);
    let failed = |message: String| ToolError::Failed {
        action: action.clone(),
        message,
    };
    let located = chart::locate(&a.chart, a.repo.as_deref(), &ctx.helm).map_err(failed)?;
    let target = ctx.target().await?;
    let namespace = target
        .namespace_or_default(a.namespace.as_deref())
        .to_owned();
    let Some(helm) = Helm::prepare(ctx, &namespace)? else {
        return Err(run::missing(&ctx.helm));
    };
    let values =
        serde_json::to_vec(&a.values.unwrap_or_default()).map_err(|e| failed(e.to_string()))?;
    let values = helm
        .dir()
        .write("values.json", &values)
        .map_err(|e| failed(e.to_string()))?;
    let mut flags = vec![flag("--values", values), "--output=json".into()];
    let mut positional = Vec::new();
    match a.name.as_deref().filter(|n| !n.is_empty()) {
        Some(name) => positional.push(name.to_owned()),
        None => flags.push("--generate-name".into()),
    }
    positional.push(match located {
        Chart::Remote(url) => url,
        Chart::InRepository { repo, name } => {
            flags.push(flag("--repo", repo));
            name
        }
        Chart::Local(path) => path
            .to_str()
            .ok_or_else(|| failed("the chart's path is not UTF-8".into()))?
            .to_owned(),
    });
    let positional: Vec<&str> = positional.iter().map(String::as_str).collect();
    if !ctx.denied.is_empty() {
        let mut dry = flags.clone();
        dry.push("--dry-run=server".into());
        let planned = helm
            .run("install", dry, &positional, &ctx.helm, &action)
            .await?;
        check_kinds(ctx, &parse(&planned).map_err(failed)?).map_err(|e| match e {
            ToolError::Denied(kind) => failed(format!(
                "the chart creates {kind}, which denied_resources does not allow"
            )),
            other => other,
        })?;
    }
    flags.push("--wait".into());
    let out = helm
        .run("install", flags, &positional, &ctx.helm, &action)
        .await?;
    Ok(yaml(&json!([summary(&parse(&out).map_err(failed)?)])))
}

fn parse(out: &str) -> Result<Value, String> {
    serde_json::from_str(out).map_err(|e| format!("helm's answer is not a release: {e}"))
}

/// Every object of the release, its hooks' too, must be of a kind `denied_resources` allows.
fn check_kinds(ctx: &ToolContext, release: &Value) -> Result<(), ToolError> {
    let hooks = release["hooks"].as_array().into_iter().flatten();
    let manifests = std::iter::once(&release["manifest"]).chain(hooks.map(|h| &h["manifest"]));
    for manifest in manifests.filter_map(Value::as_str) {
        let documents: Vec<Value> = serde_saphyr::from_str_multiple(manifest).map_err(|e| {
            ToolError::InvalidArguments(format!("the chart renders invalid YAML: {e}"))
        })?;
        for object in documents.iter().filter(|d| d.is_object()) {
            let field = |k: &str| object[k].as_str().unwrap_or_default();
            ctx.check_allowed(&gvk(field("apiVersion"), field("kind"))?)?;
        }
    }
    Ok(())
}

/// The Go server's answer (`simplify`): who the release is and how it stands.
fn summary(release: &Value) -> Value {
    let metadata = &release["chart"]["metadata"];
    json!({
        "name": release["name"],
        "namespace": release["namespace"],
        "revision": release["version"],
        "chart": metadata["name"],
        "chartVersion": metadata["version"],
        "appVersion": metadata["appVersion"],
        "status": release["info"]["status"],
        "lastDeployed": release["info"]["last_deployed"],
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_summary_is_the_go_servers() {
        let release = json!({
            "name": "web-1", "namespace": "apps", "version": 1,
            "info": {"status": "deployed", "last_deployed": "2026-12-03T18:00:00Z"},
            "chart": {"metadata": {"name": "web", "version": "0.1.0", "appVersion": "1.0"}, "templates": []},
            "manifest": "---\nkind: ConfigMap", "config": {"password": "x"}
        });
        insta::assert_snapshot!(yaml(&json!([summary(&release)])), @r#"
        - appVersion: "1.0"
          chart: web
          chartVersion: "0.1.0"
          lastDeployed: "2026-12-03T18:00:00Z"
          name: web-1
          namespace: apps
          revision: 1
          status: deployed
        "#);
    }
}
