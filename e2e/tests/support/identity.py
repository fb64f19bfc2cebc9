"""Real identities against the stack's apiserver: a ServiceAccount token from the TokenRequest
API, a kubeconfig that uses it, and kubectl run as that identity (not as admin). Does I/O
against the apiserver."""

import json
import os
import subprocess

from support.stack import KUBECTL, kubectl


def kubeconfig(path, token):
    """Writes a kubeconfig at `path` for the stack's apiserver, authenticating with `token`."""
    path.write_text(json.dumps({
        "apiVersion": "v1", "kind": "Config", "current-context": "stack",
        "clusters": [{"name": "stack", "cluster": {
            "server": "https://127.0.0.1:6443",
            "certificate-authority": os.path.join(os.environ["KMCP_STACK_DIR"], "pki", "ca.crt")}}],
        "users": [{"name": "user", "user": {"token": token}}],
        "contexts": [{"name": "stack", "context": {"cluster": "stack", "user": "user"}}]}))
    return path


class ServiceAccountUser:
    """A ServiceAccount `name` in `namespace` (created), acting through its own token."""

    def __init__(self, tmp_path, namespace, name):
        kubectl("create", "serviceaccount", name, "-n", namespace)
        self.username = f"system:serviceaccount:{namespace}:{name}"
        token = kubectl("create", "token", name, "-n", namespace, "--duration=1h").strip()
        self.kubeconfig = kubeconfig(tmp_path / f"kubeconfig-{namespace}-{name}", token)

    def kubectl(self, *args, stdin=None):
        """kubectl as this user: (returncode, stdout + stderr)."""
        done = subprocess.run([KUBECTL, "--kubeconfig", str(self.kubeconfig), *args], input=stdin,
                              capture_output=True, text=True, check=False)
        return done.returncode, done.stdout + done.stderr
