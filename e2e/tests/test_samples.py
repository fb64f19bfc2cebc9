"""What a user of the CRD sees in the real apiserver: `kubectl explain mcpservers` has a real
description, the short name and category work, and `kubectl apply -f config/samples/` creates
every sample there (the invalid ones live in config/samples/invalid/)."""

from support.stack import ROOT, kubectl

SAMPLES = ROOT / "config" / "samples"


def test_kubectl_explain_describes_the_resource(crds):
    explained = kubectl("explain", "mcpservers")
    description = explained.split("DESCRIPTION:", 1)[1].split("FIELDS:", 1)[0]
    assert "An MCP server for Kubernetes" in description, explained
    assert "Auto-generated" not in explained


def test_every_sample_applies_and_is_found_by_short_name_and_category(crds, namespace):
    files = sorted(path.stem for path in SAMPLES.glob("*.yaml"))
    assert len(files) >= 5
    applied = kubectl("apply", "-n", namespace, "-f", f"{SAMPLES}/")
    assert applied.count(" created") == len(files), applied
    for name in ("kmcps", "kubernetes-mcp"):
        listed = kubectl("get", name, "-n", namespace, "-o", "name").split()
        assert sorted(n.rsplit("/", 1)[1] for n in listed) == files, (name, listed)
    kubectl("delete", "mcpservers", "--all", "-n", namespace, "--wait=false")
