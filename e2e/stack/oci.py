"""What a container runtime does with an image reference before it runs anything, for the pod
runner: pulls the manifest, the config and the layers from the image's registry over the OCI
distribution HTTP API (Python stdlib only), checks every blob's digest, and unpacks the layers
(with their whiteouts) into a root filesystem cached per manifest digest. Resolves the image's
USER against that root's /etc/passwd and /etc/group. Does I/O: HTTP to the registry, files.

A registry on loopback is spoken to in plain HTTP (the test stack's, e2e/stack.sh); any other in
HTTPS. No authentication: the stack's registry has none."""

import contextlib
import fcntl
import gzip
import hashlib
import json
import os
import re
import shutil
import tarfile
import tempfile
import urllib.error
import urllib.request

MANIFEST_TYPES = ", ".join([
    "application/vnd.oci.image.manifest.v1+json", "application/vnd.docker.distribution.manifest.v2+json",
    "application/vnd.oci.image.index.v1+json", "application/vnd.docker.distribution.manifest.list.v2+json"])
INDEX_TYPES = ("application/vnd.oci.image.index.v1+json", "application/vnd.docker.distribution.manifest.list.v2+json")


class PullError(Exception):
    """The image cannot be pulled: the kubelet's ErrImagePull."""


class Image:
    """An unpacked image: its root filesystem, its config (Entrypoint, Cmd, Env, User,
    WorkingDir) and its manifest digest."""

    def __init__(self, root, config, digest):
        self.root, self.config, self.digest = root, config, digest

    @property
    def env(self):
        return dict(item.split("=", 1) for item in self.config.get("Env") or [])

    def user(self):
        """The image's USER as (uid or None, gid or None, name): None where it names a user or
        group this root does not know. No USER is root."""
        spec = self.config.get("User") or ""
        user, _, group = spec.partition(":")
        passwd = self._table("passwd")
        uid = int(user) if user.isdigit() else (int(passwd[user][1]) if user in passwd else None)
        if user == "":
            uid = 0
        if group:
            groups = self._table("group")
            gid = int(group) if group.isdigit() else (int(groups[group][1]) if group in groups else None)
        else:
            gid = self.user_gid(uid)
        return uid, gid, user

    def user_gid(self, uid):
        """The primary group of `uid` in the image's /etc/passwd, 0 when it has none (runc's way)."""
        entry = next((e for e in self._table("passwd").values() if e[1] == str(uid)), None)
        return int(entry[2]) if entry else 0

    def home(self, uid):
        """The home directory of `uid` in the image's /etc/passwd, as a runtime sets HOME."""
        entry = next((e for e in self._table("passwd").values() if e[1] == str(uid)), None)
        return entry[4] if entry and entry[4] else "/"

    def _table(self, name):
        """/etc/passwd or /etc/group of the image: name -> the fields after the name."""
        path = os.path.join(self.root, "etc", name)
        if not os.path.isfile(path) or os.path.islink(path):
            return {}
        with open(path) as f:
            rows = [line.rstrip("\n").split(":") for line in f if line.strip() and not line.startswith("#")]
        return {row[0]: row[1:] for row in rows}


def parse(reference):
    """(registry, repository, tag or digest) of an image reference, Docker's way: the first
    component is a registry when it has a dot or a port or is `localhost`."""
    name, digest = reference.split("@", 1) if "@" in reference else (reference, None)
    tag = None
    if ":" in name.rsplit("/", 1)[-1]:
        name, tag = name.rsplit(":", 1)
    first, _, rest = name.partition("/")
    if rest and ("." in first or ":" in first or first == "localhost"):
        registry, repository = first, rest
    else:
        registry, repository = "registry-1.docker.io", name if "/" in name else f"library/{name}"
    return registry, repository, digest or tag or "latest"


