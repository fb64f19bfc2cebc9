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

use rmcp::model::CallToolRequestParams;
use serde::Serialize;
use serde_json::{Map, Value};

use crate::auth::Caller;
use crate::config::auth::ClusterAuthMode;
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

    /// Starts the line of a call (`trace_id`: its span's); [`Pending::finish`] writes it.
    pub fn begin(&self, request: &CallToolRequestParams, trace_id: Option<String>) -> Pending<'_> {
        Pending {
            log: self,
            tool: request.name.to_string(),
            target: target_of(request.arguments.as_ref()),
            trace_id,
        }
    }

    /// Writes one line; a failed write is a warning, never a failed call.
    fn record(&self, entry: &Entry<'_>) {
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

/// What a line knows when its call starts (the arguments are gone once the tool has them).
pub struct Pending<'a> {
    log: &'a AuditLog,
    tool: String,
    target: Option<Map<String, Value>>,
    trace_id: Option<String>,
}

impl Pending<'_> {
    /// Writes the line of a call that ended with `outcome` after `elapsed`.
    pub fn finish(
        self,
        caller: Option<&Caller>,
        request_id: Option<&Value>,
        outcome: Outcome,
        elapsed: Duration,
    ) {
        self.log.record(&Entry {
            time: k8s_openapi::jiff::Timestamp::now().to_string(),
            user: caller.map(|c| User {
                username: &c.identity.username,
                uid: &c.identity.uid,
                groups: &c.identity.groups,
            }),
            auth_mode: caller
                .map_or(ClusterAuthMode::Kubeconfig, |c| c.mode)
                .as_str(),
            tool: &self.tool,
            target: self.target,
            outcome: outcome_name(outcome),
            duration_ms: elapsed.as_secs_f64() * 1000.0,
            trace_id: self.trace_id,
            jsonrpc_id: request_id,
        });
    }
}

/// One audit line (see the module docs for the fields).
#[derive(Debug, Serialize)]
struct Entry<'a> {
    time: String,
    user: Option<User<'a>>,
    auth_mode: &'static str,
    tool: &'a str,
    target: Option<Map<String, Value>>,
    outcome: &'static str,
    duration_ms: f64,
    trace_id: Option<String>,
    jsonrpc_id: Option<&'a Value>,
}

#[derive(Debug, Serialize)]
struct User<'a> {
    username: &'a str,
    uid: &'a str,
    groups: &'a [String],
}

/// `outcome` of a line.
fn outcome_name(outcome: Outcome) -> &'static str {
    match outcome {
        Outcome::Ok => "ok",
        Outcome::ToolError => "tool_error",
        Outcome::ProtocolError => "protocol_error",
    }
}

/// The object a call's arguments name: only `apiVersion`, `kind`, `namespace` and `name`, and
/// only when they are strings.
fn target_of(arguments: Option<&Map<String, Value>>) -> Option<Map<String, Value>> {
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
    use std::sync::Arc;

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

    /// A log whose lines land in memory.
    fn log_in_memory() -> (AuditLog, Arc<Mutex<Vec<u8>>>) {
        #[derive(Clone)]
        struct Memory(Arc<Mutex<Vec<u8>>>);
        impl Write for Memory {
            fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
                self.0.lock().unwrap().extend_from_slice(buf);
                Ok(buf.len())
            }
            fn flush(&mut self) -> std::io::Result<()> {
                Ok(())
            }
        }
        let memory = Memory(Arc::default());
        let log = AuditLog {
            sink: Mutex::new(Box::new(memory.clone())),
        };
        (log, memory.0)
    }

    #[test]
    fn a_line_has_every_documented_field_and_no_other() {
        let (log, written) = log_in_memory();
        let caller = Caller::for_test(
            Identity {
                username: "system:serviceaccount:team:agent".into(),
                uid: "u-1".into(),
                groups: vec!["system:serviceaccounts".into()],
                extra: [("secret-ish".to_owned(), vec!["x".to_owned()])].into(),
            },
            ClusterAuthMode::Impersonate,
        );
        let mut request = CallToolRequestParams::new("resources_get");
        request.arguments =
            json!({"apiVersion": "v1", "kind": "Secret", "name": "db", "resource": "s3cr3t"})
                .as_object()
                .cloned();
        let trace = "0af7651916cd43dd8448eb211c80319c";
        log.begin(&request, Some(trace.into())).finish(
            Some(&caller),
            Some(&json!(7)),
            Outcome::ToolError,
            Duration::from_millis(12),
        );
        log.begin(&CallToolRequestParams::new("nope"), None).finish(
            None,
            None,
            Outcome::ProtocolError,
            Duration::ZERO,
        );
        let text = String::from_utf8(written.lock().unwrap().clone()).unwrap();
        let lines: Vec<Value> = text
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
        let [line, anonymous] = lines.try_into().unwrap();
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
        assert_eq!(
            line["target"],
            json!({"apiVersion": "v1", "kind": "Secret", "name": "db"})
        );
        assert_eq!(
            (
                line["tool"].as_str(),
                line["auth_mode"].as_str(),
                line["outcome"].as_str()
            ),
            (
                Some("resources_get"),
                Some("impersonate"),
                Some("tool_error")
            )
        );
        assert_eq!(
            (line["duration_ms"].as_f64(), line["jsonrpc_id"].as_i64()),
            (Some(12.0), Some(7))
        );
        assert_eq!(line["trace_id"], trace);
        assert!(line["time"].as_str().unwrap().ends_with('Z'));
        assert!(!text.contains("s3cr3t"));
        assert_eq!(
            (
                &anonymous["user"],
                &anonymous["auth_mode"],
                &anonymous["outcome"]
            ),
            (&Value::Null, &json!("kubeconfig"), &json!("protocol_error"))
        );
    }
}
