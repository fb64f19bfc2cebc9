#!/usr/bin/env bash
# Every test of the project, against real components: builds what is missing (cached in
# ~/.cache/kubernetes-mcp), starts the test stack in its own network namespace, runs the Rust
# tests (unit, snapshot, stack, server) and the MCP client tests (official Python SDK), then
# stops the stack. Exit code: the first failure's.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

step() { printf '\n== %s (%s)\n' "$1" "$(date +%H:%M:%S)"; }

step "components (e2e/stack/install.sh)"
e2e/stack/install.sh

step "build"
# Built outside the stack: its network namespace reaches no registry.
cargo build --locked --workspace --all-targets

step "tests inside the stack"
INSTA_UPDATE=${INSTA_UPDATE:-no} e2e/stack.sh run -- bash -c '
  set -e
  cargo test --locked --offline --workspace
  "$KMCP_PYTHON" -m pytest -q -p no:cacheprovider e2e/tests
'
