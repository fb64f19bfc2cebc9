"""The SBOMs e2e/sbom.sh writes (e2e/run-tests.sh runs it before the tests): CycloneDX documents
naming each binary's crate and version, listing exactly crates of Cargo.lock at its versions,
among them the ones the binary cannot run without, and nothing deny.toml bans. Reads files."""

import json
import tomllib

import pytest

from support.stack import ROOT

BINARIES = {"kubernetes-mcp-server": "server", "kubernetes-mcp-operator": "operator"}


def lock():
    with open(ROOT / "Cargo.lock", "rb") as f:
        return {(p["name"], p["version"]) for p in tomllib.load(f)["package"]}


@pytest.mark.parametrize("binary", BINARIES)
def test_the_sbom_lists_the_binary_and_its_locked_crates(binary):
    path = ROOT / "target" / "sbom" / f"{binary}.cdx.json"
    assert path.exists(), f"{path} is missing: e2e/sbom.sh writes it"
    bom = json.loads(path.read_text())
    assert (bom["bomFormat"], bom["specVersion"]) == ("CycloneDX", "1.5")
    with open(ROOT / BINARIES[binary] / "Cargo.toml", "rb") as f:
        manifest = tomllib.load(f)
    with open(ROOT / "Cargo.toml", "rb") as f:
        version = tomllib.load(f)["workspace"]["package"]["version"]
    component = bom["metadata"]["component"]
    assert component["name"] == manifest["package"]["name"] == binary
    assert component["version"] == version
    listed = {(c["name"], c["version"]) for c in bom["components"]}
    locked = lock()
    assert listed <= locked, sorted(listed - locked)[:5]
    names = {name for name, _ in listed}
    assert {"tokio", "kube-client", "rustls", "serde_json"} <= names
    assert binary != "kubernetes-mcp-server" or "rmcp" in names
    assert not names & {"openssl-sys", "native-tls"}
    assert all(c.get("purl", "").startswith("pkg:cargo/") for c in bom["components"])
