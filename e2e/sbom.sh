#!/usr/bin/env bash
# Writes the SBOM (CycloneDX 1.5 JSON, every crate compiled into the binary, with versions,
# licenses and purls) of each shipped binary, from Cargo.lock, with cargo-cyclonedx (built by
# e2e/stack/install.sh):
#
#   target/sbom/kubernetes-mcp-server.cdx.json
#   target/sbom/kubernetes-mcp-operator.cdx.json
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
# shellcheck source=stack/paths.sh
source e2e/stack/paths.sh
export PATH="$cargo_tools_dir/bin:$PATH"
command -v cargo-cyclonedx >/dev/null || { echo "cargo-cyclonedx is missing: run e2e/stack/install.sh cargo-tools" >&2; exit 1; }

mkdir -p target/sbom
for crate in server operator; do
  # cargo-cyclonedx writes next to each workspace member's Cargo.toml: keep only the binary's.
  cargo cyclonedx --quiet --manifest-path "$crate/Cargo.toml" --format json --spec-version 1.5 \
    --target x86_64-unknown-linux-gnu --override-filename sbom-build
  name=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["metadata"]["component"]["name"])' "$crate/sbom-build.json")
  mv "$crate/sbom-build.json" "target/sbom/$name.cdx.json"
  find . -path ./target -prune -o -name sbom-build.json -exec rm -f {} +
  echo "target/sbom/$name.cdx.json"
done
