//! Keeps Secret values out of tool output: the values of a Secret's `data` and `stringData`
//! become [`MARKER`] (the keys stay, so a model still sees what a Secret holds), and the
//! `last-applied-configuration` annotation, which `kubectl apply` fills with the values in
//! clear, is dropped. Applied to every object a tool prints unless the configuration sets
//! `redact_secrets = false`. Pure.

use serde_json::Value;

/// What a redacted value reads as.
pub const MARKER: &str = "***";

/// The annotation in which `kubectl apply` keeps the whole applied object, values included.
const LAST_APPLIED: &str = "kubectl.kubernetes.io/last-applied-configuration";

/// Redacts `object` if it is a Secret, judged by its own `kind` or, when it carries none (the
/// items of a list do not), by `kind`, the kind the tool asked for. The items of a list are
/// judged the same way, a `SecretList`'s items being Secrets.
pub fn secrets(object: &mut Value, kind: &str) {
    let own = object
        .get("kind")
        .and_then(Value::as_str)
        .unwrap_or(kind)
        .to_owned();
    if own == "Secret" {
        secret(object);
    }
    let item_kind = own.strip_suffix("List").unwrap_or(kind);
    if let Some(items) = object.get_mut("items").and_then(Value::as_array_mut) {
        for item in items {
            secrets(item, item_kind);
        }
    }
}

/// Redacts one object known to be a Secret.
pub fn secret(object: &mut Value) {
    for field in ["data", "stringData"] {
        if let Some(values) = object.get_mut(field).and_then(Value::as_object_mut) {
            for value in values.values_mut() {
                *value = Value::String(MARKER.to_owned());
            }
        }
    }
    if let Some(annotations) = object
        .pointer_mut("/metadata/annotations")
        .and_then(Value::as_object_mut)
    {
        annotations.remove(LAST_APPLIED);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn applied_secret() -> Value {
        json!({
            "apiVersion": "v1",
            "kind": "Secret",
            "metadata": {"name": "db", "annotations": {
                LAST_APPLIED: "{\"stringData\":{\"password\":\"hunter2\"}}",
                "team": "a",
            }},
            "data": {"password": "aHVudGVyMg==", "user": "YWRtaW4="},
            "stringData": {"token": "hunter2"},
            "type": "Opaque",
        })
    }

    #[test]
    fn a_secret_keeps_its_keys_and_loses_its_values() {
        let mut s = applied_secret();
        secrets(&mut s, "Secret");
        assert_eq!(
            s,
            json!({
                "apiVersion": "v1",
                "kind": "Secret",
                "metadata": {"name": "db", "annotations": {"team": "a"}},
                "data": {"password": "***", "user": "***"},
                "stringData": {"token": "***"},
                "type": "Opaque",
            })
        );
    }

    #[test]
    fn list_items_without_a_kind_are_judged_by_the_kind_asked_for() {
        let mut item = applied_secret();
        item.as_object_mut().unwrap().remove("kind");
        let mut list = json!({"kind": "SecretList", "items": [item.clone()]});
        secrets(&mut list, "Secret");
        assert_eq!(list["items"][0]["data"]["password"], MARKER);

        let mut bare = item;
        secrets(&mut bare, "Secret");
        assert_eq!(bare["stringData"]["token"], MARKER);
    }

    #[test]
    fn a_list_of_mixed_kinds_redacts_only_its_secrets() {
        let config_map = json!({
            "apiVersion": "v1", "kind": "ConfigMap",
            "metadata": {"name": "c", "annotations": {LAST_APPLIED: "{}"}},
            "data": {"password": "plain"},
        });
        let mut list = json!({"kind": "List", "items": [config_map.clone(), applied_secret()]});
        secrets(&mut list, "List");
        assert_eq!(list["items"][0], config_map, "a ConfigMap is untouched");
        assert_eq!(list["items"][1]["data"]["user"], MARKER);
        assert!(
            list["items"][1]
                .pointer("/metadata/annotations/kubectl.kubernetes.io~1last-applied-configuration")
                .is_none()
        );
    }

    #[test]
    fn other_kinds_are_untouched_even_with_a_data_field() {
        let original = json!({"kind": "ConfigMap", "data": {"k": "v"}});
        let mut object = original.clone();
        secrets(&mut object, "Secret");
        assert_eq!(object, original, "its own kind wins over the one asked for");
        let mut without_kind = json!({"data": {"k": "v"}});
        secrets(&mut without_kind, "ConfigMap");
        assert_eq!(without_kind, json!({"data": {"k": "v"}}));
    }
}
