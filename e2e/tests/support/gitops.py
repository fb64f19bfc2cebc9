"""What GitOps tools see of an object: cli-utils' kstatus (Flux, kpt), through the small program
e2e/stack/install.sh builds, and Argo CD's health, through our Lua health script run by the real
Lua interpreter (Debian's lua5.4) with the object as the `obj` global, as Argo CD runs it. Runs
those two programs; no other I/O."""

import json
import os
import shutil
import subprocess

from support.stack import ROOT

HEALTH_LUA = ROOT / "charts" / "kubernetes-mcp-operator" / "files" / "argocd" / "health.lua"
KSTATUS = shutil.which("kstatus", path=os.environ.get("KMCP_BIN", ""))
LUA = shutil.which("lua5.4")

# kstatus' status and the Argo CD health that means the same.
AGREES = {"Current": "Healthy", "InProgress": "Progressing", "Failed": "Degraded"}


def kstatus(obj):
    """(status, message) as kstatus' status.Compute has them for `obj`."""
    done = subprocess.run([KSTATUS], input=json.dumps(obj), capture_output=True, text=True, check=True)
    result = json.loads(done.stdout)
    return result["status"], result["message"]


def to_lua(value):
    """`value` (decoded JSON) as a Lua expression, strings byte-escaped so any text is safe."""
    if value is None:
        return "nil"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return repr(value)
    if isinstance(value, str):
        return '"' + "".join(chr(b) if 32 <= b < 127 and chr(b) not in '"\\' else f"\\{b:03d}"
                             for b in value.encode()) + '"'
    if isinstance(value, list):
        return "{" + ", ".join(to_lua(v) for v in value) + "}"
    return "{" + ", ".join(f"[{to_lua(k)}] = {to_lua(v)}" for k, v in value.items()) + "}"


def argo_health(obj):
    """(hs.status, hs.message) from the Lua health script with `obj` as its global."""
    program = (f"obj = {to_lua(obj)}\n"
               f"local hs = dofile({to_lua(str(HEALTH_LUA))})\n"
               'io.write(hs.status, "\\n", hs.message)\n')
    done = subprocess.run([LUA, "-"], input=program, capture_output=True, text=True, check=True)
    status, message = done.stdout.split("\n", 1)
    return status, message
