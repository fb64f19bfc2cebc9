//! Fuzz target: any text as the TOML config file. `Config::from_toml` must answer `Ok` or a
//! `ConfigError`, never panic. Pure.
#![no_main]

use kubernetes_mcp_server::config::{Config, Flags};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|text: &str| {
    let _ = Config::from_toml(text, Flags::default());
});
