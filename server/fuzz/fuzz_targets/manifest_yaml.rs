//! Fuzz target: any text as the `resource` manifest of `resources_create_or_update`. What the
//! tool checks before any apiserver call (every YAML or JSON document parses and names its kind
//! and object) must answer `Ok` or a tool error, never panic or hang. Pure.
#![no_main]

use kubernetes_mcp_server::tools::fuzzing::check_manifest;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|text: &str| {
    let _ = check_manifest(text);
});
