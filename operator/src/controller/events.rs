//! Kubernetes Events about one McpServer: failures (Warning), repaired children, status
//! changes and cleanup (Normal). Does I/O; a failure to publish is logged, never fatal.

use k8s_openapi::api::core::v1::ObjectReference;
use kube::runtime::events::{Event, EventType, Recorder, Reporter};
use kube::{Client, Resource as _};

use super::memory::ChildKey;
use crate::api::McpServer;

/// Events about one McpServer.
pub struct Events {
    recorder: Recorder,
    reference: ObjectReference,
}

impl Events {
    pub fn new(client: Client, reporter: Reporter, mcp: &McpServer) -> Self {
        Self {
            recorder: Recorder::new(client, reporter),
            reference: mcp.object_ref(&()),
        }
    }

    pub async fn publish(&self, type_: EventType, reason: &str, note: String) {
        let event = Event {
            type_,
            reason: reason.to_owned(),
            note: Some(truncated(note)),
            action: "Reconcile".into(),
            secondary: None,
        };
        if let Err(e) = self.recorder.publish(&event, &self.reference).await {
            tracing::warn!(error = %e, reason, "publishing an Event");
        }
    }

    /// A child someone deleted or replaced was applied again.
    pub async fn recreated(&self, (kind, namespace, name): ChildKey) {
        let place = if namespace.is_empty() {
            name
        } else {
            format!("{namespace}/{name}")
        };
        self.publish(
            EventType::Normal,
            "Recreated",
            format!("{kind} {place} had been deleted or replaced; applied again"),
        )
        .await;
    }
}

/// The apiserver refuses an Event whose note exceeds 1 kB (an RBAC refusal quotes every rule):
/// the note keeps what fits, the Degraded condition the whole message.
fn truncated(mut note: String) -> String {
    const MAX: usize = 1024;
    if note.len() > MAX {
        let mut end = MAX - '…'.len_utf8();
        while !note.is_char_boundary(end) {
            end -= 1;
        }
        note.truncate(end);
        note.push('…');
    }
    note
}

#[cfg(test)]
mod tests {
    #[test]
    fn notes_fit_the_apiservers_limit() {
        let long = "é".repeat(1000);
        let note = super::truncated(long);
        assert!(note.len() <= 1024 && note.ends_with('…'), "{}", note.len());
        assert_eq!(super::truncated("short".into()), "short");
    }
}
