//! Confirmation rules at run time, as in the Go server: before a tool runs (tool-level rules) and
//! before each apiserver request a tool makes (kube-level rules, through the per-call client of
//! `guard.rs`), a matching rule asks the user over MCP elicitation. Accept goes on; decline,
//! cancel or a failed question stop the action with "action requires confirmation". A client without the elicitation capability gets `confirmation_fallback`
//! (allow, logged; or deny). Does I/O: the elicitation round trip to the client.

use std::sync::{Arc, Mutex};

use kube::core::GroupVersionKind;
use rmcp::RoleServer;
use rmcp::model::{ElicitRequestParams, ElicitationAction, ElicitationSchema};
use rmcp::service::{ElicitationMode, Peer};

use crate::config::confirm::{ConfirmationRules, Fallback, KubeRequest};

/// Go's answer when the user says no, or the fallback denies.
pub const DENIED: &str = "action requires confirmation";

/// Asks the user of one tool call's session.
pub struct Confirmer {
    rules: Arc<ConfirmationRules>,
    peer: Option<Peer<RoleServer>>,
    /// The kinds the call declared (group, version, plural, kind), to name the kind of a request.
    kinds: Mutex<Vec<(GroupVersionKind, String)>>,
}

impl Confirmer {
    pub fn new(rules: Arc<ConfirmationRules>, peer: Option<Peer<RoleServer>>) -> Self {
        Self {
            rules,
            peer,
            kinds: Mutex::default(),
        }
    }

    /// Whether requests must go through the guarded client.
    pub fn watches_requests(&self) -> bool {
        self.rules.has_kube_rules()
    }

    /// Tool-level rules for a call of `tool`.
    pub async fn tool(&self, tool: &str, destructive: bool) -> Result<(), String> {
        match self.rules.for_tool(tool, destructive) {
            Some(message) => self.ask(message).await,
            None => Ok(()),
        }
    }

    /// Remembers that the call reaches `gvk` under `plural`, so a request to that resource is
    /// matched with its kind.
    pub fn note_kind(&self, gvk: &GroupVersionKind, plural: &str) {
        if !self.watches_requests() {
            return;
        }
        if let Ok(mut kinds) = self.kinds.lock() {
            kinds.push((gvk.clone(), plural.to_owned()));
        }
    }

    fn kind_of(&self, group: &str, version: &str, plural: &str) -> String {
        self.kinds
            .lock()
            .ok()
            .and_then(|kinds| {
                kinds
                    .iter()
                    .rev()
                    .find(|(g, p)| g.group == group && g.version == version && p == plural)
                    .map(|(g, _)| g.kind.clone())
            })
            .unwrap_or_default()
    }

    /// Kube-level rules for one apiserver request.
    pub async fn request(&self, request: &KubeRequest<'_>) -> Result<(), String> {
        if !self.watches_requests() {
            return Ok(());
        }
        let kind = self.kind_of(request.group, request.version, request.resource);
        let request = KubeRequest {
            kind: &kind,
            ..*request
        };
        match self.rules.for_request(&request) {
            Some(message) => self.ask(message).await,
            None => Ok(()),
        }
    }

    async fn ask(&self, message: String) -> Result<(), String> {
        match self.elicit(message.clone()).await {
            Ok(Consent::Accepted) => Ok(()),
            Ok(Consent::Declined) => Err(DENIED.to_owned()),
            Ok(Consent::Unsupported) => match self.rules.fallback {
                Fallback::Deny => Err(DENIED.to_owned()),
                Fallback::Allow => {
                    tracing::warn!(%message, "confirmation rules matched but the client does not support elicitation; proceeding (confirmation_fallback = \"allow\")");
                    Ok(())
                }
            },
            Err(e) => Err(format!("{DENIED}: {e}")),
        }
    }

    /// Asks the user `message` (a yes/no form); `Unsupported` when the client cannot be asked,
    /// `Err` when asking failed.
    pub async fn elicit(&self, message: String) -> Result<Consent, String> {
        let peer = self.peer.as_ref().filter(|p| {
            p.supported_elicitation_modes()
                .contains(&ElicitationMode::Form)
        });
        let Some(peer) = peer else {
            return Ok(Consent::Unsupported);
        };
        let answer = peer
            .create_elicitation(ElicitRequestParams::FormElicitationParams {
                meta: None,
                message,
                requested_schema: ElicitationSchema::new(std::collections::BTreeMap::new()),
            })
            .await
            .map_err(|e| format!("asking the client failed: {e}"))?;
        Ok(match answer.action {
            ElicitationAction::Accept => Consent::Accepted,
            // Decline, cancel, and whatever a later protocol adds.
            _ => Consent::Declined,
        })
    }
}

/// The user's answer to [`Confirmer::elicit`].
#[derive(Debug)]
pub enum Consent {
    Accepted,
    Declined,
    /// The client cannot be asked (no form elicitation).
    Unsupported,
}
