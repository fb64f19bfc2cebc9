"""Tekton's and KubeVirt's real CRDs (e2e/tests/data/crds, see its README) installed in the test
apiserver, and objects of their kinds made with kubectl. No controller runs them: the tests see
what the tools write, and set `status` themselves where a controller would."""

import json
from pathlib import Path

from support.stack import kubectl

CRDS = Path(__file__).resolve().parent.parent / "data" / "crds"


def install_crds():
    """Applies every CRD under data/crds (server-side: they are too large for the last-applied
    annotation) and waits until each is served; once, not per test: they are large."""
    files = sorted(CRDS.glob("*.yaml"))
    installed = kubectl("get", "crd", "-o", "name")
    if all(f"{yaml_name(f)}\n" in installed for f in files):
        return
    args = [arg for f in files for arg in ("-f", str(f))]
    kubectl("apply", "--server-side", "--force-conflicts", *args)
    kubectl("wait", "--for=condition=Established", "--timeout=60s", *args)


def yaml_name(path):
    """`customresourcedefinition.apiextensions.k8s.io/<name>` of a CRD file, as `kubectl get -o name` prints it."""
    for line in path.open():
        if line.startswith("  name: "):
            return f"customresourcedefinition.apiextensions.k8s.io/{line.split()[1]}"
    raise AssertionError(f"{path} names no CRD")


def create(obj):
    """Creates `obj` and returns it as the apiserver stored it."""
    return json.loads(kubectl("create", "-o", "json", "-f", "-", stdin=json.dumps(obj)))


def get(kind, namespace, name=None):
    """One object, or with no name the list of `kind`'s objects in `namespace`."""
    args = [kind] + ([name] if name else []) + ["-n", namespace, "-o", "json"]
    found = json.loads(kubectl("get", *args))
    return found if name else found["items"]


def set_status(kind, namespace, name, status):
    """Writes `status` as a controller would, through the status subresource."""
    kubectl("patch", kind, name, "-n", namespace, "--subresource=status", "--type=merge",
            "-p", json.dumps({"status": status}))
