//! `[[confirmation_rules]]` and `confirmation_fallback`, as the Go server reads and matches them:
//! a rule is tool-level (`tool`, `destructive`: asked once before the tool runs) or kube-level
//! (`verb`, `kind`, `group`, `version`, `name`, `namespace`: asked before each matching
//! apiserver request), never both; every field it sets must match; the messages of several
//! matching rules are merged into one question. Pure.

use serde::Deserialize;

use super::ConfigError;

/// One rule, as written.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConfirmationRule {
    pub tool: Option<String>,
    pub destructive: Option<bool>,
    pub verb: Option<String>,
    pub kind: Option<String>,
    pub group: Option<String>,
    pub version: Option<String>,
    pub name: Option<String>,
    pub namespace: Option<String>,
    #[serde(default)]
    pub message: String,
}

/// What happens when a rule matches and the client cannot be asked (no elicitation capability).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Fallback {
    /// Go's default: go ahead, with a warning in the log.
    #[default]
    Allow,
    Deny,
}

/// An apiserver request as rules and access reviews see it (`kind` empty when not known).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct KubeRequest<'a> {
    pub verb: &'a str,
    pub kind: &'a str,
    pub group: &'a str,
    pub version: &'a str,
    pub resource: &'a str,
    pub subresource: &'a str,
    pub name: &'a str,
    pub namespace: &'a str,
}

/// The checked rules and the fallback.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ConfirmationRules {
    rules: Vec<ConfirmationRule>,
    pub fallback: Fallback,
}

fn set(field: Option<&String>) -> bool {
    field.is_some_and(|v| !v.is_empty())
}

fn matches(field: Option<&String>, value: &str) -> bool {
    field.is_none_or(|f| f.is_empty() || f == value)
}

impl ConfirmationRule {
    fn is_tool_level(&self) -> bool {
        set(self.tool.as_ref()) || self.destructive.is_some()
    }

    fn is_kube_level(&self) -> bool {
        [
            &self.verb,
            &self.kind,
            &self.group,
            &self.version,
            &self.name,
            &self.namespace,
        ]
        .into_iter()
        .any(|f| set(f.as_ref()))
    }
}

impl ConfirmationRules {
    /// Checks each rule as Go does (tool-level or kube-level, not both, not neither).
    pub fn new(rules: Vec<ConfirmationRule>, fallback: Fallback) -> Result<Self, ConfigError> {
        for rule in &rules {
            let message = match (rule.is_tool_level(), rule.is_kube_level()) {
                (true, true) => {
                    "mixes tool-level fields (tool, destructive) with kube-level fields (verb, kind, group, version, name, namespace)"
                }
                (false, false) => {
                    "must set at least one tool-level field (tool, destructive) or kube-level field (verb, kind, group, version, name, namespace)"
                }
                _ => continue,
            };
            return Err(ConfigError::Invalid {
                key: "confirmation_rules",
                message: format!("confirmation rule {message}: {:?}", rule.message),
            });
        }
        Ok(Self { rules, fallback })
    }

    /// Whether any rule looks at apiserver requests.
    pub fn has_kube_rules(&self) -> bool {
        self.rules.iter().any(ConfirmationRule::is_kube_level)
    }

    /// The question for a call of `tool`, if a tool-level rule matches it.
    pub fn for_tool(&self, tool: &str, destructive: bool) -> Option<String> {
        merge(self.rules.iter().filter(|r| {
            r.is_tool_level()
                && matches(r.tool.as_ref(), tool)
                && r.destructive.is_none_or(|d| d == destructive)
        }))
    }

    /// The question for an apiserver request, if a kube-level rule matches it.
    pub fn for_request(&self, request: &KubeRequest<'_>) -> Option<String> {
        merge(self.rules.iter().filter(|r| {
            r.is_kube_level()
                && matches(r.verb.as_ref(), request.verb)
                && matches(r.kind.as_ref(), request.kind)
                && matches(r.group.as_ref(), request.group)
                && matches(r.version.as_ref(), request.version)
                && matches(r.name.as_ref(), request.name)
                && matches(r.namespace.as_ref(), request.namespace)
        }))
    }
}

/// One rule: its message; several: Go's bulleted list.
fn merge<'a>(matched: impl Iterator<Item = &'a ConfirmationRule>) -> Option<String> {
    let messages: Vec<&str> = matched.map(|r| r.message.as_str()).collect();
    match messages.as_slice() {
        [] => None,
        [one] => Some((*one).to_owned()),
        many => Some(format!("Confirmation required:\n- {}", many.join("\n- "))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rules(toml: &str) -> Result<ConfirmationRules, ConfigError> {
        #[derive(Deserialize)]
        struct File {
            confirmation_rules: Vec<ConfirmationRule>,
        }
        let file: File = toml::from_str(toml).unwrap();
        ConfirmationRules::new(file.confirmation_rules, Fallback::Deny)
    }

    #[test]
    fn rules_match_as_in_go_and_merge_their_messages() {
        let r = rules(
            r#"
            [[confirmation_rules]]
            tool = "pods_delete"
            message = "Delete this pod?"
            [[confirmation_rules]]
            destructive = true
            message = "Destructive."
            [[confirmation_rules]]
            verb = "delete"
            kind = "Secret"
            namespace = "prod"
            message = "Delete a Secret in prod?"
            "#,
        )
        .unwrap();
        assert_eq!(
            r.for_tool("pods_delete", true).as_deref(),
            Some("Confirmation required:\n- Delete this pod?\n- Destructive.")
        );
        assert_eq!(
            r.for_tool("resources_delete", true).as_deref(),
            Some("Destructive.")
        );
        assert_eq!(r.for_tool("pods_list", false), None);
        let secret = KubeRequest {
            verb: "delete",
            kind: "Secret",
            version: "v1",
            name: "db",
            namespace: "prod",
            ..KubeRequest::default()
        };
        assert_eq!(
            r.for_request(&secret).as_deref(),
            Some("Delete a Secret in prod?")
        );
        assert_eq!(
            r.for_request(&KubeRequest {
                namespace: "dev",
                ..secret
            }),
            None
        );
        assert!(r.has_kube_rules());
    }

    #[test]
    fn a_rule_must_be_one_level() {
        let err = rules("[[confirmation_rules]]\ntool = \"x\"\nverb = \"get\"\nmessage = \"m\"")
            .unwrap_err()
            .to_string();
        assert!(err.contains("mixes tool-level"), "{err}");
        let err = rules("[[confirmation_rules]]\nmessage = \"m\"")
            .unwrap_err()
            .to_string();
        assert!(err.contains("at least one"), "{err}");
    }
}
