//! The tools a server must list in `tools/list` for the toolsets and filters its spec asks for:
//! the server's toolset → tools mapping, as the operator knows it (a test compares it with the
//! server's own registry, so the two cannot drift apart), and what a handshake's answer lacks.
//! Pure.

use std::collections::BTreeSet;

use crate::api::Toolset;

/// One tool of the server: its name, toolset and whether the read-only and no-destructive
/// filters keep it (`readOnlyHint`, `destructiveHint`).
struct Tool {
    name: &'static str,
    toolset: Toolset,
    read_only: bool,
    destructive: bool,
}

const fn tool(name: &'static str, toolset: Toolset, read_only: bool, destructive: bool) -> Tool {
    Tool {
        name,
        toolset,
        read_only,
        destructive,
    }
}

/// Every tool of the server image this operator version ships with.
const TOOLS: [Tool; 35] = [
    tool("configuration_view", Toolset::Config, true, false),
    tool("events_list", Toolset::Core, true, false),
    tool("helm_install", Toolset::Helm, false, false),
    tool("helm_list", Toolset::Helm, true, false),
    tool("helm_uninstall", Toolset::Helm, false, true),
    tool("namespaces_list", Toolset::Core, true, false),
    tool("nodes_log", Toolset::Core, true, false),
    tool("nodes_stats_summary", Toolset::Core, true, false),
    tool("nodes_top", Toolset::Core, true, false),
    tool("pods_delete", Toolset::Core, false, true),
    tool("pods_exec", Toolset::Core, false, true),
    tool("pods_get", Toolset::Core, true, false),
    tool("pods_list", Toolset::Core, true, false),
    tool("pods_list_in_namespace", Toolset::Core, true, false),
    tool("pods_log", Toolset::Core, true, false),
    tool("pods_run", Toolset::Core, false, false),
    tool("pods_top", Toolset::Core, true, false),
    tool("projects_list", Toolset::Core, true, false),
    tool("resources_create_or_update", Toolset::Core, false, true),
    tool("resources_delete", Toolset::Core, false, true),
    tool("resources_get", Toolset::Core, true, false),
    tool("resources_list", Toolset::Core, true, false),
    tool("resources_scale", Toolset::Core, false, true),
    tool("tekton_pipeline_start", Toolset::Tekton, false, false),
    tool("tekton_pipelinerun_lifecycle", Toolset::Tekton, false, true),
    tool("tekton_pipelinerun_logs", Toolset::Tekton, true, false),
    tool("tekton_task_start", Toolset::Tekton, false, false),
    tool("tekton_taskrun_logs", Toolset::Tekton, true, false),
    tool("tekton_taskrun_restart", Toolset::Tekton, false, false),
    tool("vm_clone", Toolset::Kubevirt, false, true),
    tool("vm_create", Toolset::Kubevirt, false, true),
    tool("vm_create_from_template", Toolset::Kubevirt, false, true),
    tool("vm_guest_info", Toolset::Kubevirt, true, false),
    tool("vm_lifecycle", Toolset::Kubevirt, false, true),
    tool("vm_troubleshoot", Toolset::Kubevirt, true, false),
];

/// The tools a server run with these toolsets and filters lists, sorted.
pub fn expected(
    toolsets: &[Toolset],
    read_only: bool,
    disable_destructive: bool,
) -> BTreeSet<&'static str> {
    TOOLS
        .iter()
        .filter(|t| toolsets.contains(&t.toolset))
        .filter(|t| !read_only || t.read_only)
        .filter(|t| !disable_destructive || !t.destructive)
        .map(|t| t.name)
        .collect()
}

/// The expected tools that `listed` lacks, sorted. Extra tools are not a fault: a newer server
/// image may know more.
pub fn missing<'a>(expected: &BTreeSet<&'a str>, listed: &[String]) -> Vec<&'a str> {
    let listed: BTreeSet<&str> = listed.iter().map(String::as_str).collect();
    expected
        .iter()
        .filter(|name| !listed.contains(**name))
        .copied()
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use kubernetes_mcp_server::config::{Config, Flags};
    use kubernetes_mcp_server::tools::Registry;

    /// What the server itself lists for a config.toml with these settings.
    fn served(toolsets: &str, read_only: bool, disable_destructive: bool) -> BTreeSet<String> {
        let toml = format!(
            "toolsets = [{toolsets}]\nread_only = {read_only}\n\
             disable_destructive = {disable_destructive}"
        );
        let config = Config::from_toml(&toml, Flags::default()).unwrap();
        let registry = Registry::new(&config, &[], None);
        registry.list().iter().map(|t| t.name.to_string()).collect()
    }

    #[test]
    fn the_mapping_is_the_servers_for_every_toolset_and_filter() {
        let cases = [
            (vec![Toolset::Core], "\"core\""),
            (vec![Toolset::Config], "\"config\""),
            (vec![Toolset::Helm], "\"helm\""),
            (vec![Toolset::Tekton], "\"tekton\""),
            (vec![Toolset::Kubevirt], "\"kubevirt\""),
            (
                vec![Toolset::Core, Toolset::Config, Toolset::Helm],
                "\"core\", \"config\", \"helm\"",
            ),
        ];
        for (toolsets, toml) in cases {
            for (read_only, no_destructive) in [(false, false), (true, false), (false, true)] {
                let ours: BTreeSet<String> = expected(&toolsets, read_only, no_destructive)
                    .into_iter()
                    .map(str::to_owned)
                    .collect();
                assert_eq!(
                    ours,
                    served(toml, read_only, no_destructive),
                    "{toml} read_only={read_only} disable_destructive={no_destructive}"
                );
            }
        }
    }

    #[test]
    fn only_the_expected_tools_not_listed_are_missing() {
        let expected = expected(&[Toolset::Config, Toolset::Helm], true, false);
        assert_eq!(
            Vec::from_iter(expected.clone()),
            ["configuration_view", "helm_list"]
        );
        let listed = ["configuration_view".to_owned(), "pods_list".to_owned()];
        assert_eq!(missing(&expected, &listed), ["helm_list"]);
        let all = ["helm_list".to_owned(), "configuration_view".to_owned()];
        assert!(missing(&expected, &all).is_empty());
    }
}
