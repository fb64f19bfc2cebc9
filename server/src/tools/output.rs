//! Printing results for a model: YAML (objects without `managedFields`) and tables in the shape
//! of `kubectl get -o wide --show-labels` built from the apiserver's server-side `Table`, with
//! APIVERSION and KIND columns like the Go server's. Pure.

use std::fmt::Write as _;

use serde_json::Value;

/// YAML of any JSON value; on the (unexpected) failure, pretty JSON, which is also YAML.
pub fn yaml(value: &Value) -> String {
    serde_saphyr::to_string(value)
        .unwrap_or_else(|_| serde_json::to_string_pretty(value).unwrap_or_default())
}

/// Removes what only adds noise for a reader: `metadata.managedFields`.
pub fn tidy(mut object: Value) -> Value {
    if let Some(metadata) = object.get_mut("metadata").and_then(Value::as_object_mut) {
        metadata.remove("managedFields");
    }
    object
}

/// Renders a `meta.k8s.io/v1` Table response. Rows carry their object's metadata
/// (`includeObject=Metadata`, the default), used for the NAMESPACE and LABELS columns.
pub fn table(table: &Value, api_version: &str, kind: &str) -> String {
    let columns: Vec<&str> = table
        .get("columnDefinitions")
        .and_then(Value::as_array)
        .map(|defs| {
            defs.iter()
                .map(|d| d.get("name").and_then(Value::as_str).unwrap_or(""))
                .collect()
        })
        .unwrap_or_default();
    let rows = table
        .get("rows")
        .and_then(Value::as_array)
        .map_or(&[][..], Vec::as_slice);
    if rows.is_empty() {
        return "No resources found".to_owned();
    }
    let with_namespace = rows.iter().any(|r| !namespace_of(r).is_empty());

    let mut header: Vec<String> = Vec::new();
    if with_namespace {
        header.push("NAMESPACE".into());
    }
    header.extend(["APIVERSION".to_owned(), "KIND".to_owned()]);
    header.extend(columns.iter().map(|c| c.to_uppercase()));
    header.push("LABELS".into());

    let mut lines = vec![header];
    for row in rows {
        let mut line = Vec::with_capacity(lines[0].len());
        if with_namespace {
            line.push(namespace_of(row).to_owned());
        }
        line.push(api_version.to_owned());
        line.push(kind.to_owned());
        let cells = row
            .get("cells")
            .and_then(Value::as_array)
            .map_or(&[][..], Vec::as_slice);
        line.extend(cells.iter().map(cell));
        line.push(labels_of(row));
        lines.push(line);
    }
    align(&lines)
}

fn namespace_of(row: &Value) -> &str {
    row.pointer("/object/metadata/namespace")
        .and_then(Value::as_str)
        .unwrap_or("")
}

fn labels_of(row: &Value) -> String {
    match row
        .pointer("/object/metadata/labels")
        .and_then(Value::as_object)
    {
        Some(labels) if !labels.is_empty() => {
            let mut pairs: Vec<String> = labels
                .iter()
                .map(|(k, v)| format!("{k}={}", v.as_str().unwrap_or_default()))
                .collect();
            pairs.sort();
            pairs.join(",")
        }
        _ => "<none>".to_owned(),
    }
}

fn cell(value: &Value) -> String {
    match value {
        Value::Null => "<none>".to_owned(),
        Value::String(s) if s.is_empty() => "<none>".to_owned(),
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// Columns padded to their widest cell plus three spaces, as kubectl's tabwriter does.
fn align(lines: &[Vec<String>]) -> String {
    let columns = lines.iter().map(Vec::len).max().unwrap_or(0);
    let widths: Vec<usize> = (0..columns)
        .map(|i| {
            lines
                .iter()
                .filter_map(|l| l.get(i))
                .map(|c| c.chars().count())
                .max()
                .unwrap_or(0)
        })
        .collect();
    let mut out = String::new();
    for line in lines {
        let last = line.len().saturating_sub(1);
        for (i, cell) in line.iter().enumerate() {
            if i == last {
                out.push_str(cell);
            } else {
                let _ = write!(out, "{cell:<width$}", width = widths[i] + 3);
            }
        }
        out.push('\n');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn table_has_namespace_apiversion_kind_and_labels() {
        let t = json!({
            "kind": "Table",
            "columnDefinitions": [{"name": "Name"}, {"name": "Ready"}, {"name": "IP", "priority": 1}],
            "rows": [
                {"cells": ["web", "1/1", "10.244.0.2"], "object": {"metadata": {"namespace": "ns1", "labels": {"b": "2", "a": "1"}}}},
                {"cells": ["db-long-name", "0/1", null], "object": {"metadata": {"namespace": "ns2"}}}
            ]
        });
        insta::assert_snapshot!(table(&t, "v1", "Pod"), @r"
        NAMESPACE   APIVERSION   KIND   NAME           READY   IP           LABELS
        ns1         v1           Pod    web            1/1     10.244.0.2   a=1,b=2
        ns2         v1           Pod    db-long-name   0/1     <none>       <none>
        ");
    }

    #[test]
    fn cluster_scoped_table_has_no_namespace_column() {
        let t = json!({
            "columnDefinitions": [{"name": "Name"}, {"name": "Status"}],
            "rows": [{"cells": ["default", "Active"], "object": {"metadata": {"name": "default"}}}]
        });
        let out = table(&t, "v1", "Namespace");
        assert!(out.starts_with("APIVERSION"), "{out}");
    }

    #[test]
    fn empty_table_says_so() {
        assert_eq!(
            table(&json!({"rows": []}), "v1", "Pod"),
            "No resources found"
        );
    }

    #[test]
    fn tidy_drops_managed_fields_only() {
        let o = tidy(json!({"metadata": {"name": "x", "managedFields": [{}]}, "spec": {}}));
        assert_eq!(o, json!({"metadata": {"name": "x"}, "spec": {}}));
    }
}
