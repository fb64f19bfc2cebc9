//! The audit trail: one JSON line per tool call, to stderr or to `audit_log` (`--audit-log
//! PATH`, appended). On when `require_oauth` is on or `audit_log` is set. Each line has:
//!
//! | field         | value                                                                    |
//! |---------------|--------------------------------------------------------------------------|
//! | `time`        | when the call ended, RFC 3339 UTC                                        |
//! | `user`        | `{username, uid, groups}` the TokenReview gave; `null` without auth      |
//! | `auth_mode`   | as whom the call reached the apiserver: `kubeconfig`, `passthrough`, `impersonate` |
//! | `tool`        | the tool name as called                                                  |
//! | `target`      | `{apiVersion, kind, namespace, name}`, those the arguments name; `null` if none |
//! | `outcome`     | `ok`, `tool_error` (the tool ran and failed) or `protocol_error` (no such tool) |
//! | `duration_ms` | how long the call took                                                   |
//! | `trace_id`    | the tool span's trace id (32 hex), `null` when tracing is off           |
//! | `jsonrpc_id`  | the JSON-RPC id of the `tools/call` request                              |
//!
//! Never argument values other than those four names, never results, error texts or tokens, so
//! no Secret value or manifest reaches the log. Writing is blocking I/O of one short line.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::Duration;

use serde::Serialize;
use serde_json::{Map, Value};

use crate::auth::Caller;
use crate::auth::settings::ClusterAuthMode;
use crate::observe::Outcome;

#[derive(Debug, thiserror::Error)]
#[error("opening audit log {path}: {source}")]
pub struct AuditError {
    path: PathBuf,
    #[source]
    source: std::io::Error,
}

pub struct AuditLog {
    sink: Mutex<Box<dyn Write + Send>>,
}

impl AuditLog {
    /// The log when auditing is on: `path` (created or appended), else stderr.
    pub fn open(enabled: bool, path: Option<&Path>) -> Result<Option<Self>, AuditError> {
        let sink: Box<dyn Write + Send> = match path {
            Some(path) => Box::new(
                std::fs::OpenOptions::new()
                    .create(true)
                    .append(true)
                    .open(path)
                    .map_err(|source| AuditError {
                        path: path.to_owned(),
                        source,
                    })?,
            ),
            None if enabled => Box::new(std::io::stderr()),
            None => return Ok(None),
        };
        Ok(Some(Self {
            sink: Mutex::new(sink),
        }))
    }

    /// Writes one line; a failed write is a warning, never a failed call.
    pub fn record(&self, entry: &Entry<'_>) {
        let mut line = serde_json::to_vec(entry).unwrap_or_default();
        line.push(b'\n');
        let mut sink = self
            .sink
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if let Err(e) = sink.write_all(&line).and_then(|()| sink.flush()) {
            tracing::warn!(error = %e, "cannot write the audit log");
        }
    }
}

/// One audit line (see the module docs for the fields).
#[derive(Debug, Serialize)]
pub struct Entry<'a> {
    pub time: String,
    pub user: Option<User<'a>>,
    pub auth_mode: &'static str,
    pub tool: &'a str,
    pub target: Option<Map<String, Value>>,
    pub outcome: &'static str,
    pub duration_ms: f64,
    pub trace_id: Option<String>,
    pub jsonrpc_id: Option<&'a Value>,
}

#[derive(Debug, Serialize)]
pub struct User<'a> {
    pub username: &'a str,
    pub uid: &'a str,
    pub groups: &'a [String],
}

