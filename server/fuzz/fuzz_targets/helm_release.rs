//! Fuzz target: any bytes as the stored release of a Helm release Secret (base64 text of gzip
//! of JSON), decoded as `helm_list` decodes it: an answer under the 32 MiB inflation bound,
//! never a panic. The first byte picks what the rest is: odd, the base64 text as stored; even,
//! the payload under it, encoded here so that the fuzzer reaches gzip and JSON. Pure.
#![no_main]

use base64::Engine as _;
use kubernetes_mcp_server::tools::fuzzing::check_release;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Some((&mode, rest)) = data.split_first() else {
        return;
    };
    if mode % 2 == 1 {
        check_release(rest);
    } else {
        check_release(base64::engine::general_purpose::STANDARD.encode(rest).as_bytes());
    }
});
