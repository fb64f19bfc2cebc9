//! The `[response_limits]` table and its flags: how large one tool answer may be, how many
//! objects one list call fetches and how many log lines one log call reads, with per-tool
//! overrides (`[response_limits.<tool>]`), under the Go server's key names. Pure.

use std::collections::BTreeMap;

use serde::Deserialize;

/// Just under the 1 MiB SSE event the official Python SDK accepts, so that an answer, its
/// JSON-RPC envelope and its escaping still reach that client.
pub const DEFAULT_MAX_TOOL_RESPONSE_BYTES: usize = 1_000_000;
/// The Go server's page size: enough to see a namespace, small enough to stay far from the
/// response bound for typical objects.
pub const DEFAULT_MAX_LIST_PAGE_SIZE: u32 = 200;
/// The Go server's log bound; a model reads the end of a log, rarely more.
pub const DEFAULT_MAX_LOG_TAIL_LINES: u32 = 1000;

/// One set of limits as written in TOML; every key optional (a per-tool table overrides only
/// what it names).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LimitValues {
    pub max_tool_response_bytes: Option<usize>,
    pub max_list_page_size: Option<u32>,
    pub max_log_tail_lines: Option<u32>,
}

/// `[response_limits]` as written: the defaults, and one table per tool name.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct ResponseLimitsFile {
    #[serde(flatten)]
    pub defaults: LimitValues,
    /// Any other key must be a tool's table of the same three keys.
    #[serde(flatten)]
    pub tools: BTreeMap<String, LimitValues>,
}

/// The limits on the command line (they win over `[response_limits]`, not over per-tool
/// tables).
#[derive(Debug, Clone, Default, clap::Args)]
pub struct LimitFlags {
    /// Longest tool answer in bytes (as sent, JSON-escaped); longer answers are cut with a note.
    /// 0: no limit.
    #[arg(long)]
    pub max_tool_response_bytes: Option<usize>,
    /// Most objects one list call fetches from the apiserver (its `limit`). 0: no limit.
    #[arg(long)]
    pub max_list_page_size: Option<u32>,
    /// Most log lines one log call reads (a larger or absent tail is capped). 0: no limit.
    #[arg(long)]
    pub max_log_tail_lines: Option<u32>,
}

/// The limits of one tool call, every default applied; 0 in the file means no limit (`None`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    pub max_tool_response_bytes: Option<usize>,
    pub max_list_page_size: Option<u32>,
    pub max_log_tail_lines: Option<u32>,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            max_tool_response_bytes: Some(DEFAULT_MAX_TOOL_RESPONSE_BYTES),
            max_list_page_size: Some(DEFAULT_MAX_LIST_PAGE_SIZE),
            max_log_tail_lines: Some(DEFAULT_MAX_LOG_TAIL_LINES),
        }
    }
}

impl Limits {
    fn over(self, values: LimitValues) -> Self {
        Self {
            max_tool_response_bytes: pick(
                values.max_tool_response_bytes,
                self.max_tool_response_bytes,
            ),
            max_list_page_size: pick(values.max_list_page_size, self.max_list_page_size),
            max_log_tail_lines: pick(values.max_log_tail_lines, self.max_log_tail_lines),
        }
    }
}

/// A written value over the one below it; a written 0 lifts the limit.
fn pick<T: Copy + Default + PartialEq>(set: Option<T>, base: Option<T>) -> Option<T> {
    match set {
        Some(n) if n == T::default() => None,
        Some(n) => Some(n),
        None => base,
    }
}

/// Every tool's limits: the defaults (file, then flags, over the built-in ones) and the
/// per-tool overrides.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ResponseLimits {
    defaults: Limits,
    per_tool: BTreeMap<String, Limits>,
}

impl ResponseLimits {
    pub fn resolve(file: ResponseLimitsFile, flags: &LimitFlags) -> Self {
        let flag_values = LimitValues {
            max_tool_response_bytes: flags.max_tool_response_bytes,
            max_list_page_size: flags.max_list_page_size,
            max_log_tail_lines: flags.max_log_tail_lines,
        };
        let defaults = Limits::default().over(file.defaults).over(flag_values);
        let per_tool = file
            .tools
            .into_iter()
            .map(|(tool, values)| (tool, defaults.over(values)))
            .collect();
        Self { defaults, per_tool }
    }

    /// The limits of `tool`.
    pub fn for_tool(&self, tool: &str) -> Limits {
        self.per_tool.get(tool).copied().unwrap_or(self.defaults)
    }

    /// The tool names that have their own table, to check against the catalogue.
    pub fn tools(&self) -> impl Iterator<Item = &str> {
        self.per_tool.keys().map(String::as_str)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<ResponseLimitsFile, toml::de::Error> {
        toml::from_str(text)
    }

    #[test]
    fn built_in_defaults_are_the_go_servers_except_the_sdk_safe_response_size() {
        let limits = ResponseLimits::default().for_tool("pods_log");
        assert_eq!(limits.max_tool_response_bytes, Some(1_000_000));
        assert_eq!(limits.max_list_page_size, Some(200));
        assert_eq!(limits.max_log_tail_lines, Some(1000));
    }

    #[test]
    fn per_tool_tables_override_only_what_they_name_and_zero_means_no_limit() {
        let file = parse(
            "max_list_page_size = 50\n[pods_log]\nmax_log_tail_lines = 0\n[resources_list]\nmax_tool_response_bytes = 2048\n",
        )
        .unwrap();
        let limits = ResponseLimits::resolve(file, &LimitFlags::default());
        assert_eq!(limits.for_tool("pods_log").max_log_tail_lines, None);
        assert_eq!(limits.for_tool("pods_log").max_list_page_size, Some(50));
        let list = limits.for_tool("resources_list");
        assert_eq!(list.max_tool_response_bytes, Some(2048));
        assert_eq!(list.max_list_page_size, Some(50));
        assert_eq!(limits.for_tool("pods_get"), limits.defaults);
        assert_eq!(
            limits.tools().collect::<Vec<_>>(),
            ["pods_log", "resources_list"]
        );
    }

    #[test]
    fn flags_win_over_the_file_defaults() {
        let file = parse("max_log_tail_lines = 10").unwrap();
        let flags = LimitFlags {
            max_log_tail_lines: Some(20),
            ..LimitFlags::default()
        };
        let limits = ResponseLimits::resolve(file, &flags);
        assert_eq!(limits.for_tool("pods_log").max_log_tail_lines, Some(20));
    }

    #[test]
    fn a_misspelt_key_is_an_error() {
        assert!(parse("max_tool_respons_bytes = 5").is_err());
        assert!(parse("[pods_log]\nmax_tail = 5").is_err());
    }
}