impl<'a> Entry<'a> {
    /// The line for a call that took `elapsed`; `time` is now.
    pub fn new(
        tool: &'a str,
        caller: Option<&'a Caller>,
        target: Option<Map<String, Value>>,
        elapsed: Duration,
    ) -> Self {
        Self {
            time: k8s_openapi::jiff::Timestamp::now().to_string(),
            user: caller.map(|c| User {
                username: &c.identity.username,
                uid: &c.identity.uid,
                groups: &c.identity.groups,
            }),
            auth_mode: caller
                .map_or(ClusterAuthMode::Kubeconfig, |c| c.mode)
                .as_str(),
            tool,
            target,
            outcome: "ok",
            duration_ms: elapsed.as_secs_f64() * 1000.0,
            trace_id: None,
            jsonrpc_id: None,
        }
    }
}

/// `outcome` of a line.
pub fn outcome_name(outcome: Outcome) -> &'static str {
    match outcome {
        Outcome::Ok => "ok",
        Outcome::ToolError => "tool_error",
        Outcome::ProtocolError => "protocol_error",
    }
}

/// The object a call's arguments name: only `apiVersion`, `kind`, `namespace` and `name`, and
/// only when they are strings.
pub fn target_of(arguments: Option<&Map<String, Value>>) -> Option<Map<String, Value>> {
    let arguments = arguments?;
    let named: Map<String, Value> = ["apiVersion", "kind", "namespace", "name"]
        .into_iter()
        .filter_map(|key| match arguments.get(key) {
            Some(Value::String(s)) if !s.is_empty() => {
                Some((key.to_owned(), Value::from(s.clone())))
            }
            _ => None,
        })
        .collect();
    (!named.is_empty()).then_some(named)
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::auth::Identity;

    #[test]
    fn only_the_naming_arguments_are_kept() {
        let arguments = json!({"apiVersion": "v1", "kind": "Secret", "namespace": "team", "name": "db",
                               "resource": "data: {password: c2VjcmV0}", "command": ["cat"], "context": ""});
        assert_eq!(
            Value::Object(target_of(arguments.as_object()).unwrap()),
            json!({"apiVersion": "v1", "kind": "Secret", "namespace": "team", "name": "db"})
        );
        assert_eq!(target_of(json!({"resource": "x"}).as_object()), None);
        assert_eq!(target_of(None), None);
    }

    #[test]
    fn a_line_has_every_documented_field() {
        let caller = Caller::for_test(
            Identity {
                username: "system:serviceaccount:team:agent".into(),
                uid: "u-1".into(),
                groups: vec!["system:serviceaccounts".into()],
                extra: [("secret-ish".to_owned(), vec!["x".to_owned()])].into(),
            },
            ClusterAuthMode::Impersonate,
        );
        let id = json!(7);
        let mut entry = Entry::new(
            "pods_get",
            Some(&caller),
            target_of(json!({"namespace": "team", "name": "web"}).as_object()),
            Duration::from_millis(12),
        );
        entry.outcome = outcome_name(Outcome::ToolError);
        entry.trace_id = Some("0af7651916cd43dd8448eb211c80319c".into());
        entry.jsonrpc_id = Some(&id);
        let line = serde_json::to_value(&entry).unwrap();
        let mut fields: Vec<&str> = line
            .as_object()
            .unwrap()
            .keys()
            .map(String::as_str)
            .collect();
        fields.sort_unstable();
        assert_eq!(
            fields,
            [
                "auth_mode",
                "duration_ms",
                "jsonrpc_id",
                "outcome",
                "target",
                "time",
                "tool",
                "trace_id",
                "user"
            ]
        );
        assert_eq!(
            line["user"],
            json!({"username": "system:serviceaccount:team:agent", "uid": "u-1", "groups": ["system:serviceaccounts"]})
        );
        assert_eq!(line["auth_mode"], "impersonate");
        assert_eq!(line["duration_ms"], 12.0);
        assert!(line["time"].as_str().unwrap().ends_with('Z'));
        let anonymous = serde_json::to_value(Entry::new("x", None, None, Duration::ZERO)).unwrap();
        assert_eq!(anonymous["user"], Value::Null);
        assert_eq!(anonymous["auth_mode"], "kubeconfig");
    }
}
