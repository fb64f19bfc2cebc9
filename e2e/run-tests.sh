#!/usr/bin/env bash
# Every test of the project, against real components: builds what is missing (cached in
# ~/.cache/kubernetes-mcp), starts the test stack in its own network namespace, runs the Rust
# tests (unit, snapshot, and with the `stack` feature those against the stack) and the Python
# suite e2e/tests (official Python SDK, the binaries, the chart), then stops the stack. Exit
# code: the first failure's.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

step() { printf '\n== %s (%s)\n' "$1" "$(date +%H:%M:%S)"; }

step "components (e2e/stack/install.sh)"
e2e/stack/install.sh

step "supply chain (deny.toml, SBOM)"
# Licenses, bans, duplicate versions and sources of the dependency graph; the advisory database
# needs the internet (GitHub), which CI here cannot reach: `cargo deny check advisories` elsewhere.
PATH="$(source e2e/stack/paths.sh && echo "$cargo_tools_dir/bin"):$PATH" cargo deny --locked check licenses bans sources
e2e/sbom.sh

step "build"
# Built outside the stack (its network namespace reaches no registry), with the features of the
# test run so that nothing is rebuilt inside it, and every target so a gated test still compiles.
cargo build --locked --workspace --all-targets --features stack

step "images of the test binaries (e2e/images.sh --debug)"
# The pods the tests start run these images, pulled from the stack's registry (pushed first thing).
e2e/images.sh --debug

step "tests inside the stack"
INSTA_UPDATE=${INSTA_UPDATE:-no} e2e/stack.sh run -- bash -c '
  set -e
  e2e/images.sh --debug --push
  cargo test --locked --offline --workspace --features stack
  "$KMCP_PYTHON" -m pytest -q -p no:cacheprovider e2e/tests
'
