//! Printing results for a model: YAML (objects without `managedFields`) and tables in the shape
//! of `kubectl get -o wide --show-labels` built from the apiserver's server-side `Table`, with
//! APIVERSION and KIND columns like the Go server's. Pure.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use kube::core::ListMeta;
use serde::Deserialize;
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

/// A `meta.k8s.io/v1` Table response as far as it is printed. Rows carry their object's
/// metadata (`includeObject=Metadata`, the default); of it only the namespace and the labels
/// are kept (NAMESPACE and LABELS columns): the rest (`managedFields`, annotations such as a
/// Secret's last-applied configuration) is skipped while parsing, never held nor printed.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Table {
    #[serde(default)]
    pub metadata: ListMeta,
    #[serde(default)]
    column_definitions: Vec<Column>,
    #[serde(default)]
    rows: Vec<Row>,
}

#[derive(Debug, Deserialize)]
struct Column {
    name: Option<String>,
}

#[derive(Debug, Deserialize)]
struct Row {
    #[serde(default)]
    cells: Vec<Value>,
    object: Option<RowObject>,
}

#[derive(Debug, Deserialize)]
struct RowObject {
    metadata: Option<RowMetadata>,
}

#[derive(Debug, Deserialize)]
struct RowMetadata {
    namespace: Option<String>,
    labels: Option<BTreeMap<String, String>>,
}

impl Row {
    fn metadata(&self) -> Option<&RowMetadata> {
        self.object.as_ref()?.metadata.as_ref()
    }
}

/// Renders a `meta.k8s.io/v1` Table response.
pub fn table(table: &Table, api_version: &str, kind: &str) -> String {
    let columns: Vec<&str> = table
        .column_definitions
        .iter()
        .map(|d| d.name.as_deref().unwrap_or(""))
        .collect();
    let rows = &table.rows;
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
        line.extend(row.cells.iter().map(cell));
        line.push(labels_of(row));
        lines.push(line);
    }
    align(&lines)
}

fn namespace_of(row: &Row) -> &str {
    row.metadata()
        .and_then(|m| m.namespace.as_deref())
        .unwrap_or("")
}

fn labels_of(row: &Row) -> String {
    match row.metadata().and_then(|m| m.labels.as_ref()) {
        Some(labels) if !labels.is_empty() => {
            // Sorted as `key=value` strings, as kubectl does (not by key alone).
            let mut pairs: Vec<String> = labels.iter().map(|(k, v)| format!("{k}={v}")).collect();
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

    fn parsed(value: Value) -> Table {
        serde_json::from_value(value).unwrap()
    }

    #[test]
    fn table_has_namespace_apiversion_kind_and_labels() {
        let t = parsed(json!({
            "kind": "Table",
            "columnDefinitions": [{"name": "Name"}, {"name": "Ready"}, {"name": "IP", "priority": 1}],
            "rows": [
                {"cells": ["web", "1/1", "10.244.0.2"], "object": {"metadata": {"namespace": "ns1", "labels": {"b": "2", "a": "1"}}}},
                {"cells": ["db-long-name", "0/1", null], "object": {"metadata": {"namespace": "ns2"}}}
            ]
        }));
        insta::assert_snapshot!(table(&t, "v1", "Pod"), @r"
        NAMESPACE   APIVERSION   KIND   NAME           READY   IP           LABELS
        ns1         v1           Pod    web            1/1     10.244.0.2   a=1,b=2
        ns2         v1           Pod    db-long-name   0/1     <none>       <none>
        ");
    }

    #[test]
    fn cluster_scoped_table_has_no_namespace_column() {
        let t = parsed(json!({
            "columnDefinitions": [{"name": "Name"}, {"name": "Status"}],
            "rows": [{"cells": ["default", "Active"], "object": {"metadata": {"name": "default"}}}]
        }));
        let out = table(&t, "v1", "Namespace");
        assert!(out.starts_with("APIVERSION"), "{out}");
    }

    #[test]
    fn empty_table_says_so() {
        assert_eq!(
            table(&parsed(json!({"rows": []})), "v1", "Pod"),
            "No resources found"
        );
    }

    #[test]
    fn a_table_of_secrets_prints_no_value() {
        let t = parsed(json!({
            "kind": "Table",
            "metadata": {"continue": "more", "remainingItemCount": 7},
            "columnDefinitions": [{"name": "Name"}, {"name": "Type"}, {"name": "Data"}],
            "rows": [{"cells": ["db", "Opaque", 3], "object": {
                "kind": "PartialObjectMetadata",
                "metadata": {"name": "db", "managedFields": [{"manager": "kubectl"}], "annotations": {
                    "kubectl.kubernetes.io/last-applied-configuration": "{\"stringData\":{\"password\":\"hunter2\"}}",
                }},
            }}],
        }));
        assert_eq!(t.metadata.remaining_item_count, Some(7));
        let printed = table(&t, "v1", "Secret");
        assert!(
            printed.contains("db") && !printed.contains("hunter2"),
            "{printed}"
        );
    }

    #[test]
    fn tidy_drops_managed_fields_only() {
        let o = tidy(json!({"metadata": {"name": "x", "managedFields": [{}]}, "spec": {}}));
        assert_eq!(o, json!({"metadata": {"name": "x"}, "spec": {}}));
    }
}