class Registry:
    """The distribution API of one registry for one repository."""

    def __init__(self, registry, repository):
        host = registry.rsplit(":", 1)[0]
        scheme = "http" if host in ("localhost", "127.0.0.1", "[::1]") else "https"
        self.base = f"{scheme}://{registry}/v2/{repository}"

    def open(self, path, accept=None):
        request = urllib.request.Request(self.base + path, headers={"Accept": accept} if accept else {})
        try:
            return urllib.request.urlopen(request, timeout=30)  # noqa: S310 - the image's own registry
        except urllib.error.HTTPError as e:
            body = e.read(300).decode(errors="replace")
            code = re.search(r'"code":"([A-Z_]+)"', body)
            raise PullError(f"{e.code} {code.group(1) if code else e.reason} for {self.base}{path}") from e
        except (urllib.error.URLError, OSError) as e:
            raise PullError(f"{self.base}{path}: {getattr(e, 'reason', e)}") from e

    def manifest(self, reference):
        """The image manifest (an index resolved to its linux/amd64 entry) and its digest."""
        with self.open(f"/manifests/{reference}", MANIFEST_TYPES) as answer:
            body = answer.read()
            media_type = answer.headers.get("Content-Type", "").split(";")[0]
        manifest = json.loads(body)
        if media_type in INDEX_TYPES or manifest.get("mediaType") in INDEX_TYPES:
            wanted = next((m for m in manifest["manifests"]
                           if m.get("platform", {}).get("os") == "linux"
                           and m.get("platform", {}).get("architecture") == "amd64"), None)
            if wanted is None:
                raise PullError("no linux/amd64 image in the index")
            return self.manifest(wanted["digest"])
        return manifest, "sha256:" + hashlib.sha256(body).hexdigest()

    def blob(self, digest, into):
        """Writes the blob `digest` into the open file `into`, checking its digest."""
        algorithm, expected = digest.split(":", 1)
        check = hashlib.new(algorithm)
        with self.open(f"/blobs/{digest}") as answer:
            while chunk := answer.read(1 << 20):
                check.update(chunk)
                into.write(chunk)
        if check.hexdigest() != expected:
            raise PullError(f"blob {digest}: the registry sent content of digest {algorithm}:{check.hexdigest()}")
        into.flush()
        into.seek(0)


def pull(reference, cache_dir):
    """The image `reference`, unpacked under `cache_dir/<manifest digest>` (done once)."""
    host, repository, tag = parse(reference)
    registry = Registry(host, repository)
    manifest, digest = registry.manifest(tag)
    root = os.path.join(cache_dir, digest.replace(":", "-"))
    os.makedirs(cache_dir, exist_ok=True)
    # One unpacking at a time, across the threads and the runners of a stack (flock is per open
    # file): pods of one image then share its root.
    with open(os.path.join(cache_dir, ".lock"), "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not os.path.exists(root + ".json"):
            with tempfile.TemporaryFile() as blob:
                registry.blob(manifest["config"]["digest"], blob)
                config = json.load(blob).get("config") or {}
            shutil.rmtree(root, ignore_errors=True)  # left by a runner stopped while unpacking
            partial = tempfile.mkdtemp(prefix=".unpacking-", dir=cache_dir)
            try:
                for layer in manifest["layers"]:
                    with tempfile.TemporaryFile() as blob:
                        registry.blob(layer["digest"], blob)
                        unpack(layer["mediaType"], blob, partial)
                os.chmod(partial, 0o755)  # mkdtemp's 0700 would hide the root from the image's user
                os.rename(partial, root)
            finally:
                shutil.rmtree(partial, ignore_errors=True)
            with open(root + ".json.new", "w") as f:
                json.dump(config, f)
            os.rename(root + ".json.new", root + ".json")
    with open(root + ".json") as f:
        return Image(root, json.load(f), digest)


def unpack(media_type, blob, root):
    """Applies one layer to `root`: `.wh.NAME` deletes NAME, `.wh..wh..opq` empties its
    directory of what lower layers put there (not of this layer's entries, wherever the archive
    lists them), device nodes are left to the runtime's /dev."""
    if media_type.endswith("zstd"):
        raise PullError(f"layer type {media_type} is not supported (gzip or plain tar only)")
    stream = gzip.GzipFile(fileobj=blob) if media_type.endswith("gzip") else blob
    added = set()
    with tarfile.open(fileobj=stream, mode="r|") as layer:
        for member in layer:
            path = os.path.normpath(member.name.lstrip("/"))
            if path.startswith(".."):
                raise PullError(f"layer entry {member.name} escapes the root")
            directory, base = os.path.split(path)
            target = os.path.join(root, directory)
            if base == ".wh..wh..opq":
                for entry in os.listdir(target) if os.path.isdir(target) else []:
                    if os.path.join(directory, entry) not in added:
                        remove(os.path.join(target, entry))
                continue
            if base.startswith(".wh."):
                remove(os.path.join(target, base[len(".wh."):]))
                continue
            if member.ischr() or member.isblk():
                continue
            existing = os.path.join(root, path)
            if os.path.lexists(existing) and not (member.isdir() and os.path.isdir(existing)):
                remove(existing)
            layer.extract(member, root, set_attrs=True, numeric_owner=True, filter="fully_trusted")
            added.add(path)


def remove(path):
    with contextlib.suppress(FileNotFoundError):
        if os.path.isdir(path) and not os.path.islink(path):
            shutil.rmtree(path)
        else:
            os.remove(path)
