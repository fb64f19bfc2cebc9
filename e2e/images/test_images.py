"""The container images e2e/images.sh writes (target/images/*.oci.tar): their OCI config (numeric
non-root user, entrypoint, labels, no shell, CA bundle, size) read from the archive itself, and the
server image run as a container runtime would run it: its layers unpacked into a root, the
entrypoint started in that root as its USER (chroot), and the official MCP SDK talking to it.
Runs as real root outside the test stack:

  $PYTHON -m pytest e2e/images     # after e2e/images.sh; run-tests.sh does both
"""

import gzip
import io
import json
import os
import re
import shutil
import subprocess
import tarfile
import tomllib
from pathlib import Path

import pytest
from mcp import ClientSession
from mcp.client.streamable_http import streamable_http_client

ROOT = Path(__file__).resolve().parents[2]
IMAGES = ROOT / "target" / "images"
VERSION = tomllib.loads((ROOT / "Cargo.toml").read_text())["workspace"]["package"]["version"]
NAMES = ["kubernetes-mcp-server", "kubernetes-mcp-operator"]
# The goal for the server image; the operator's is the same order of size.
MAX_COMPRESSED_BYTES = 25 * 1024 * 1024
KUBECONFIG = """apiVersion: v1
kind: Config
clusters: [{name: image-test-cluster, cluster: {server: "https://127.0.0.1:1"}}]
users: [{name: nobody, user: {token: not-a-real-token}}]
contexts: [{name: image-test, context: {cluster: image-test-cluster, user: nobody}}]
current-context: image-test
"""


class OciArchive:
    """One image of an OCI archive: its config and its layers, read from the blobs."""

    def __init__(self, path):
        self.tar = tarfile.open(path)
        index = self.json("index.json")
        manifest = self.json(self.blob_path(index["manifests"][0]["digest"]))
        self.layers = manifest["layers"]
        self.config = self.json(self.blob_path(manifest["config"]["digest"]))["config"]

    @staticmethod
    def blob_path(digest):
        algorithm, hexdigest = digest.split(":", 1)
        return f"blobs/{algorithm}/{hexdigest}"

    def json(self, name):
        return json.load(self.tar.extractfile(name))

    def layer_files(self, layer):
        data = self.tar.extractfile(self.blob_path(layer["digest"])).read()
        if layer["mediaType"].endswith("gzip"):
            data = gzip.decompress(data)
        return tarfile.open(fileobj=io.BytesIO(data))

    def unpack(self, root):
        for layer in self.layers:
            with self.layer_files(layer) as files:
                # Device nodes come from the runtime (its /dev), as in a container.
                members = [m for m in files.getmembers() if not (m.ischr() or m.isblk())]
                files.extractall(root, members=members, filter="fully_trusted", numeric_owner=True)


def text(result):
    return "".join(block.text for block in result.content if getattr(block, "type", "") == "text")


@pytest.fixture
def anyio_backend():
    return "asyncio"


@pytest.fixture(scope="module", params=NAMES)
def image(request):
    path = IMAGES / f"{request.param}.oci.tar"
    assert path.exists(), f"{path} is missing: e2e/images.sh writes it (run-tests.sh runs it first)"
    return request.param, OciArchive(path)


def test_runtime_layout(image):
    name, archive = image
    config = archive.config
    assert config["User"] == "65532:65532"
    assert config["Entrypoint"] == [f"/usr/local/bin/{name}"]
    labels = config["Labels"]
    assert labels["org.opencontainers.image.version"] == VERSION
    assert labels["org.opencontainers.image.title"] == name
    assert re.fullmatch(r"[0-9a-f]{40}|unknown", labels["org.opencontainers.image.revision"])
    for key in ("created", "source", "licenses", "description"):
        assert labels[f"org.opencontainers.image.{key}"]
    paths = set()
    for layer in archive.layers:
        with archive.layer_files(layer) as files:
            paths |= {member.name.lstrip("./") for member in files.getmembers()}
    assert f"usr/local/bin/{name}" in paths
    assert "etc/ssl/certs/ca-certificates.crt" in paths
    shells = {p for p in paths if re.fullmatch(r"(usr/)?bin/(sh|bash|dash)", p)}
    assert not shells, f"the image has a shell: {shells}"
    assert not any(p.startswith(("usr/bin/apt", "usr/bin/dpkg", "usr/bin/perl")) for p in paths)
    compressed = sum(layer["size"] for layer in archive.layers)
    assert compressed <= MAX_COMPRESSED_BYTES, f"{name}: {compressed} bytes compressed"


@pytest.mark.anyio
async def test_server_image_answers_mcp_as_its_user(tmp_path):
    archive = OciArchive(IMAGES / "kubernetes-mcp-server.oci.tar")
    root = tmp_path / "root"
    archive.unpack(root)
    # A kubeconfig inside the root; no cluster is needed to show the tools and this one.
    (root / "tmp" / "kubeconfig").write_text(KUBECONFIG)
    os.chmod(root / "tmp" / "kubeconfig", 0o644)
    user = archive.config["User"]
    command = [shutil.which("chroot", path="/usr/sbin:/usr/bin:/sbin:/bin") or "chroot", f"--userspec={user}", str(root), *archive.config["Entrypoint"],
               "--kubeconfig", "/tmp/kubeconfig", "--port", "0", "--bind-address", "127.0.0.1"]
    env = dict(e.split("=", 1) for e in archive.config.get("Env", []))
    process = subprocess.Popen(command, stderr=subprocess.PIPE, stdout=subprocess.DEVNULL, text=True, env=env)
    try:
        url, seen = None, []
        for line in process.stderr:
            seen.append(line)
            match = re.search(r"listening on (https?://\S+)", line)
            if match:
                url = match.group(1)
                break
        assert url, "the image's entrypoint did not start:\n" + "".join(seen)
        status = Path(f"/proc/{process.pid}/status").read_text()
        uids = re.search(r"^Uid:\s+(\d+)", status, re.M).group(1)
        assert uids == user.split(":")[0], "the entrypoint does not run as the image's USER"
        async with streamable_http_client(f"{url}/mcp") as streams, ClientSession(streams[0], streams[1]) as client:
            info = await client.initialize()
            assert info.server_info.name == "kubernetes-mcp-server"
            tools = {tool.name for tool in (await client.list_tools()).tools}
            assert {"configuration_view", "pods_list", "resources_get"} <= tools
            # A tool that runs in the image: reads the kubeconfig from the image's root as its user.
            result = await client.call_tool("configuration_view", {})
            assert not result.is_error, text(result)
            assert "image-test-cluster" in text(result)
    finally:
        process.terminate()
        process.wait(15)
