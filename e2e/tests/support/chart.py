"""The Helm chart as a platform admin installs it: rendered with the real helm, applied to the
stack, and the operator binary run outside a pod as the chart's ServiceAccount (a TokenRequest
token), so that it works under exactly the chart's RBAC. Does I/O against the apiserver."""

import os
import shutil
import subprocess

from support.identity import kubeconfig
from support.operator import Operator
from support.stack import KUBECTL, ROOT, kubectl

CHART = ROOT / "charts" / "kubernetes-mcp-operator"
HELM = shutil.which("helm", path=os.environ.get("KMCP_BIN", ""))


def helm(*args):
    done = subprocess.run([HELM, *args], capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stderr
    return done.stdout


def fullname(release):
    """The name of the release's objects (the chart's `kmcp.fullname`)."""
    return f"{release}-kubernetes-mcp-operator"


def install(release, namespace, *values):
    """Renders the chart (`values`: --set arguments) and applies it as admin; returns the
    rendered text and kubectl's stderr (warnings)."""
    rendered = helm("template", release, str(CHART), "--namespace", namespace,
                    *[arg for value in values for arg in ("--set", value)])
    applied = subprocess.run([KUBECTL, "apply", "--server-side", "--force-conflicts", "-f", "-"],
                             input=rendered, capture_output=True, text=True, check=False)
    assert applied.returncode == 0, applied.stderr
    return rendered, applied.stderr


def operator(tmp_path, release, namespace, watched):
    """The operator as the chart's ServiceAccount, watching `watched`, leading on a Lease in
    `namespace`."""
    name = fullname(release)
    token = kubectl("create", "token", name, "-n", namespace).strip()
    config = kubeconfig(tmp_path / f"kubeconfig-{release}", token)
    return Operator(tmp_path, "--namespace", ",".join(watched), "--lease-namespace", namespace,
                    "--lease-name", name, env={"KUBECONFIG": str(config)})
